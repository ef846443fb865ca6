use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-default-service-account",
    risk: 7,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Lock down 3rd party app RBAC, don't just accept what's in the docs",
    title: "No permissions are granted to default ServiceAccounts",
    fails_when: "a binding names a ServiceAccount `default` (its namespace defaulting to the RoleBinding's) or its \
        username `system:serviceaccount:<ns>:default`",
    remediation: "Create a dedicated ServiceAccount for the workload that needs the role, bind it, and set \
        `serviceAccountName`; every pod that sets none runs as `default`.",
    rule: "Every namespace gets a ServiceAccount `default`, which pods use when they name none; a ServiceAccount subject without namespace in a RoleBinding means the binding's namespace. Source: `pkg/controller/serviceaccount/serviceaccounts_controller.go`; `plugin/pkg/admission/serviceaccount/admission.go`; `pkg/registry/rbac/validation/rule.go` (appliesToUser).",
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
            .filter(|s| match s.kind.as_str() {
                "ServiceAccount" => s.name == "default",
                "User" => s.name.strip_prefix("system:serviceaccount:").is_some_and(|r| r.ends_with(":default")),
                _ => false,
            })
            .map(|s| {
                Violation::object(format!(
                    "grants {} to {}, which every pod without serviceAccountName uses",
                    rbac::describe_role_ref(binding),
                    rbac::describe_subject(s, binding)
                ))
            })
            .collect(),
    )
}
