//! CIS Kubernetes Benchmark v1.9.0: the sections Kubernetes API objects can show, and those they cannot.
//!
//! Section ids follow v1.9.0 of the benchmark; titles are paraphrased (the benchmark's text is the Center
//! for Internet Security's). Sections 1-4 are mostly node files and process flags: only the kube-apiserver
//! flags a static pod shows are judged (`api-server-hardening`).

use super::{Control, Evidence, Framework, FrameworkName};

pub static FRAMEWORK: Framework = Framework {
    name: FrameworkName::Cis,
    title: "CIS Kubernetes Benchmark",
    version: "v1.9.0",
    source: "https://www.cisecurity.org/benchmark/kubernetes",
    note: "Section ids follow v1.9.0; titles are paraphrased, not the Center for Internet Security's text.",
    controls: CONTROLS,
};

const CONTROL_PLANE: &str = "1 Control Plane Components";
const ETCD: &str = "2 etcd";
const CONTROL_PLANE_CONFIG: &str = "3 Control Plane Configuration";
const WORKER: &str = "4 Worker Nodes";
const RBAC: &str = "5.1 RBAC and Service Accounts";
const PSS: &str = "5.2 Pod Security Standards";
const NETWORK: &str = "5.3 Network Policies and CNI";
const SECRETS: &str = "5.4 Secrets Management";
const ADMISSION: &str = "5.5 Extensible Admission Control";
const GENERAL: &str = "5.7 General Policies";

const fn control(id: &'static str, title: &'static str, group: &'static str, evidence: Evidence) -> Control {
    Control { id, title, group, since_minor: 0, evidence }
}

const CONTROLS: &[Control] = &[
    control(
        "1.1",
        "Control plane node configuration files: permissions and ownership",
        CONTROL_PLANE,
        Evidence::NotObservable("file modes and owners on control-plane nodes are not in any API object"),
    ),
    control(
        "1.2",
        "API server: anonymous auth off, authorization not AlwaysAllow, audit log, encryption at rest (the flags a \
         kube-apiserver static pod shows)",
        CONTROL_PLANE,
        Evidence::Checks(&["api-server-hardening"]),
    ),
    control(
        "1.3",
        "Controller manager flags",
        CONTROL_PLANE,
        Evidence::NotChecked(
            "a kube-controller-manager static pod shows its flags on self-managed clusters, but no Vigil check reads them yet",
        ),
    ),
    control(
        "1.4",
        "Scheduler flags",
        CONTROL_PLANE,
        Evidence::NotChecked(
            "a kube-scheduler static pod shows its flags on self-managed clusters, but no Vigil check reads them yet",
        ),
    ),
    control(
        "2",
        "etcd: TLS for clients and peers, client certificate authentication",
        ETCD,
        Evidence::NotObservable("etcd is reached outside the Kubernetes API; managed clusters do not show it at all"),
    ),
    control(
        "3.1.1",
        "Client certificate authentication is not used for users",
        CONTROL_PLANE_CONFIG,
        Evidence::NotObservable("client certificates are issued outside the API and leave no object behind"),
    ),
    control(
        "3.2.1",
        "A minimal audit policy is created",
        CONTROL_PLANE_CONFIG,
        Evidence::Checks(&["api-server-hardening"]),
    ),
    control(
        "4.1",
        "Worker node configuration files: permissions and ownership",
        WORKER,
        Evidence::NotObservable("file modes and owners on worker nodes are not in any API object"),
    ),
    control(
        "4.2",
        "Kubelet configuration (anonymous auth, authorization mode, read-only port, certificates)",
        WORKER,
        Evidence::NotObservable(
            "the kubelet's flags and config file live on the node; the Node object does not show them",
        ),
    ),
    control(
        "5.1.1",
        "The cluster-admin role is only used where required",
        RBAC,
        Evidence::Checks(&["rbac-cluster-admin-binding"]),
    ),
    control(
        "5.1.2",
        "Minimize access to secrets",
        RBAC,
        Evidence::Checks(&["rbac-secrets-read", "service-account-permissions"]),
    ),
    control("5.1.3", "Minimize wildcard use in Roles and ClusterRoles", RBAC, Evidence::Checks(&["rbac-wildcard"])),
    control("5.1.4", "Minimize access to create pods", RBAC, Evidence::Checks(&["rbac-privilege-escalation"])),
    control(
        "5.1.5",
        "Default service accounts are not actively used",
        RBAC,
        Evidence::Checks(&["rbac-default-service-account"]),
    ),
    control(
        "5.1.6",
        "Service account tokens are only mounted where necessary",
        RBAC,
        Evidence::Checks(&["service-account-token-automount"]),
    ),
    control(
        "5.1.7",
        "Avoid use of the system:masters group",
        RBAC,
        Evidence::NotObservable(
            "system:masters membership is carried in client certificates; RBAC neither binds nor shows it",
        ),
    ),
    control(
        "5.1.8",
        "Limit use of the bind, impersonate and escalate permissions",
        RBAC,
        Evidence::Checks(&["rbac-privilege-escalation", "service-account-permissions"]),
    ),
    control(
        "5.1.9",
        "Minimize access to create persistent volumes",
        RBAC,
        Evidence::NotChecked("Roles show it, but no Vigil check looks for create on persistentvolumes yet"),
    ),
    control(
        "5.1.10",
        "Minimize access to the proxy sub-resource of nodes",
        RBAC,
        Evidence::Checks(&["rbac-privilege-escalation"]),
    ),
    control(
        "5.1.11",
        "Minimize access to the approval sub-resource of certificatesigningrequests",
        RBAC,
        Evidence::Checks(&["rbac-privilege-escalation"]),
    ),
    control(
        "5.1.12",
        "Minimize access to webhook configuration objects",
        RBAC,
        Evidence::NotChecked(
            "Roles show it, but no Vigil check looks for writes to admission webhook configurations yet",
        ),
    ),
    control(
        "5.1.13",
        "Minimize access to the service account token creation",
        RBAC,
        Evidence::Checks(&["rbac-privilege-escalation"]),
    ),
    control(
        "5.2.1",
        "The cluster has at least one active policy control mechanism in place",
        PSS,
        Evidence::Checks(&["admission-policy-enforced", "pod-security-admission"]),
    ),
    control(
        "5.2.2",
        "Minimize the admission of privileged containers",
        PSS,
        Evidence::Checks(&["privileged-container", "privileged-system-plugins"]),
    ),
    control(
        "5.2.3",
        "Minimize the admission of containers sharing the host process ID namespace",
        PSS,
        Evidence::Checks(&["host-pid"]),
    ),
    control(
        "5.2.4",
        "Minimize the admission of containers sharing the host IPC namespace",
        PSS,
        Evidence::Checks(&["host-ipc"]),
    ),
    control(
        "5.2.5",
        "Minimize the admission of containers sharing the host network namespace",
        PSS,
        Evidence::Checks(&["host-network"]),
    ),
    control(
        "5.2.6",
        "Minimize the admission of containers with allowPrivilegeEscalation",
        PSS,
        Evidence::Checks(&["privilege-escalation"]),
    ),
    control("5.2.7", "Minimize the admission of root containers", PSS, Evidence::Checks(&["run-as-non-root"])),
    control(
        "5.2.8",
        "Minimize the admission of containers with the NET_RAW capability",
        PSS,
        Evidence::Checks(&["capabilities-drop-all", "capabilities-added"]),
    ),
    control(
        "5.2.9",
        "Minimize the admission of containers with added capabilities",
        PSS,
        Evidence::Checks(&["capabilities-added"]),
    ),
    control(
        "5.2.10",
        "Minimize the admission of containers with capabilities assigned",
        PSS,
        Evidence::Checks(&["capabilities-drop-all"]),
    ),
    control(
        "5.2.11",
        "Minimize the admission of Windows HostProcess containers",
        PSS,
        Evidence::NotChecked("`windowsOptions.hostProcess` is in the pod spec, but no Vigil check reads it yet"),
    ),
    control("5.2.12", "Minimize the admission of HostPath volumes", PSS, Evidence::Checks(&["host-path-mount"])),
    control(
        "5.2.13",
        "Minimize the admission of containers which use HostPorts",
        PSS,
        Evidence::Checks(&["host-port"]),
    ),
    control(
        "5.3.1",
        "The CNI in use supports NetworkPolicies",
        NETWORK,
        Evidence::NotObservable(
            "whether the network plugin enforces NetworkPolicies is not recorded in any API object",
        ),
    ),
    control(
        "5.3.2",
        "All namespaces have NetworkPolicies defined",
        NETWORK,
        Evidence::Checks(&["network-policy-default-deny", "network-policy-coverage"]),
    ),
    control(
        "5.4.1",
        "Prefer Secrets as files over Secrets as environment variables",
        SECRETS,
        Evidence::NotChecked(
            "`secretKeyRef` env vars are in the pod spec, but Vigil flags only literal secret values \
             (`secret-in-env`), not Secrets passed as env vars",
        ),
    ),
    control(
        "5.4.2",
        "Consider external secret storage",
        SECRETS,
        Evidence::NotObservable("where secrets are kept outside the cluster is not an API object's property"),
    ),
    control(
        "5.5.1",
        "Configure image provenance (an admission policy verifies images)",
        ADMISSION,
        Evidence::Checks(&["image-signature-enforced"]),
    ),
    control(
        "5.7.1",
        "Create administrative boundaries between resources using namespaces",
        GENERAL,
        Evidence::Checks(&["default-namespace"]),
    ),
    control(
        "5.7.2",
        "The seccomp profile is set to RuntimeDefault in pod definitions",
        GENERAL,
        Evidence::Checks(&["seccomp-profile"]),
    ),
    control(
        "5.7.3",
        "Apply a security context to pods and containers",
        GENERAL,
        Evidence::Checks(&["readonly-root-filesystem", "selinux-apparmor", "unsafe-sysctls-procmount"]),
    ),
    control("5.7.4", "The default namespace is not used", GENERAL, Evidence::Checks(&["default-namespace"])),
];
