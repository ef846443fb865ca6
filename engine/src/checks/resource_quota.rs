use k8s_openapi::api::core::v1::Namespace;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "resource-quota",
    risk: 5,
    category: CheckCategory::Resources,
    source: Source::Seed,
    seed_item: "Specify resource quota per namespace",
    title: "The namespace has a ResourceQuota",
    fails_when: "the namespace has no ResourceQuota",
    remediation: "Add a ResourceQuota capping the namespace's CPU, memory and object counts.",
    rule: "The ResourceQuota admission plugin limits a namespace's total consumption only when a ResourceQuota exists there; without one nothing bounds it. Source: `staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/admission.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::ResourceQuota],
    evaluators: &[Evaluator::Namespace(evaluate)],
};

fn evaluate(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    if ctx.index.resource_quotas.in_namespace(name).next().is_some() {
        Outcome::Pass
    } else {
        Outcome::fail(format!("namespace \"{name}\" has no ResourceQuota"))
    }
}
