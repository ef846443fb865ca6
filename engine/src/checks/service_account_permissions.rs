use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "service-account-permissions",
    risk: 9,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Lock down 3rd party app RBAC; restrict who can exec onto these pods",
    title: "Workloads' ServiceAccounts hold no dangerous permissions",
    fails_when: "a binding reaching the workload's ServiceAccount (a RoleBinding in any namespace or a ClusterRoleBinding, \
        naming it, its username, or the groups `system:serviceaccounts`, `system:serviceaccounts:<ns>` or \
        `system:authenticated`; `system:` bindings included) grants cluster-admin, `*` verbs or resources, \
        get/list/watch on secrets, create/get on pods/exec or pods/attach, or escalate/bind/impersonate; a referenced \
        ClusterRole missing from the input is judged by its bootstrap default (`edit`, `admin`, ...; aggregation \
        resolved), and one that is neither there nor a default counts as harmless",
    remediation: "Give the workload its own ServiceAccount bound to a Role with only the verbs and resources it uses; \
        remove wildcard, secrets, exec and escalation grants.",
    rule: "The RBAC authorizer grants a ServiceAccount what every binding naming it, its username `system:serviceaccount:<ns>:<name>` or its groups (`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`) grants, a RoleBinding only in its own namespace; aggregated ClusterRoles hold the union of the selected roles, and missing default roles are their bootstrap definitions. Source: `plugin/pkg/auth/authorizer/rbac/rbac.go`, `pkg/registry/rbac/validation/rule.go` (VisitRulesFor, appliesToUser), `staging/src/k8s.io/apiserver/pkg/authentication/serviceaccount/util.go`, `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::RoleBinding, Kind::ClusterRoleBinding, Kind::Role, Kind::ClusterRole],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let (namespace, account) = (w.namespace(), w.service_account());
    let mut violations = Vec::new();
    for binding in rbac::bindings_reaching_service_account(ctx.index, namespace, account) {
        let role = rbac::resolve_role(ctx.index, &binding);
        let dangers = rbac::binding_dangers(&binding, role.as_ref());
        if dangers.is_empty() {
            continue;
        }
        // A RoleBinding grants only within its namespace, even when it references a ClusterRole; one in
        // another namespace than the account's grants it rights there.
        let namespace_scoped = binding.namespace.is_some();
        let scope = match binding.namespace {
            Some(there) if there != namespace => format!(" in namespace \"{there}\""),
            Some(_) if binding.role_ref.kind == "ClusterRole" => " (namespace-scoped)".to_string(),
            _ => String::new(),
        };
        let through = match rbac::subject_reaching_service_account(&binding, namespace, account) {
            Some(s) if s.kind == "Group" => format!(" (as Group \"{}\")", s.name),
            _ => String::new(),
        };
        for (danger, rules) in dangers {
            let rules = if rules.is_empty() { String::new() } else { format!(" ({})", rbac::rule_indices(&rules)) };
            violations.push(Violation::object(format!(
                "ServiceAccount \"{account}\" {} via {} \"{}\"{through} -> {}{rules}{scope}",
                danger.describe(namespace_scoped),
                binding.kind(),
                binding.name,
                rbac::describe_role_ref(&binding),
            )));
        }
    }
    Outcome::from_violations(violations)
}
