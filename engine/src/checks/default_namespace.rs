use super::prelude::*;

pub static CHECK: Check = Check {
    id: "default-namespace",
    risk: 7,
    category: CheckCategory::Governance,
    source: Source::Seed,
    seed_item: "Proper use of namespaces (so you can apply network policies, RBAC, secret sharing, etc.)",
    title: "Workloads do not run in the default namespace",
    fails_when: "the workload is in the `default` namespace (a manifest without a namespace lands there)",
    remediation: "Move the workload to a namespace of its own, with its own network policies, RBAC and quotas.",
    rule: "A namespaced object whose manifest names no namespace is created in the client's current namespace, `default` unless the kubeconfig context says otherwise; Vigil reads such manifests as in `default`. Source: `staging/src/k8s.io/client-go/tools/clientcmd/client_config.go` (DirectClientConfig.Namespace).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.namespace() == "default" {
        Outcome::fail(format!("{} {} runs in the \"default\" namespace", w.kind, w.name()))
    } else {
        Outcome::Pass
    }
}
