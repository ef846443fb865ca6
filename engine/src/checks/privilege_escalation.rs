use super::prelude::*;
use crate::pod::capability_name;

pub static CHECK: Check = Check {
    id: "privilege-escalation",
    risk: 7,
    category: Category::PodSecurity,
    source: Source::Ours,
    seed_item: "Limit storage related syscalls and capabilities to prevent runtime privilege escalation",
    title: "Containers cannot gain more privileges than their parent process",
    fails_when: "a container does not set `allowPrivilegeEscalation: false`, or is privileged or adds CAP_SYS_ADMIN (which imply it is true)",
    remediation: "Set `allowPrivilegeEscalation: false`, and drop `privileged: true` and `SYS_ADMIN` from the container.",
    enabled_by_default: true,
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let sc = c.security_context;
                // `ALL` includes SYS_ADMIN.
                let adds_sys_admin = c.added_capabilities().iter().any(|cap| matches!(capability_name(cap).as_str(), "SYS_ADMIN" | "ALL"));
                let message = if sc.and_then(|s| s.privileged) == Some(true) {
                    format!("{} is privileged, so privilege escalation is allowed whatever allowPrivilegeEscalation says", c.describe())
                } else if adds_sys_admin {
                    format!("{} adds CAP_SYS_ADMIN, so privilege escalation is allowed whatever allowPrivilegeEscalation says", c.describe())
                } else {
                    match sc.and_then(|s| s.allow_privilege_escalation) {
                        Some(false) => return None,
                        Some(true) => format!("{} sets securityContext.allowPrivilegeEscalation: true", c.describe()),
                        None => format!("{} has no securityContext.allowPrivilegeEscalation: false", c.describe()),
                    }
                };
                Some(Violation::container(c.name, message))
            })
            .collect(),
    )
}
