use k8s_openapi::api::core::v1::ServiceAccount;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "service-account-token-automount",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Disable Service Account auto-mount",
    title: "Pods do not get an API token mounted",
    fails_when: "`automountServiceAccountToken` is not false on the pod, and, where the pod leaves it unset, not false on its ServiceAccount either (a namespace's `default` ServiceAccount exists even when the input lacks it); or a volume mounts a token anyway: a projected `serviceAccountToken` source, or a Secret the ServiceAccount lists among its token `secrets`",
    remediation: "Set `automountServiceAccountToken: false` on the pod or its ServiceAccount; mount a projected token only where the API is needed.",
    rule: "The ServiceAccount admission plugin mounts a token unless the pod's `automountServiceAccountToken` is false, or it is unset and the ServiceAccount's is false; a projected `serviceAccountToken` volume or a token Secret mounted as a volume gives a token whatever the setting. Source: `plugin/pkg/admission/serviceaccount/admission.go` (shouldAutomount); the `default` ServiceAccount from `pkg/controller/serviceaccount/serviceaccounts_controller.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::ServiceAccount],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let account = ctx.index.service_accounts.get(w.namespace(), w.service_account());
    // A token volume mounts a token whatever automountServiceAccountToken says: a projected
    // `serviceAccountToken` source, or a Secret volume of one of the account's token Secrets (listed in
    // its `secrets`; Vigil never reads Secrets themselves).
    let token_secrets: Vec<&str> =
        account.iter().flat_map(|sa| sa.secrets.iter().flatten()).filter_map(|s| s.name.as_deref()).collect();
    let mut violations: Vec<Violation> = w
        .spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            let projected = v
                .projected
                .as_ref()
                .is_some_and(|p| p.sources.iter().flatten().any(|s| s.service_account_token.is_some()));
            let secret = v.secret.as_ref().and_then(|s| s.secret_name.as_deref()).filter(|n| token_secrets.contains(n));
            match (projected, secret) {
                (true, _) => Some(format!("volume \"{}\" projects a ServiceAccount token", v.name)),
                (false, Some(secret)) => {
                    Some(format!("volume \"{}\" mounts the ServiceAccount token Secret \"{secret}\"", v.name))
                }
                _ => None,
            }
        })
        .map(Violation::object)
        .collect();
    if let Outcome::Fail(automount) = automount_outcome(w, account.map(|sa| &**sa)) {
        violations.extend(automount);
    }
    Outcome::from_violations(violations)
}

/// Whether the API server's ServiceAccount admission mounts the token: the pod's field, else its account's.
fn automount_outcome(w: &Workload, account: Option<&ServiceAccount>) -> Outcome {
    match w.spec.automount_service_account_token {
        Some(false) => return Outcome::Pass,
        Some(true) => return Outcome::fail("the pod sets automountServiceAccountToken: true"),
        // The pod leaves it to its ServiceAccount.
        None => {}
    }
    let name = w.service_account();
    let automount = match account {
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
