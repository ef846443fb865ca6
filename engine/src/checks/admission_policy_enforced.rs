use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "admission-policy-enforced",
    risk: 9,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Admission controller where InfoSec & SRE enforce policies in prod",
    title: "An admission policy engine enforces policies",
    fails_when: "no ValidatingAdmissionPolicyBinding denies with an existing policy, no validating webhook of a known \
                 policy engine (Kyverno, Gatekeeper, Kubewarden, ...) is registered, and not every non-system \
                 namespace enforces a Pod Security Admission level",
    remediation: "Install a policy engine (ValidatingAdmissionPolicy, Kyverno, Gatekeeper, ...) that denies \
                  non-compliant objects, or label every namespace with `pod-security.kubernetes.io/enforce`.",
    rule: "A ValidatingAdmissionPolicy rejects requests only through a binding whose `validationActions` include Deny and whose policy exists; validating webhooks and Pod Security Admission labels are the other ways the API server refuses objects. Source: `staging/src/k8s.io/api/admissionregistration/v1/types.go` (ValidatingAdmissionPolicyBinding); `staging/src/k8s.io/pod-security-admission/admission/admission.go`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::ValidatingAdmissionPolicy, Kind::ValidatingAdmissionPolicyBinding, Kind::ValidatingWebhookConfiguration, Kind::Namespace],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

/// Policy engines that register validating webhooks, matched as whole words of a webhook's names so that
/// `opa` does not match `propagation`.
const POLICY_ENGINES: &[&str] = &[
    "kyverno",
    "gatekeeper",
    "kubewarden",
    "datree",
    "kube-policy",
    "polaris",
    "opa",
    "jspolicy",
    "sigstore",
    "policy-controller",
];

const PSA_ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// How many namespaces a message names before it summarises.
const NAMESPACES_LISTED: usize = 5;

fn evaluate(ctx: &Ctx) -> Outcome {
    if has_denying_policy_binding(ctx) || ctx.index.validating_webhooks.iter().any(|c| is_policy_engine(c)) {
        return Outcome::Pass;
    }
    let unlabelled = namespaces_without_enforcement(ctx);
    if unlabelled.as_ref().is_ok_and(Vec::is_empty) {
        return Outcome::Pass;
    }
    let bindings = match ctx.index.admission_policy_bindings.len() {
        0 => "no ValidatingAdmissionPolicyBinding".to_string(),
        n => format!("no ValidatingAdmissionPolicyBinding denies with an existing policy ({n} seen)"),
    };
    let pod_security = match unlabelled {
        Err(reason) => reason,
        Ok(names) => {
            let mut listed = names.iter().take(NAMESPACES_LISTED).cloned().collect::<Vec<_>>().join(", ");
            if names.len() > NAMESPACES_LISTED {
                listed.push_str(&format!(" and {} more", names.len() - NAMESPACES_LISTED));
            }
            format!("namespaces without an enforcing {PSA_ENFORCE_LABEL} label: {listed}")
        }
    };
    Outcome::Fail(vec![
        Violation::object(bindings),
        Violation::object("no validating webhook of a known policy engine (Kyverno, Gatekeeper, Kubewarden, OPA, ...)"),
        Violation::object(pod_security),
    ])
}

/// A binding that denies (`validationActions` includes Deny, or is unset) for a policy the index holds.
fn has_denying_policy_binding(ctx: &Ctx) -> bool {
    ctx.index.admission_policy_bindings.iter().filter_map(|b| b.spec.as_ref()).any(|spec| {
        let denies = spec.validation_actions.as_ref().is_none_or(|a| a.is_empty() || a.iter().any(|a| a == "Deny"));
        let policy_exists =
            spec.policy_name.as_deref().is_some_and(|p| ctx.index.admission_policies.get("", p).is_some());
        denies && policy_exists
    })
}

/// The non-system namespaces that do not enforce a Pod Security level, or why none can be judged. A label
/// of `privileged` enforces nothing, so it does not count.
fn namespaces_without_enforcement(ctx: &Ctx) -> Result<Vec<String>, String> {
    let names: Vec<&str> = ctx
        .index
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .filter(|n| !ctx.policy.is_system_namespace(n))
        .collect();
    if names.is_empty() {
        return Err("no non-system Namespace in the inventory to enforce Pod Security Admission on".into());
    }
    Ok(names
        .into_iter()
        .filter(|n| {
            let level = ctx.index.namespace_labels(n).and_then(|l| l.get(PSA_ENFORCE_LABEL));
            level.is_none_or(|level| level == "privileged")
        })
        .map(String::from)
        .collect())
}

fn is_policy_engine(config: &ValidatingWebhookConfiguration) -> bool {
    webhook_names(config).iter().any(|name| POLICY_ENGINES.iter().any(|engine| contains_words(name, engine)))
}

/// Everything that names a webhook configuration's backend, lowercased: the configuration's name, its
/// webhooks' names, and their services' names or URLs.
pub(super) fn webhook_names(config: &ValidatingWebhookConfiguration) -> Vec<String> {
    let mut names: Vec<&str> = config.metadata.name.iter().map(String::as_str).collect();
    for webhook in config.webhooks.iter().flatten() {
        names.push(&webhook.name);
        names.extend(webhook.client_config.service.as_ref().map(|s| s.name.as_str()));
        names.extend(webhook.client_config.url.as_deref());
    }
    names.into_iter().map(str::to_lowercase).collect()
}

/// True when the words of `term` (split on `-`) occur consecutively among the words of `text`.
pub(super) fn contains_words(text: &str, term: &str) -> bool {
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let wanted: Vec<&str> = term.split('-').collect();
    words.windows(wanted.len()).any(|w| w == wanted.as_slice())
}

#[cfg(test)]
mod tests {
    use super::contains_words;

    #[test]
    fn engine_names_match_whole_words() {
        assert!(contains_words("validate.kyverno.svc-fail", "kyverno"));
        assert!(contains_words("opa-validating-webhook", "opa"));
        assert!(contains_words("webhook.policy-controller.sigstore", "policy-controller"));
        assert!(!contains_words("propagation-webhook", "opa"));
        assert!(!contains_words("policy-webhook", "policy-controller"));
    }
}
