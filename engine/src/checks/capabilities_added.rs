use super::prelude::*;
use crate::checks::support::pod::capability_name;

pub static CHECK: Check = Check {
    id: "capabilities-added",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Pods with unnecessary ADD_CAP are equally dangerous as privileged pods",
    title: "Containers add only allowed capabilities",
    fails_when: "a container's `capabilities.add` holds a capability outside the policy's allowed list (default: only `NET_BIND_SERVICE`)",
    remediation: "Remove the extra capabilities from `capabilities.add`, or allow them in the policy's `allowedCapabilities` if truly needed.",
    rule: "Pod Security Standards restricted control Capabilities: containers may add only `NET_BIND_SERVICE` (the policy's `allowedCapabilities` can widen it, up to baseline's list). Source: `staging/src/k8s.io/pod-security-admission/policy/check_capabilities_restricted.go`, `check_capabilities_baseline.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let allowed: Vec<String> = ctx.policy.parameters.allowed_capabilities.iter().map(|c| capability_name(c)).collect();
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let extra: Vec<&str> = c
                    .added_capabilities()
                    .iter()
                    .filter(|cap| !allowed.contains(&capability_name(cap)))
                    .map(String::as_str)
                    .collect();
                (!extra.is_empty()).then(|| {
                    let message =
                        format!("{} adds capabilities outside the allowed list: {}", c.describe(), extra.join(", "));
                    Violation::container(c.name, message)
                })
            })
            .collect(),
    )
}
