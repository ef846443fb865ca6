//! NSA-CISA Kubernetes Hardening Guide v1.2 (August 2022): its sections, and the checks that show
//! whether a cluster follows each.
//!
//! Ids are Vigil's short names of the guide's sections (the guide numbers none); titles are the section
//! headings, shortened.

use super::{Control, Evidence, Framework, FrameworkName};

pub static FRAMEWORK: Framework = Framework {
    name: FrameworkName::Nsa,
    title: "NSA-CISA Kubernetes Hardening Guide",
    version: "v1.2",
    source: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
    note: "Ids are Vigil's names for the guide's sections (the guide numbers none); titles are its headings, shortened.",
    controls: CONTROLS,
};

const POD: &str = "Kubernetes Pod security";
const NETWORK: &str = "Network separation and hardening";
const AUTH: &str = "Authentication and authorization";
const AUDIT: &str = "Audit logging and threat detection";
const UPGRADE: &str = "Upgrading and application security practices";

const fn control(id: &'static str, title: &'static str, group: &'static str, evidence: Evidence) -> Control {
    Control { id, title, group, since_minor: 0, evidence }
}

const CONTROLS: &[Control] = &[
    control(
        "pod-non-root",
        "\"Non-root\" containers and \"rootless\" container engines",
        POD,
        Evidence::Checks(&["run-as-non-root"]),
    ),
    control(
        "pod-immutable-filesystem",
        "Immutable container file systems",
        POD,
        Evidence::Checks(&["readonly-root-filesystem"]),
    ),
    control(
        "pod-secure-images",
        "Building secure container images (scanned, from trusted registries, signed)",
        POD,
        Evidence::Checks(&[
            "image-vulnerabilities",
            "image-registry-allowed",
            "image-tag-mutable",
            "image-digest-pinned",
            "image-signature-enforced",
        ]),
    ),
    control(
        "pod-security-enforcement",
        "Pod security enforcement (Pod Security Admission or a policy engine; privileged, host namespaces and paths, \
         privilege escalation, capabilities, seccomp, SELinux, AppArmor)",
        POD,
        Evidence::Checks(&[
            "pod-security-admission",
            "admission-policy-enforced",
            "privileged-container",
            "host-network",
            "host-pid",
            "host-ipc",
            "host-path-mount",
            "host-port",
            "privilege-escalation",
            "capabilities-added",
            "capabilities-drop-all",
            "seccomp-profile",
            "selinux-apparmor",
            "unsafe-sysctls-procmount",
            "privileged-system-plugins",
        ]),
    ),
    control(
        "pod-service-account-tokens",
        "Protecting Pod service account tokens",
        POD,
        Evidence::Checks(&["service-account-token-automount", "rbac-default-service-account"]),
    ),
    control(
        "pod-hardened-environment",
        "Hardening container environments (sandboxed runtimes, hardened node OS)",
        POD,
        Evidence::Checks(&["sandboxed-runtime", "node-os-hardened"]),
    ),
    control("net-namespaces", "Namespaces", NETWORK, Evidence::Checks(&["default-namespace"])),
    control(
        "net-network-policies",
        "Network policies (default deny, every pod selected, limited exposure)",
        NETWORK,
        Evidence::Checks(&["network-policy-default-deny", "network-policy-coverage", "service-external-exposure"]),
    ),
    control(
        "net-resource-policies",
        "Resource policies (LimitRanges, ResourceQuotas, container limits)",
        NETWORK,
        Evidence::Checks(&["resource-quota", "limit-range", "resource-limits"]),
    ),
    control(
        "net-control-plane",
        "Control plane hardening (API server access, anonymous requests)",
        NETWORK,
        Evidence::Checks(&["api-server-hardening", "rbac-anonymous-access"]),
    ),
    control(
        "net-etcd",
        "Etcd (TLS, firewalled, reached only by the API server)",
        NETWORK,
        Evidence::NotObservable("etcd is reached outside the Kubernetes API; its TLS and firewall are not API objects"),
    ),
    control(
        "net-kubeconfig",
        "Kubeconfig files",
        NETWORK,
        Evidence::NotObservable("kubeconfig files live on workstations and nodes, not in the API"),
    ),
    control(
        "net-worker-node-segmentation",
        "Worker node segmentation",
        NETWORK,
        Evidence::NotObservable("network segments and firewalls between hosts are not Kubernetes API objects"),
    ),
    control(
        "net-encryption",
        "Encryption of traffic (TLS at ingress, mutual TLS between services)",
        NETWORK,
        Evidence::Checks(&["ingress-tls", "mesh-mtls-strict"]),
    ),
    control(
        "net-secrets",
        "Secrets (encrypted at rest, not in plain text)",
        NETWORK,
        Evidence::Checks(&["secret-in-env", "api-server-hardening"]),
    ),
    control(
        "net-cloud-infrastructure",
        "Protecting sensitive cloud infrastructure (metadata service, cloud IAM)",
        NETWORK,
        Evidence::NotObservable("cloud IAM and metadata-service access are cloud-provider settings outside the API"),
    ),
    control(
        "auth-authentication",
        "Authentication (no anonymous access)",
        AUTH,
        Evidence::Checks(&["rbac-anonymous-access", "api-server-hardening"]),
    ),
    control(
        "auth-rbac",
        "Role-based access control (least privilege, no wildcards, groups over users)",
        AUTH,
        Evidence::Checks(&[
            "rbac-wildcard",
            "rbac-cluster-admin-binding",
            "rbac-privilege-escalation",
            "rbac-secrets-read",
            "rbac-exec-attach",
            "rbac-bound-to-user",
            "rbac-default-service-account",
            "service-account-permissions",
        ]),
    ),
    control(
        "audit-native-logging",
        "Kubernetes native audit logging configuration",
        AUDIT,
        Evidence::Checks(&["api-server-hardening"]),
    ),
    control(
        "audit-node-container-logging",
        "Worker node and container logging",
        AUDIT,
        Evidence::NotObservable("log agents and their configuration on nodes are not judged from API objects"),
    ),
    control(
        "audit-seccomp",
        "Seccomp: audit mode",
        AUDIT,
        Evidence::NotObservable("what a seccomp profile logs is in the profile file on the node, not in the pod spec"),
    ),
    control(
        "audit-service-mesh",
        "Service meshes (mTLS, authorization, telemetry)",
        AUDIT,
        Evidence::Checks(&["mesh-mtls-strict", "mesh-authorization-policy"]),
    ),
    control(
        "audit-threat-detection",
        "Threat detection, alerting and SIEM",
        AUDIT,
        Evidence::NotObservable("detection pipelines and alert routing are outside the Kubernetes API"),
    ),
    control(
        "upgrade-patching",
        "Upgrading and application security practices (supported versions, patched images)",
        UPGRADE,
        Evidence::Checks(&["api-server-version-supported", "kubelet-version-skew", "image-vulnerabilities"]),
    ),
];
