use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-secrets-read",
    risk: 9,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "sensitive configuration ... encrypted secrets in kubernetes ... restrict who can exec onto these pods",
    title: "Roles do not read Secrets",
    fails_when: "a Role or ClusterRole allows get, list or watch on core `secrets` (also through `*`; a rule limited to \
        resourceNames still fails, naming them); a ClusterRole's message says it is cluster-wide",
    remediation: "Drop secrets from the role, or limit it to `get` on the named Secrets the holder needs; mount \
        Secrets into pods instead of reading them through the API.",
    rule: "`get`, `list` or `watch` on core `secrets` (also through `*`) returns the Secrets' data; a rule limited to `resourceNames` still returns those Secrets. Source: `plugin/pkg/auth/authorizer/rbac/rbac.go` (RuleAllows); `pkg/apis/rbac/v1/evaluation_helpers.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Role(evaluate)],
};

fn evaluate(_ctx: &Ctx, role: &RoleView) -> Outcome {
    let scope = match role.namespace {
        Some(namespace) => format!(" in namespace \"{namespace}\""),
        None => " cluster-wide (ClusterRole, critical)".to_string(),
    };
    Outcome::from_violations(
        role.rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| rbac::describe_secret_read(rule).map(|grant| (i, grant)))
            .map(|(i, grant)| Violation::object(format!("rule {i} allows {grant}{scope}")))
            .collect(),
    )
}
