use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-anonymous-access",
    risk: 9,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Limit who can talk to the API server",
    title: "Nothing is granted to anonymous or all authenticated users",
    fails_when: "a binding names User `system:anonymous` or Group `system:unauthenticated`, or Group \
        `system:authenticated` with a role other than the discovery ClusterRoles (`system:discovery`, \
        `system:basic-user`, `system:public-info-viewer`)",
    remediation: "Remove these subjects from the binding and bind the role to the groups that need it.",
    rule: "Unauthenticated requests are User `system:anonymous` in Group `system:unauthenticated`, and every authenticated identity is in `system:authenticated`; the bootstrap policy grants those groups only discovery (`system:discovery`, `system:basic-user`, `system:public-info-viewer`). Source: `staging/src/k8s.io/apiserver/pkg/authentication/request/anonymous/anonymous.go`; `staging/src/k8s.io/apiserver/pkg/authentication/group/authenticated_group_adder.go`; `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Binding(evaluate)],
};

fn evaluate(_ctx: &Ctx, binding: &BindingView) -> Outcome {
    let discovery =
        binding.role_ref.kind == "ClusterRole" && rbac::DISCOVERY_ROLES.contains(&binding.role_ref.name.as_str());
    Outcome::from_violations(
        binding
            .subjects
            .iter()
            .filter_map(|s| {
                let who = match (s.kind.as_str(), s.name.as_str()) {
                    ("User", "system:anonymous") | ("Group", "system:unauthenticated") => "unauthenticated requests",
                    ("Group", "system:authenticated") if !discovery => "every authenticated user and ServiceAccount",
                    _ => return None,
                };
                Some(Violation::object(format!(
                    "grants {} to {} \"{}\" ({who})",
                    rbac::describe_role_ref(binding),
                    s.kind,
                    s.name
                )))
            })
            .collect(),
    )
}
