use super::prelude::*;

pub static CHECK: Check = Check {
    id: "host-ipc",
    risk: 10,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled",
    title: "Pods do not share the host's IPC namespace",
    fails_when: "the pod spec sets `hostIPC: true`",
    remediation: "Remove `hostIPC: true`; a pod sharing host IPC can read other processes' shared memory.",
    rule: "Pod Security Standards baseline control Host Namespaces: `spec.hostIPC` must be unset or false. Source: `staging/src/k8s.io/pod-security-admission/policy/check_hostNamespaces.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.spec.host_ipc == Some(true) { Outcome::fail("pod spec sets hostIPC: true") } else { Outcome::Pass }
}
