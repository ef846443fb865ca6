use super::prelude::*;

pub static CHECK: Check = Check {
    id: "host-pid",
    risk: 10,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled",
    title: "Pods do not share the host's process namespace",
    fails_when: "the pod spec sets `hostPID: true`",
    remediation: "Remove `hostPID: true`; a pod that sees host processes can signal and inspect them.",
    rule: "Pod Security Standards baseline control Host Namespaces: `spec.hostPID` must be unset or false. Source: `staging/src/k8s.io/pod-security-admission/policy/check_hostNamespaces.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.spec.host_pid == Some(true) { Outcome::fail("pod spec sets hostPID: true") } else { Outcome::Pass }
}
