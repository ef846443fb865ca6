//! One module per check; the table below is the catalog. Adding a check: write its module (a `CHECK`
//! static and a pure evaluator), list it here, and add its fixtures under `engine/tests/fixtures/<id>/`.

pub mod catalog;
pub mod docs;
pub mod evaluate;
pub mod outcome;
pub mod support;

#[allow(unused_imports)]
mod prelude {
    pub use crate::checks::catalog::{Check, CheckCategory, CheckScope, Evaluator, Source};
    pub use crate::checks::evaluate::Ctx;
    pub use crate::checks::outcome::{Outcome, Violation};
    pub use crate::checks::support::pod::{ContainerKind, ContainerView, container_or_pod};
    pub use crate::input::kinds::Kind;
    pub use crate::subject::{BindingView, RoleView, Workload};
}

macro_rules! catalog {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every check, in the order of the spec.
        pub static CATALOG: &[&crate::checks::catalog::Check] = &[$(&$module::CHECK),*];
    };
}

catalog! {
    image_pull_policy_always,
    privileged_container,
    readonly_root_filesystem,
    host_network,
    host_pid,
    host_ipc,
    run_as_non_root,
    resource_limits,
    image_tag_mutable,
    image_digest_pinned,
    image_registry_allowed,
    capabilities_added,
    capabilities_drop_all,
    privilege_escalation,
    service_account_token_automount,
    host_path_mount,
    host_port,
    seccomp_profile,
    selinux_apparmor,
    unsafe_sysctls_procmount,
    sandboxed_runtime,
    default_namespace,
    owner_annotation,
    secret_in_env,
    network_policy_coverage,
    service_account_permissions,
    image_vulnerabilities,
    network_policy_default_deny,
    resource_quota,
    limit_range,
    pod_security_admission,
    mesh_mtls_strict,
    mesh_authorization_policy,
    service_external_exposure,
    ingress_tls,
    rbac_wildcard,
    rbac_cluster_admin_binding,
    rbac_privilege_escalation,
    rbac_secrets_read,
    rbac_exec_attach,
    rbac_bound_to_user,
    rbac_anonymous_access,
    rbac_default_service_account,
    node_os_hardened,
    kubelet_version_skew,
    api_server_version_supported,
    admission_policy_enforced,
    image_signature_enforced,
    api_server_hardening,
    privileged_system_plugins,
    container_runtime_uniform,
}
