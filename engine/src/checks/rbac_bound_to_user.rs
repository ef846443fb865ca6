use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-bound-to-user",
    risk: 10,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "K8s RBAC for user groups (SRE, DevOps, InfoSec, Dev, Debugging, etc.)",
    title: "Bindings name groups, not individual users",
    fails_when: "a RoleBinding or ClusterRoleBinding has a subject of kind User whose name does not start with `system:`",
    remediation: "Bind the role to a Group from your identity provider (SRE, Dev, ...) and manage membership there.",
    rule: "A User subject names one identity from the authenticator; `system:` users are Kubernetes' own components and ServiceAccount usernames. Source: RBAC Subject in `staging/src/k8s.io/api/rbac/v1/types.go`; `staging/src/k8s.io/apiserver/pkg/authentication/user/user.go` (system users).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Binding(evaluate)],
};

fn evaluate(_ctx: &Ctx, binding: &BindingView) -> Outcome {
    Outcome::from_violations(
        binding
            .subjects
            .iter()
            .filter(|s| s.kind == "User" && !s.name.starts_with("system:"))
            .map(|s| {
                Violation::object(format!(
                    "grants {} to individual User \"{}\"; bind a Group instead",
                    rbac::describe_role_ref(binding),
                    s.name
                ))
            })
            .collect(),
    )
}
