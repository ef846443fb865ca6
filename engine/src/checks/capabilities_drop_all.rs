use super::prelude::*;

pub static CHECK: Check = Check {
    id: "capabilities-drop-all",
    risk: 5,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Pods with unnecessary ADD_CAP are equally dangerous as privileged pods",
    title: "Containers drop all capabilities",
    fails_when: "a container's `securityContext.capabilities.drop` does not contain `ALL`",
    remediation: "Set `capabilities.drop: [ALL]` and add back only the capabilities the container needs.",
    rule: "Pod Security Standards restricted control Capabilities: every container must drop `ALL`; Windows pods are exempt (`spec.os.name: windows`). Source: `staging/src/k8s.io/pod-security-admission/policy/check_capabilities_restricted.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.is_windows() {
        return Outcome::not_applicable("Windows pod: securityContext.capabilities is Linux-only");
    }
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter(|c| !c.dropped_capabilities().iter().any(|cap| cap.trim().eq_ignore_ascii_case("ALL")))
            .map(|c| {
                Violation::container(
                    c.name,
                    format!("{} does not drop ALL in securityContext.capabilities.drop", c.describe()),
                )
            })
            .collect(),
    )
}
