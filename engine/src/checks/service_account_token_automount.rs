use super::prelude::*;

pub static CHECK: Check = Check {
    id: "service-account-token-automount",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Disable Service Account auto-mount",
    title: "Pods do not get an API token mounted",
    fails_when: "`automountServiceAccountToken` is not false on the pod, and, where the pod leaves it unset, not false on its ServiceAccount either",
    remediation: "Set `automountServiceAccountToken: false` on the pod or its ServiceAccount; mount a projected token only where the API is needed.",
    enabled_by_default: true,
    reads: &[Kind::ServiceAccount],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    match w.spec.automount_service_account_token {
        Some(false) => return Outcome::Pass,
        Some(true) => return Outcome::fail("the pod sets automountServiceAccountToken: true"),
        // The pod leaves it to its ServiceAccount.
        None => {}
    }
    let name = w.service_account();
    let automount = match ctx.index.service_accounts.get(w.namespace(), name) {
        Some(sa) => sa.automount_service_account_token,
        // Every namespace has a "default" ServiceAccount, created with the field unset by the
        // controller-manager's serviceaccounts controller (pkg/controller/serviceaccount/
        // serviceaccounts_controller.go), so a manifest that lacks it is judged as the cluster will be.
        None if name == "default" => None,
        None => {
            return Outcome::fail(format!("ServiceAccount \"{name}\" not found; Kubernetes mounts the token by default"));
        }
    };
    match automount {
        Some(false) => Outcome::Pass,
        Some(true) => Outcome::fail(format!(
            "automountServiceAccountToken is unset on the pod and ServiceAccount \"{name}\" sets it to true"
        )),
        None => Outcome::fail(format!(
            "automountServiceAccountToken is unset on the pod and on ServiceAccount \"{name}\", so the token is mounted"
        )),
    }
}
