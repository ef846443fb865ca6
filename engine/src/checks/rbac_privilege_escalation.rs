use super::prelude::*;
use crate::checks::support::rbac;

pub static CHECK: Check = Check {
    id: "rbac-privilege-escalation",
    risk: 10,
    category: CheckCategory::Rbac,
    source: Source::Seed,
    seed_item: "Lock down 3rd party app RBAC, don't just accept what's in the docs",
    title: "Roles grant no way to gain further privileges",
    fails_when: "a role grants `escalate`, `bind` or `impersonate` (named on any resource, or through `*` verbs on roles \
        or identities); `create` on pods or workload resources together with get/list/watch/use on serviceaccounts \
        (its pods can run as any ServiceAccount of the namespace); `create` on `serviceaccounts/token`; any verb on \
        `nodes/proxy`; or `update`/`patch` on `certificatesigningrequests/approval` with `approve` on `signers`; an \
        all-wildcard rule is reported once",
    remediation: "Remove the escalation verbs and token, node proxy and CSR approval grants; split pod creation and \
        ServiceAccount access into roles held by different subjects.",
    rule: "RBAC lets `escalate` and `bind` holders grant roles beyond their own rights, `impersonate` act as other users, groups or ServiceAccounts, `create` on pods run pods as any ServiceAccount of the namespace, `create` on `serviceaccounts/token` mint tokens, `nodes/proxy` reach the kubelet API (exec), and CSR `approve` issue certificates. Source: `pkg/registry/rbac/escalation_check.go`; `staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`; `pkg/registry/core/serviceaccount/storage/token.go`; `pkg/kubelet/server/auth.go`; `plugin/pkg/admission/certificates/approval/admission.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Role(evaluate)],
};

fn evaluate(_ctx: &Ctx, role: &RoleView) -> Outcome {
    Outcome::from_violations(rbac::privilege_escalations(&role.rules).into_iter().map(Violation::object).collect())
}
