use super::admission_policy_enforced::{contains_words, webhook_names};
use super::prelude::*;
use crate::input::object::CustomObject;

pub static CHECK: Check = Check {
    id: "image-signature-enforced",
    risk: 9,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Image must be scanned for vulnerability and signed before it can be deployed in prod; Binary Auth",
    title: "An admission policy verifies image signatures",
    fails_when: "no admission policy verifies image signatures: no Kyverno `verifyImages` rule, no Sigstore \
                 ClusterImagePolicy, and no Ratify, Connaisseur or Sigstore policy-controller webhook",
    remediation: "Sign images in CI (e.g. cosign) and verify them at admission with Kyverno `verifyImages`, the \
                  Sigstore policy-controller, Ratify or Connaisseur.",
    rule: "Kubernetes does not verify image signatures itself; only an admission webhook or policy (Kyverno `verifyImages`, Sigstore policy-controller, Ratify, Connaisseur) can refuse unsigned images. Source: admission webhooks, `staging/src/k8s.io/api/admissionregistration/v1/types.go`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::ValidatingWebhookConfiguration],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

/// Substrings of a validating webhook's names that mark a signature-verifying admission controller.
const SIGNATURE_WEBHOOKS: &[&str] = &["ratify", "connaisseur", "policy.sigstore.dev"];

fn evaluate(ctx: &Ctx) -> Outcome {
    let policies = &ctx.index.image_policies;
    if policies.iter().any(|p| is_kyverno_verify_images(p) || is_sigstore_image_policy(p)) {
        return Outcome::Pass;
    }
    let webhooks: Vec<Vec<String>> = ctx.index.validating_webhooks.iter().map(|c| webhook_names(c)).collect();
    let mentions = |term: &str| webhooks.iter().flatten().any(|name| name.contains(term));
    if SIGNATURE_WEBHOOKS.iter().any(|term| mentions(term)) {
        return Outcome::Pass;
    }
    // Ratify has no webhook of its own: Gatekeeper calls it as an external data provider.
    let gatekeeper = webhooks.iter().flatten().any(|name| contains_words(name, "gatekeeper"));
    if gatekeeper && policies.iter().any(|p| p.api_version.starts_with("config.ratify.deislabs.io/")) {
        return Outcome::Pass;
    }
    Outcome::fail(
        "no admission policy verifies image signatures (no Kyverno verifyImages rule, Sigstore ClusterImagePolicy, \
         or Ratify, Connaisseur or Sigstore webhook)",
    )
}

/// A Kyverno ClusterPolicy or Policy with a rule that has `verifyImages` entries.
fn is_kyverno_verify_images(policy: &CustomObject) -> bool {
    let rules = policy.spec.get("rules").and_then(|r| r.as_array());
    policy.api_version.starts_with("kyverno.io/")
        && matches!(policy.kind.as_str(), "ClusterPolicy" | "Policy")
        && rules
            .into_iter()
            .flatten()
            .any(|rule| rule.get("verifyImages").and_then(|v| v.as_array()).is_some_and(|entries| !entries.is_empty()))
}

fn is_sigstore_image_policy(policy: &CustomObject) -> bool {
    policy.api_version.starts_with("policy.sigstore.dev/") && policy.kind == "ClusterImagePolicy"
}
