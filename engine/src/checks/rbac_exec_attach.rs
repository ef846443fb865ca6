use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-exec-attach",
    risk: 9,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "restrict who can exec onto these pods",
    title: "Roles do not allow exec or attach into pods",
    fails_when: "a Role or ClusterRole allows `create` or `get` on `pods/exec` or `pods/attach` (also through `*` or \
        `*/exec`)",
    remediation: "Remove pods/exec and pods/attach from the role; give break-glass debugging access through a \
        separate, audited role bound only when needed.",
    rule: "`pods/exec` and `pods/attach` are connect subresources: the authorizer checks `create` for POST and `get` for the GET (websocket) requests clients use, and `*`/`*/exec` match them. Source: `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go` (verb from the HTTP method); `pkg/registry/core/pod/rest/subresources.go`; `pkg/apis/rbac/v1/evaluation_helpers.go`.",
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
                rbac::describe_exec_attach(rule).map(|grant| Violation::object(format!("rule {i} allows {grant}")))
            })
            .collect(),
    )
}
