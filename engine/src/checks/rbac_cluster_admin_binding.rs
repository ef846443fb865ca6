use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-cluster-admin-binding",
    risk: 10,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Lock down 3rd party app RBAC, don't just accept what's in the docs. Try with lower permissions",
    title: "Only built-in system identities hold cluster-admin",
    fails_when: "a binding references ClusterRole `cluster-admin`, or a role (an aggregated ClusterRole: with the rules \
        it aggregates) with a `*` verbs on `*` resources in `*` apiGroups rule, and names a subject other than Group \
        `system:masters` or kubeadm's `kubeadm:cluster-admins` (`system:` users and groups such as `system:nodes`, \
        `system:anonymous` or `system:authenticated` fail: the bootstrap policy binds none of them to cluster-admin); \
        the bootstrap policy's own bindings are judged only with `includeSystemRbac`, and a binding is one only when \
        it is labelled `kubernetes.io/bootstrapping=rbac-defaults` and grants exactly what the default grants",
    remediation: "Bind a role with only the permissions the subject needs; keep cluster-admin for break-glass \
        identities.",
    rule: "The RBAC bootstrap policy binds `cluster-admin` only to the group `system:masters` (kubeadm adds `kubeadm:cluster-admins`); defaults are the objects labelled `kubernetes.io/bootstrapping=rbac-defaults`, and an aggregated ClusterRole grants the union of the roles its `aggregationRule` selects. Source: `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`; `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::Role, Kind::ClusterRole],
    evaluators: &[Evaluator::Binding(evaluate)],
};

fn evaluate(ctx: &Ctx, binding: &BindingView) -> Outcome {
    let role = rbac::resolve_role(ctx.index, binding);
    let Some(reason) = rbac::cluster_admin_reason(binding, role.as_ref()) else {
        return Outcome::Pass;
    };
    let granted = if rbac::is_cluster_admin_ref(binding) {
        rbac::describe_role_ref(binding)
    } else {
        format!("{} ({reason})", rbac::describe_role_ref(binding))
    };
    let scope = binding.namespace.map(|n| format!(" in namespace \"{n}\"")).unwrap_or_default();
    Outcome::from_violations(
        binding
            .subjects
            .iter()
            .filter(|s| !rbac::is_builtin_admin_subject(s))
            .map(|s| Violation::object(format!("grants {granted} to {}{scope}", rbac::describe_subject(s, binding))))
            .collect(),
    )
}
