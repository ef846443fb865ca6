use k8s_openapi::api::core::v1::Namespace;

use super::prelude::*;
use crate::checks::support::mesh::{ISTIO_ROOT_NAMESPACE, istio_installed};
use crate::input::object::CustomObject;

pub static CHECK: Check = Check {
    id: "mesh-authorization-policy",
    risk: 7,
    category: CheckCategory::Mesh,
    source: Source::Seed,
    seed_item: "Istio policies applied at a higher level in conjunction with Network Policies",
    title: "Istio AuthorizationPolicies govern the namespace",
    fails_when: "Istio is installed and the namespace has no AuthorizationPolicy (a selector-less one in the root namespace `istio-system` counts for every namespace)",
    remediation: "Add an AuthorizationPolicy to the namespace, e.g. an allow-nothing default plus rules for the expected callers.",
    rule: "Istio allows all traffic to a workload that no AuthorizationPolicy selects; a policy in the root namespace (`istio-system`) without selector applies mesh-wide. Source: istio/api `security/v1beta1/authorization.proto`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::AuthorizationPolicy, Kind::CustomResourceDefinition],
    evaluators: &[Evaluator::Namespace(evaluate)],
};

fn evaluate(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    if !istio_installed(ctx.index) {
        return Outcome::not_applicable("Istio is not installed");
    }
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    let policies = &ctx.index.authorization_policies;
    let mesh_wide = || policies.in_namespace(ISTIO_ROOT_NAMESPACE).any(|p| applies_to_all_workloads(p));
    if policies.in_namespace(name).next().is_some() || mesh_wide() {
        Outcome::Pass
    } else {
        Outcome::fail(format!("namespace \"{name}\" has no Istio AuthorizationPolicy"))
    }
}

/// True when the policy selects no particular workload; in the root namespace Istio applies such a policy
/// to the whole mesh.
fn applies_to_all_workloads(policy: &CustomObject) -> bool {
    let selector = policy.spec.pointer("/selector/matchLabels").and_then(|m| m.as_object());
    let targeted = policy.spec.get("targetRef").is_some() || policy.spec.get("targetRefs").is_some();
    selector.is_none_or(|m| m.is_empty()) && !targeted
}
