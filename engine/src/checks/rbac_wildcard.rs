use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-wildcard",
    risk: 10,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Lock down 3rd party app RBAC, don't just accept what's in the docs",
    title: "Roles name their verbs, resources and API groups",
    fails_when: "a rule of a Role or ClusterRole has `*` in verbs, resources, apiGroups or nonResourceURLs",
    remediation: "List the verbs, API groups and resources the holder needs instead of `*`; wildcards also grant \
        resources and verbs added to the cluster later.",
    rule: "In an RBAC rule `*` matches every verb, resource, API group or non-resource URL, including ones added later. Source: `pkg/apis/rbac/v1/evaluation_helpers.go` (VerbMatches, ResourceMatches, APIGroupMatches, NonResourceURLMatches).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Role(evaluate)],
};

fn evaluate(_ctx: &Ctx, role: &RoleView) -> Outcome {
    Outcome::from_violations(
        role.rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| {
                let fields = rbac::wildcard_fields(rule);
                (!fields.is_empty()).then(|| Violation::object(format!("rule {i} uses * in {}", fields.join(", "))))
            })
            .collect(),
    )
}
