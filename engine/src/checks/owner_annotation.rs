use super::prelude::*;

pub static CHECK: Check = Check {
    id: "owner-annotation",
    risk: 3,
    category: CheckCategory::Governance,
    source: Source::Seed,
    seed_item: "Have an annotation for each deployment with owner email, so we can find the dev owner of that app",
    title: "Workloads name their owner's e-mail address",
    fails_when: "the owner annotation named by the policy (default `owner`) is missing or empty on the workload and its pod template, or is not one e-mail address",
    remediation: "Annotate the workload with its owner's e-mail address, e.g. `owner: team-payments@example.com`.",
    rule: "Kubernetes gives annotations no meaning; the annotation key and the e-mail form are the policy's convention, read from `metadata.annotations` of the workload and its pod template. Source: the policy's `ownerAnnotation` parameter; `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go` (ObjectMeta).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let key = ctx.policy.parameters.owner_annotation.as_str();
    if key.is_empty() {
        return Outcome::not_applicable("the policy names no owner annotation (ownerAnnotation)");
    }
    // The workload's own annotation wins; the pod template's is the fallback.
    let value = [w.meta, &*w.template_meta]
        .into_iter()
        .find_map(|meta| meta.annotations.as_ref()?.get(key).filter(|v| !v.is_empty()));
    match value {
        None => Outcome::fail(format!("annotation \"{key}\" is missing")),
        Some(v) if is_email(v) => Outcome::Pass,
        Some(v) => Outcome::fail(format!("annotation \"{key}\" value {v:?} is not an e-mail address")),
    }
}

/// A deliberately plain test: one `@`, a non-empty local part, a dotted domain, no whitespace.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::is_email;

    #[test]
    fn emails() {
        assert!(is_email("team-payments@example.com"));
        assert!(is_email("a.b+ops@sub.example.org"));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@localhost",
            "a@b@example.com",
            "alice @example.com",
            "a@.com",
            "a@example.",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
