//! MITRE ATT&CK for Containers (Enterprise ATT&CK v16, the Containers platform): the techniques whose
//! preconditions a check removes.
//!
//! A technique "passes" when no check that evidences it fails: the cluster does not offer the foothold the
//! technique needs, as far as API objects show. Titles are the technique names.

use super::{Control, Evidence, Framework, FrameworkName};

pub static FRAMEWORK: Framework = Framework {
    name: FrameworkName::Mitre,
    title: "MITRE ATT&CK for Containers",
    version: "v16",
    source: "https://attack.mitre.org/matrices/enterprise/containers/",
    note: "Techniques of the Containers platform of Enterprise ATT&CK v16; a technique is evidenced by the checks that \
           remove a precondition of it.",
    controls: CONTROLS,
};

const INITIAL_ACCESS: &str = "Initial Access";
const EXECUTION: &str = "Execution";
const PERSISTENCE: &str = "Persistence";
const PRIVILEGE_ESCALATION: &str = "Privilege Escalation";
const DEFENSE_EVASION: &str = "Defense Evasion";
const CREDENTIAL_ACCESS: &str = "Credential Access";
const DISCOVERY: &str = "Discovery";
const IMPACT: &str = "Impact";

const fn control(id: &'static str, title: &'static str, group: &'static str, evidence: Evidence) -> Control {
    Control { id, title, group, since_minor: 0, evidence }
}

const CONTROLS: &[Control] = &[
    control(
        "T1190",
        "Exploit Public-Facing Application",
        INITIAL_ACCESS,
        Evidence::Checks(&["service-external-exposure", "image-vulnerabilities"]),
    ),
    control("T1133", "External Remote Services", INITIAL_ACCESS, Evidence::Checks(&["service-external-exposure"])),
    control(
        "T1078.001",
        "Valid Accounts: Default Accounts",
        INITIAL_ACCESS,
        Evidence::Checks(&["rbac-default-service-account", "rbac-anonymous-access", "service-account-token-automount"]),
    ),
    control("T1609", "Container Administration Command", EXECUTION, Evidence::Checks(&["rbac-exec-attach"])),
    control(
        "T1610",
        "Deploy Container",
        EXECUTION,
        Evidence::Checks(&["admission-policy-enforced", "pod-security-admission", "rbac-privilege-escalation"]),
    ),
    control(
        "T1204.003",
        "User Execution: Malicious Image",
        EXECUTION,
        Evidence::Checks(&[
            "image-registry-allowed",
            "image-signature-enforced",
            "image-tag-mutable",
            "image-digest-pinned",
        ]),
    ),
    control(
        "T1053.007",
        "Scheduled Task/Job: Container Orchestration Job",
        EXECUTION,
        Evidence::Checks(&["rbac-privilege-escalation", "rbac-wildcard"]),
    ),
    control(
        "T1525",
        "Implant Internal Image",
        PERSISTENCE,
        Evidence::Checks(&["image-signature-enforced", "image-digest-pinned"]),
    ),
    control(
        "T1098.006",
        "Account Manipulation: Additional Container Cluster Roles",
        PERSISTENCE,
        Evidence::Checks(&["rbac-privilege-escalation", "rbac-cluster-admin-binding", "rbac-bound-to-user"]),
    ),
    control(
        "T1611",
        "Escape to Host",
        PRIVILEGE_ESCALATION,
        Evidence::Checks(&[
            "privileged-container",
            "host-pid",
            "host-ipc",
            "host-network",
            "host-path-mount",
            "capabilities-added",
            "capabilities-drop-all",
            "privilege-escalation",
            "run-as-non-root",
            "seccomp-profile",
            "selinux-apparmor",
            "unsafe-sysctls-procmount",
            "sandboxed-runtime",
            "privileged-system-plugins",
        ]),
    ),
    control(
        "T1068",
        "Exploitation for Privilege Escalation",
        PRIVILEGE_ESCALATION,
        Evidence::Checks(&[
            "api-server-version-supported",
            "kubelet-version-skew",
            "node-os-hardened",
            "image-vulnerabilities",
        ]),
    ),
    control("T1612", "Build Image on Host", DEFENSE_EVASION, Evidence::Checks(&["host-path-mount"])),
    control(
        "T1562.001",
        "Impair Defenses: Disable or Modify Tools",
        DEFENSE_EVASION,
        Evidence::NotObservable(
            "tampering with security tools shows in audit logs and runtime events, not in object state",
        ),
    ),
    control(
        "T1070",
        "Indicator Removal",
        DEFENSE_EVASION,
        Evidence::NotObservable("deleted logs and events leave nothing in the objects that remain"),
    ),
    control(
        "T1552.007",
        "Unsecured Credentials: Container API",
        CREDENTIAL_ACCESS,
        Evidence::Checks(&[
            "rbac-secrets-read",
            "service-account-permissions",
            "secret-in-env",
            "api-server-hardening",
        ]),
    ),
    control(
        "T1528",
        "Steal Application Access Token",
        CREDENTIAL_ACCESS,
        Evidence::Checks(&["service-account-token-automount"]),
    ),
    control(
        "T1613",
        "Container and Resource Discovery",
        DISCOVERY,
        Evidence::Checks(&["rbac-anonymous-access", "rbac-wildcard"]),
    ),
    control(
        "T1046",
        "Network Service Discovery",
        DISCOVERY,
        Evidence::Checks(&["network-policy-default-deny", "network-policy-coverage", "mesh-authorization-policy"]),
    ),
    control(
        "T1496",
        "Resource Hijacking",
        IMPACT,
        Evidence::Checks(&["resource-limits", "resource-quota", "limit-range"]),
    ),
    control("T1499", "Endpoint Denial of Service", IMPACT, Evidence::Checks(&["resource-limits", "limit-range"])),
];
