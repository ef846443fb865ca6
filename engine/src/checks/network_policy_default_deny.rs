use k8s_openapi::api::core::v1::Namespace;

use super::prelude::*;
use crate::checks::support::network::{denies_all, required_directions, selects_all_pods};

pub static CHECK: Check = Check {
    id: "network-policy-default-deny",
    risk: 10,
    category: CheckCategory::Network,
    source: Source::Seed,
    seed_item: "Network Policy must be enabled and enforced at least at namespace level",
    title: "The namespace denies traffic by default",
    fails_when: "no NetworkPolicy with an empty podSelector denies all Ingress (and Egress, when the policy requires egress control) by default",
    remediation: "Add a NetworkPolicy with `podSelector: {}`, the policyTypes to deny and no rules; then allow traffic per workload.",
    rule: "A NetworkPolicy with an empty `podSelector` selects every pod of its namespace, and one with no ingress (egress) rules for a policyType it has denies that direction to all of them; `policyTypes` defaults to Ingress, plus Egress when `egress` is non-empty. Source: `staging/src/k8s.io/api/networking/v1/types.go` (NetworkPolicySpec); `pkg/apis/networking/v1/defaults.go` SetDefaults_NetworkPolicy.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::NetworkPolicy],
    evaluators: &[Evaluator::Namespace(evaluate)],
};

fn evaluate(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    let catch_all: Vec<_> = ctx.index.network_policies.in_namespace(name).filter(|p| selects_all_pods(p)).collect();
    // Each direction may be denied by a different policy.
    Outcome::from_violations(
        required_directions(ctx.policy.parameters.egress_required)
            .iter()
            .filter(|&&direction| !catch_all.iter().any(|p| denies_all(p, direction)))
            .map(|direction| {
                Violation::object(format!(
                    "no NetworkPolicy with an empty podSelector denies all {} by default",
                    direction.as_str()
                ))
            })
            .collect(),
    )
}
