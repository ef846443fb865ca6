use k8s_openapi::api::core::v1::{AppArmorProfile, SELinuxOptions};

use super::prelude::*;
use crate::checks::support::pss::PssVersion;

pub static CHECK: Check = Check {
    id: "selinux-apparmor",
    risk: 5,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Use Security-Enhanced Linux (SELinux) to further isolate containers",
    title: "SELinux and AppArmor confinement is not weakened",
    fails_when: "pod or container `seLinuxOptions` sets a `user` or `role`, or a `type` outside the PSS baseline set, or an AppArmor profile (field or annotation) is `Unconfined`",
    remediation: "Remove custom SELinux `user`/`role`, use a `container_t`-family type, and use the `RuntimeDefault` or a `Localhost` AppArmor profile.",
    rule: "Pod Security Standards baseline controls SELinux (no `user`/`role`; `type` among the allowed ones, `container_engine_t` from v1.31) and AppArmor (not `Unconfined`, by field or by annotation). Source: `staging/src/k8s.io/pod-security-admission/policy/check_seLinuxOptions.go`, `check_appArmorProfile.go` (versions: `engine/src/checks/support/pss.rs`).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let pss = PssVersion::of(ctx.index);
    let mut violations = Vec::new();
    // Both levels are checked: a container may override the pod's options, but the pod's apply to the rest.
    if let Some(pod) = w.pod_security_context() {
        let at = "pod securityContext";
        if let Some(problem) = pod.se_linux_options.as_ref().and_then(|o| selinux_problem(&pss, o)) {
            violations.push(Violation::object(format!("{at}.seLinuxOptions {problem}")));
        }
        if pod.app_armor_profile.as_ref().is_some_and(unconfined) {
            violations.push(Violation::object(format!("{at}.appArmorProfile.type is Unconfined")));
        }
    }
    let annotations = w.template_meta.annotations.as_ref();
    for c in w.containers() {
        let sc = c.security_context;
        if let Some(problem) = sc.and_then(|s| s.se_linux_options.as_ref()).and_then(|o| selinux_problem(&pss, o)) {
            violations.push(Violation::container(c.name, format!("{} seLinuxOptions {problem}", c.describe())));
        }
        if sc.and_then(|s| s.app_armor_profile.as_ref()).is_some_and(unconfined) {
            violations
                .push(Violation::container(c.name, format!("{} appArmorProfile.type is Unconfined", c.describe())));
        }
        let key = format!("{APPARMOR_ANNOTATION_PREFIX}{}", c.name);
        if annotations.and_then(|a| a.get(&key)).is_some_and(|v| v == "unconfined") {
            violations.push(Violation::container(
                c.name,
                format!("{} is AppArmor-unconfined by annotation {key}", c.describe()),
            ));
        }
    }
    Outcome::from_violations(violations)
}

/// What the PSS baseline objects to in SELinux options, if anything: a custom user or role, or a type outside
/// the allowed set.
fn selinux_problem(pss: &PssVersion, options: &SELinuxOptions) -> Option<String> {
    let mut problems = Vec::new();
    if let Some(user) = options.user.as_deref().filter(|v| !v.is_empty()) {
        problems.push(format!("user {user}"));
    }
    if let Some(role) = options.role.as_deref().filter(|v| !v.is_empty()) {
        problems.push(format!("role {role}"));
    }
    let selinux_type = options.type_.as_deref().unwrap_or("");
    if !pss.allows_selinux_type(selinux_type) {
        problems.push(format!("type {selinux_type}"));
    }
    (!problems.is_empty()).then(|| format!("sets {} (not allowed by the baseline of {})", problems.join(", "), pss.describe()))
}

fn unconfined(profile: &AppArmorProfile) -> bool {
    profile.type_ == "Unconfined"
}
