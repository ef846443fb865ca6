use k8s_openapi::api::core::v1::Namespace;
use vigil_crds::PodSecurityLevel;

use super::prelude::*;

const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

pub static CHECK: Check = Check {
    id: "pod-security-admission",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled with policies and exceptions managed by the SRE team",
    title: "Pod Security Admission enforces the required level",
    fails_when: "the label `pod-security.kubernetes.io/enforce` is missing, unknown, or weaker than the policy's required level (default `baseline`)",
    remediation: "Label the namespace `pod-security.kubernetes.io/enforce` with the required level (`baseline` or `restricted`).",
    rule: "Pod Security Admission enforces the level in the namespace label `pod-security.kubernetes.io/enforce` (`privileged` < `baseline` < `restricted`); an unknown value is not a level it enforces. Source: `staging/src/k8s.io/pod-security-admission/api/constants.go`, `api/helpers.go` (ParseLevel), `admission/admission.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Namespace(evaluate)],
};

fn evaluate(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    let required = ctx.policy.parameters.pod_security_level;
    let Some(value) = namespace.metadata.labels.as_ref().and_then(|l| l.get(ENFORCE_LABEL)) else {
        return Outcome::fail(format!("label {ENFORCE_LABEL} is missing (required: {})", required.as_str()));
    };
    match PodSecurityLevel::parse(value) {
        None => Outcome::fail(format!("label {ENFORCE_LABEL} has unknown level \"{value}\"")),
        Some(level) if level < required => Outcome::fail(format!(
            "label {ENFORCE_LABEL} is \"{value}\", weaker than the required \"{}\"",
            required.as_str()
        )),
        Some(_) => Outcome::Pass,
    }
}
