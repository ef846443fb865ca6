use super::prelude::*;

pub static CHECK: Check = Check {
    id: "host-network",
    risk: 10,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Pods with net=host (network namespace shared between host and the pod)",
    title: "Pods do not share the host's network namespace",
    fails_when: "the pod spec sets `hostNetwork: true`",
    remediation: "Remove `hostNetwork: true`; expose the pod through a Service instead.",
    rule: "Pod Security Standards baseline control Host Namespaces: `spec.hostNetwork` must be unset or false. Source: `staging/src/k8s.io/pod-security-admission/policy/check_hostNamespaces.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.spec.host_network == Some(true) { Outcome::fail("pod spec sets hostNetwork: true") } else { Outcome::Pass }
}
