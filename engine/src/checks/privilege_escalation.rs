use super::prelude::*;
use crate::checks::support::pod::capability_name;

pub static CHECK: Check = Check {
    id: "privilege-escalation",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Limit storage related syscalls and capabilities to prevent runtime privilege escalation",
    title: "Containers cannot gain more privileges than their parent process",
    fails_when: "a container does not set `allowPrivilegeEscalation: false`, or is privileged or adds CAP_SYS_ADMIN (which imply it is true)",
    remediation: "Set `allowPrivilegeEscalation: false`, and drop `privileged: true` and `SYS_ADMIN` from the container.",
    rule: "Pod Security Standards restricted control Privilege Escalation: `allowPrivilegeEscalation: false` on every container; `privileged: true` and the SYS_ADMIN capability imply true (the API server refuses false with either). Windows pods are exempt. Source: `staging/src/k8s.io/pod-security-admission/policy/check_allowPrivilegeEscalation.go`; `pkg/apis/core/validation/validation.go` (AllowPrivilegeEscalation).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.is_windows() {
        return Outcome::not_applicable("Windows pod: securityContext.allowPrivilegeEscalation is Linux-only");
    }
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let sc = c.security_context;
                let implied_by = if sc.and_then(|s| s.privileged) == Some(true) {
                    Some("is privileged".to_string())
                } else {
                    // `ALL` includes SYS_ADMIN.
                    c.added_capabilities()
                        .iter()
                        .find(|cap| matches!(capability_name(cap).as_str(), "SYS_ADMIN" | "ALL"))
                        .map(|cap| format!("adds {cap}"))
                };
                let message = match (implied_by, sc.and_then(|s| s.allow_privilege_escalation)) {
                    (Some(reason), _) => {
                        format!(
                            "{} {reason}, which implies allowPrivilegeEscalation: true whatever it is set to",
                            c.describe()
                        )
                    }
                    (None, Some(false)) => return None,
                    (None, Some(true)) => {
                        format!("{} sets securityContext.allowPrivilegeEscalation: true", c.describe())
                    }
                    (None, None) => format!("{} has no securityContext.allowPrivilegeEscalation: false", c.describe()),
                };
                Some(Violation::container(c.name, message))
            })
            .collect(),
    )
}
