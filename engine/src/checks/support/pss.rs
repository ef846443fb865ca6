//! The Pod Security Standards controls that differ between Kubernetes versions, as data, and the version
//! a cluster is judged by.
//!
//! Source: the pod-security-admission policy of the Kubernetes source,
//! `staging/src/k8s.io/pod-security-admission/policy/`. Each control there is a list of
//! `VersionedCheck{MinimumVersion, CheckPod}`; the policy of version `1.N` runs the entry with the highest
//! `MinimumVersion <= 1.N`. Up to v1.32 the tables below follow the v1.32 tree (public copy
//! `ali-a-a/ste-kubernetes` at cd13ec4a, the source of the e2e API server); the v1.35 entries follow
//! kubernetes/kubernetes commit e8bd3f629 ("drop UserNamespacesPodSecurityStandards feature gate").
//!
//! The version judged is the API server's (`vigil scan --kube-version`, or the live server's). When it is
//! unknown, or newer than [`NEWEST_KNOWN_MINOR`], the newest standard known here is applied and findings
//! say so.

use k8s_openapi::api::core::v1::PodSpec;

use crate::input::index::Index;

/// The newest minor version whose Pod Security Standards changes this table records.
pub const NEWEST_KNOWN_MINOR: u32 = 35;

/// Baseline "Sysctls": the safe sysctls, each with the minor version of the policy that first allows it.
/// `check_sysctls.go`: `sysctlsAllowedV1Dot0`, `...V1Dot27`, `...V1Dot29`, `...V1Dot32`.
const SAFE_SYSCTLS: &[(u32, &str)] = &[
    (0, "kernel.shm_rmid_forced"),
    (0, "net.ipv4.ip_local_port_range"),
    (0, "net.ipv4.tcp_syncookies"),
    (0, "net.ipv4.ping_group_range"),
    (0, "net.ipv4.ip_unprivileged_port_start"),
    (27, "net.ipv4.ip_local_reserved_ports"),
    (29, "net.ipv4.tcp_keepalive_time"),
    (29, "net.ipv4.tcp_fin_timeout"),
    (29, "net.ipv4.tcp_keepalive_intvl"),
    (29, "net.ipv4.tcp_keepalive_probes"),
    (32, "net.ipv4.tcp_rmem"),
    (32, "net.ipv4.tcp_wmem"),
];

/// Baseline "SELinux": the allowed `seLinuxOptions.type` values, with the minor version that allows them.
/// `check_seLinuxOptions.go`: `selinuxAllowedTypes1_0`, `selinuxAllowedTypes1_31`.
const SELINUX_TYPES: &[(u32, &str)] =
    &[(0, ""), (0, "container_t"), (0, "container_init_t"), (0, "container_kvm_t"), (31, "container_engine_t")];

/// From this minor version, pods in a user namespace (`hostUsers: false`) are exempt from the restricted
/// `runAsNonRoot` and `runAsUser` controls and the baseline `procMount` control (`check_runAsNonRoot.go`
/// `runAsNonRoot1_35`, `check_runAsUser.go` `runAsUser1_35`, `check_procMount_baseline.go`
/// `procMount_1_35_baseline`; KEP-127). Before 1.35 the exemption existed only behind the alpha feature gate
/// `UserNamespacesPodSecurityStandards`, off by default, so it is not applied.
const USER_NAMESPACE_RELAXATION_SINCE: u32 = 35;

/// The last minor version whose kubelet honours the legacy seccomp annotations
/// (`seccomp.security.alpha.kubernetes.io/pod`, `container.seccomp.security.alpha.kubernetes.io/<name>`). From
/// v1.27 they are non-functional: the kubelet reads only the `seccompProfile` fields
/// (`pkg/kubelet/kuberuntime/helpers.go` getSeccompProfile) and the API server only warns about them
/// (`pkg/api/pod/warnings.go`: "non-functional in v1.27+"). Not a Pod Security Standards control, but a
/// per-version rule the same version decides.
const SECCOMP_ANNOTATIONS_LAST_MINOR: u32 = 26;

/// The first minor version whose API server keeps `securityContext.procMount`: before it the ProcMountType
/// feature gate is off by default and the API server drops the field on create, so the container gets the
/// default masked /proc (`pkg/api/pod/util.go` dropDisabledFields; `pkg/features/versioned_kube_features.go`:
/// beta off in v1.31-v1.32, on by default from v1.33).
const PROC_MOUNT_FIELD_SINCE: u32 = 33;

/// The Pod Security Standards version a cluster is judged by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PssVersion {
    /// The minor version of Kubernetes 1.x whose standard applies.
    pub minor: u32,
    /// Why this is not the API server's own version, when it is not.
    pub assumed: Option<String>,
}

impl PssVersion {
    /// The standard of the API server's version; the newest known one when that is unknown or newer.
    pub fn of(index: &Index) -> PssVersion {
        match &index.server_version {
            None => PssVersion {
                minor: NEWEST_KNOWN_MINOR,
                assumed: Some("API server version unknown (`vigil scan --kube-version` sets it)".into()),
            },
            Some(v) if v.major == 0 => PssVersion { minor: 0, assumed: None },
            Some(v) if v.major > 1 || v.minor > NEWEST_KNOWN_MINOR => PssVersion {
                minor: NEWEST_KNOWN_MINOR,
                assumed: Some(format!("API server {} is newer than the standards Vigil knows", v.git_version)),
            },
            Some(v) => PssVersion { minor: v.minor, assumed: None },
        }
    }

    /// `Pod Security Standards v1.32`, with the reason when the version is assumed.
    pub fn describe(&self) -> String {
        match &self.assumed {
            None => format!("Pod Security Standards v1.{}", self.minor),
            Some(why) => format!("Pod Security Standards v1.{}, the newest known: {why}", self.minor),
        }
    }

    /// Whether the baseline level allows setting this sysctl (dotted form).
    pub fn allows_sysctl(&self, name: &str) -> bool {
        SAFE_SYSCTLS.iter().any(|&(since, safe)| since <= self.minor && safe == name)
    }

    /// Whether the baseline level allows this `seLinuxOptions.type` (`""` when unset).
    pub fn allows_selinux_type(&self, selinux_type: &str) -> bool {
        SELINUX_TYPES.iter().any(|&(since, allowed)| since <= self.minor && allowed == selinux_type)
    }

    /// Whether the pod's user namespace exempts it from the `runAsNonRoot`, `runAsUser` and baseline
    /// `procMount` controls (`relaxPolicyForUserNamespacePod`: `spec.hostUsers` is set to false).
    pub fn exempts_user_namespace_pod(&self, spec: &PodSpec) -> bool {
        self.minor >= USER_NAMESPACE_RELAXATION_SINCE && spec.host_users == Some(false)
    }

    /// Whether the API server keeps `securityContext.procMount` (else it drops it: the default /proc applies).
    pub fn keeps_proc_mount(&self) -> bool {
        self.minor >= PROC_MOUNT_FIELD_SINCE
    }

    /// Whether the legacy seccomp annotations still set a container's profile in this version.
    pub fn honours_seccomp_annotations(&self) -> bool {
        self.minor <= SECCOMP_ANNOTATIONS_LAST_MINOR
    }

    /// Why a `hostUsers: false` pod is not exempt under this version, for messages; `None` when the pod
    /// does not ask for a user namespace or is exempt.
    pub fn user_namespace_note(&self, spec: &PodSpec) -> Option<String> {
        (spec.host_users == Some(false) && !self.exempts_user_namespace_pod(spec)).then(|| {
            format!(
                "hostUsers: false exempts it only from Pod Security Standards v1.{USER_NAMESPACE_RELAXATION_SINCE} \
                 (judged by v1.{})",
                self.minor
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::index::ServerVersion;

    fn at(version: Option<&str>) -> PssVersion {
        let mut index = Index::new();
        index.server_version = version.and_then(ServerVersion::parse);
        PssVersion::of(&index)
    }

    #[test]
    fn safe_sysctls_grow_with_the_version() {
        let rmem = "net.ipv4.tcp_rmem";
        let keepalive = "net.ipv4.tcp_keepalive_time";
        let reserved = "net.ipv4.ip_local_reserved_ports";
        assert!(at(Some("1.26")).allows_sysctl("net.ipv4.ip_unprivileged_port_start"));
        assert!(!at(Some("1.26")).allows_sysctl(reserved));
        assert!(at(Some("1.27")).allows_sysctl(reserved));
        assert!(!at(Some("1.28")).allows_sysctl(keepalive));
        assert!(at(Some("v1.29.3")).allows_sysctl(keepalive));
        assert!(!at(Some("1.31")).allows_sysctl(rmem));
        assert!(at(Some("1.32")).allows_sysctl(rmem));
        assert!(!at(Some("1.35")).allows_sysctl("net.core.somaxconn"));
    }

    #[test]
    fn unknown_or_newer_versions_take_the_newest_standard_and_say_so() {
        let unknown = at(None);
        assert_eq!(unknown.minor, NEWEST_KNOWN_MINOR);
        assert!(unknown.describe().contains("version unknown"), "{}", unknown.describe());
        let newer = at(Some("v1.40.1"));
        assert_eq!(newer.minor, NEWEST_KNOWN_MINOR);
        assert!(newer.describe().contains("v1.40.1"), "{}", newer.describe());
        assert_eq!(at(Some("1.30")).describe(), "Pod Security Standards v1.30");
    }

    #[test]
    fn seccomp_annotations_stop_working_in_1_27() {
        assert!(at(Some("1.26")).honours_seccomp_annotations());
        assert!(!at(Some("1.27")).honours_seccomp_annotations());
        assert!(!at(None).honours_seccomp_annotations());
    }

    #[test]
    fn proc_mount_is_kept_from_1_33() {
        assert!(!at(Some("1.32")).keeps_proc_mount());
        assert!(at(Some("1.33")).keeps_proc_mount());
    }

    #[test]
    fn container_engine_t_is_allowed_from_1_31() {
        assert!(!at(Some("1.30")).allows_selinux_type("container_engine_t"));
        assert!(at(Some("1.31")).allows_selinux_type("container_engine_t"));
        assert!(at(Some("1.30")).allows_selinux_type(""));
        assert!(!at(Some("1.35")).allows_selinux_type("spc_t"));
    }

    #[test]
    fn user_namespace_pods_are_exempt_from_1_35() {
        let userns = PodSpec { host_users: Some(false), ..Default::default() };
        let host = PodSpec { host_users: Some(true), ..Default::default() };
        assert!(!at(Some("1.34")).exempts_user_namespace_pod(&userns));
        assert!(at(Some("1.34")).user_namespace_note(&userns).is_some());
        assert!(at(Some("1.35")).exempts_user_namespace_pod(&userns));
        assert!(at(Some("1.35")).user_namespace_note(&userns).is_none());
        assert!(!at(Some("1.35")).exempts_user_namespace_pod(&host));
        assert!(!at(Some("1.35")).exempts_user_namespace_pod(&PodSpec::default()));
    }
}
