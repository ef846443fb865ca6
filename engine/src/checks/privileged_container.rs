use super::prelude::*;

pub static CHECK: Check = Check {
    id: "privileged-container",
    risk: 10,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "No privileged pods/containers",
    title: "Containers do not run privileged",
    fails_when: "a container sets `securityContext.privileged: true`",
    remediation: "Remove `privileged: true`; grant only the capabilities the container needs.",
    rule: "Pod Security Standards baseline control Privileged Containers: `securityContext.privileged` must be unset or false on every container. Source: `staging/src/k8s.io/pod-security-admission/policy/check_privileged.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter(|c| c.security_context.and_then(|s| s.privileged) == Some(true))
            .map(|c| Violation::container(c.name, format!("{} sets securityContext.privileged: true", c.describe())))
            .collect(),
    )
}
