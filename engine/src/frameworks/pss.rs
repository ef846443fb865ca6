//! Pod Security Standards: the baseline and restricted controls, each with the checks that judge it.
//!
//! Control names follow the Kubernetes documentation (`content/en/docs/concepts/security/pod-security-standards.md`);
//! `since_minor` is the `MinimumVersion` of the control's first `VersionedCheck` in
//! `staging/src/k8s.io/pod-security-admission/policy/`. What a control allows in each version (safe
//! sysctls, SELinux types, user-namespace exemptions, seccomp annotations) is data of
//! `checks/support/pss.rs`, which the checks named here read: the version judged is the API server's.

use super::{Control, Evidence, Framework, FrameworkName};
use crate::checks::support::pss::{NEWEST_KNOWN_MINOR, PssVersion};

pub static FRAMEWORK: Framework = Framework {
    name: FrameworkName::Pss,
    title: "Kubernetes Pod Security Standards",
    version: "v1.35",
    source: "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
    note: "Controls and levels as the Kubernetes documentation names them; judged by the policy of the cluster's \
           Kubernetes version (`--kube-version`, or the live API server's), the newest Vigil knows when unknown.",
    controls: CONTROLS,
};

const BASELINE: &str = "baseline";
const RESTRICTED: &str = "restricted";

const CONTROLS: &[Control] = &[
    Control {
        id: "baseline/host-process",
        title: "HostProcess: Windows pods do not run HostProcess containers",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::NotChecked(
            "`securityContext.windowsOptions.hostProcess` is in the pod spec, but no Vigil check reads it yet",
        ),
    },
    Control {
        id: "baseline/host-namespaces",
        title: "Host Namespaces: no hostNetwork, hostPID or hostIPC",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["host-network", "host-pid", "host-ipc"]),
    },
    Control {
        id: "baseline/privileged-containers",
        title: "Privileged Containers: no `privileged: true`",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["privileged-container"]),
    },
    Control {
        id: "baseline/capabilities",
        title: "Capabilities: add nothing beyond the default set",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["capabilities-added"]),
    },
    Control {
        id: "baseline/host-path-volumes",
        title: "HostPath Volumes: no hostPath volumes",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["host-path-mount"]),
    },
    Control {
        id: "baseline/host-ports",
        title: "Host Ports: no hostPort",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["host-port"]),
    },
    Control {
        id: "baseline/apparmor",
        title: "AppArmor: the profile is not Unconfined",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["selinux-apparmor"]),
    },
    Control {
        id: "baseline/selinux",
        title: "SELinux: no custom user or role, an allowed type",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["selinux-apparmor"]),
    },
    Control {
        id: "baseline/proc-mount",
        title: "/proc Mount Type: the default masked /proc",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["unsafe-sysctls-procmount"]),
    },
    Control {
        id: "baseline/seccomp",
        title: "Seccomp: the profile is not Unconfined",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["seccomp-profile"]),
    },
    Control {
        id: "baseline/sysctls",
        title: "Sysctls: only the safe set",
        group: BASELINE,
        since_minor: 0,
        evidence: Evidence::Checks(&["unsafe-sysctls-procmount"]),
    },
    Control {
        id: "restricted/volume-types",
        title: "Volume Types: only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret",
        group: RESTRICTED,
        since_minor: 0,
        evidence: Evidence::NotChecked(
            "volume types are in the pod spec, but Vigil judges only hostPath volumes (`host-path-mount`, the baseline \
             control); no check limits the other types yet",
        ),
    },
    Control {
        id: "restricted/privilege-escalation",
        title: "Privilege Escalation: `allowPrivilegeEscalation: false`",
        group: RESTRICTED,
        since_minor: 8,
        evidence: Evidence::Checks(&["privilege-escalation"]),
    },
    Control {
        id: "restricted/running-as-non-root",
        title: "Running as Non-root: `runAsNonRoot: true`",
        group: RESTRICTED,
        since_minor: 0,
        evidence: Evidence::Checks(&["run-as-non-root"]),
    },
    Control {
        id: "restricted/running-as-non-root-user",
        title: "Running as Non-root user: `runAsUser` is not 0",
        group: RESTRICTED,
        since_minor: 23,
        evidence: Evidence::Checks(&["run-as-non-root"]),
    },
    Control {
        id: "restricted/seccomp",
        title: "Seccomp: RuntimeDefault or Localhost",
        group: RESTRICTED,
        since_minor: 19,
        evidence: Evidence::Checks(&["seccomp-profile"]),
    },
    Control {
        id: "restricted/capabilities",
        title: "Capabilities: drop ALL, add only NET_BIND_SERVICE",
        group: RESTRICTED,
        since_minor: 22,
        evidence: Evidence::Checks(&["capabilities-drop-all", "capabilities-added"]),
    },
];

/// `v1.32`, or `v1.35 (the newest known: <why>)` when the API server's version is unknown or newer.
pub fn version_judged(index: &crate::Index) -> String {
    let version = PssVersion::of(index);
    match &version.assumed {
        None => format!("v1.{}", version.minor),
        Some(why) => format!("v1.{} ({why})", version.minor),
    }
}

/// The minor version judged (what [`Framework::controls_at`] takes).
pub fn minor_judged(index: &crate::Index) -> u32 {
    PssVersion::of(index).minor
}

/// The table's version is the newest the engine's Pod Security Standards data knows.
const _: () = assert!(NEWEST_KNOWN_MINOR == 35, "update FRAMEWORK.version with NEWEST_KNOWN_MINOR");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::index::{Index, ServerVersion};

    #[test]
    fn the_version_judged_is_the_api_servers() {
        let mut index = Index::new();
        index.server_version = ServerVersion::parse("v1.21.3");
        assert_eq!(version_judged(&index), "v1.21");
        // Restricted capabilities (1.22) and non-root user (1.23) are not part of v1.21.
        let ids: Vec<&str> = FRAMEWORK.controls_at(minor_judged(&index)).map(|c| c.id).collect();
        assert!(!ids.contains(&"restricted/capabilities") && ids.contains(&"restricted/seccomp"), "{ids:?}");
        index.server_version = None;
        assert!(version_judged(&index).starts_with("v1.35 (API server version unknown"), "{}", version_judged(&index));
        assert_eq!(FRAMEWORK.controls_at(minor_judged(&index)).count(), CONTROLS.len());
    }
}
