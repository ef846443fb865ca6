//! Runs the catalog over one subject. Pure: the index, the policy and the time are inputs.

use std::borrow::Cow;

use jiff::Timestamp;

use crate::checks::catalog::{Check, CheckScope, Evaluator, SubjectKind, catalog};
use crate::checks::outcome::Outcome;
use crate::input::index::Index;
use crate::input::scope::InputScope;
use crate::policy::Policy;
use crate::policy::custom::CelInput;
use crate::subject::{SubjectEntry, SubjectObject};

/// What a check may read.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub index: &'a Index,
    pub policy: &'a Policy,
    /// "Now", for end-of-life dates and expiry. Never read the clock in a check.
    pub now: Timestamp,
}

/// One check's outcome on one subject, with the risk the policy gives it.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The check's id: a catalog id or one of the policy's custom checks.
    pub id: Cow<'static, str>,
    /// The catalog entry; `None` for a custom check.
    pub check: Option<&'static Check>,
    pub risk: u8,
    pub outcome: Outcome,
}

/// Evaluates every enabled check that applies to the subject, in catalog order, then the policy's custom
/// checks (on workloads) in the policy's order.
pub fn evaluate(ctx: &Ctx, subject: &SubjectEntry) -> Vec<CheckResult> {
    let kind = subject.kind();
    let mut results = Vec::new();
    for check in catalog().iter().copied().filter(|c| ctx.policy.is_enabled(c)) {
        for evaluator in check.evaluators.iter().filter(|e| e.subject_kind() == kind) {
            let outcome = if let Some(reason) = out_of_scope(ctx, check) {
                Outcome::NotApplicable(reason)
            } else if let Some(reason) = unavailable_input(ctx, check) {
                Outcome::Error(reason)
            } else {
                note_not_served(ctx, check, run(ctx, evaluator, &subject.object))
            };
            results.push(CheckResult {
                id: Cow::Borrowed(check.id),
                check: Some(check),
                risk: ctx.policy.risk(check),
                outcome,
            });
        }
    }
    if kind == SubjectKind::Workload {
        evaluate_custom(ctx, subject, &mut results);
    }
    results
}

/// Why a check is not judged on this input: it needs the whole cluster and the input is plain manifests.
pub fn out_of_scope(ctx: &Ctx, check: &Check) -> Option<String> {
    (check.scope == CheckScope::WholeCluster && ctx.index.scope == InputScope::Manifests).then(|| {
        "needs the whole cluster, not plain manifests: judged by `vigil scan --cluster`, on a whole-cluster dump \
         or with `--whole-cluster`"
            .to_string()
    })
}

/// Why a check cannot be judged: a kind it reads that the index could not fill (missing RBAC).
fn unavailable_input(ctx: &Ctx, check: &Check) -> Option<String> {
    check.reads.iter().find_map(|kind| ctx.index.unavailable.get(kind.name()).cloned())
}

/// A failure that rests on a kind the API server does not serve says so: it is judged as empty (none can
/// exist), and the reader learns why there are none.
fn note_not_served(ctx: &Ctx, check: &Check, outcome: Outcome) -> Outcome {
    let Outcome::Fail(mut violations) = outcome else { return outcome };
    let missing: Vec<&str> =
        check.reads.iter().map(|k| k.name()).filter(|k| ctx.index.not_served.contains(*k)).collect();
    if !missing.is_empty() {
        for v in &mut violations {
            v.message.push_str(&format!(" (this API server does not serve {})", missing.join(" or ")));
        }
    }
    Outcome::Fail(violations)
}

fn evaluate_custom(ctx: &Ctx, subject: &SubjectEntry, results: &mut Vec<CheckResult>) {
    let mut custom = ctx.policy.enabled_custom_checks().peekable();
    if custom.peek().is_none() {
        return;
    }
    // The workload's variables are converted once for all custom checks.
    let input = match &subject.object {
        SubjectObject::Workload(w) => CelInput::for_workload(ctx.index, w),
        SubjectObject::Invalid { reason, .. } => Err(reason.clone()),
        _ => Err("internal: custom checks only run on workloads".into()),
    };
    for check in custom {
        let outcome = match &input {
            Ok(input) => check.evaluate(input),
            Err(reason) => Outcome::Error(reason.clone()),
        };
        results.push(CheckResult {
            id: Cow::Owned(check.id.clone()),
            check: None,
            risk: ctx.policy.custom_risk(check),
            outcome,
        });
    }
}

fn run(ctx: &Ctx, evaluator: &Evaluator, object: &SubjectObject) -> Outcome {
    match (evaluator, object) {
        (_, SubjectObject::Invalid { reason, .. }) => Outcome::Error(reason.clone()),
        (Evaluator::Workload(f), SubjectObject::Workload(w)) => f(ctx, w),
        (Evaluator::Namespace(f), SubjectObject::Namespace(n)) => f(ctx, n),
        (Evaluator::Service(f), SubjectObject::Service(s)) => f(ctx, s),
        (Evaluator::Ingress(f), SubjectObject::Ingress(i)) => f(ctx, i),
        (Evaluator::Role(f), SubjectObject::Role(r)) => f(ctx, r),
        (Evaluator::Binding(f), SubjectObject::Binding(b)) => f(ctx, b),
        (Evaluator::Node(f), SubjectObject::Node(n)) => f(ctx, n),
        (Evaluator::Cluster(f), SubjectObject::Cluster) => f(ctx),
        // `evaluate` only pairs evaluators with subjects of their kind.
        _ => Outcome::Error("internal: evaluator and subject kinds differ".into()),
    }
}

#[cfg(test)]
mod unavailable_tests {
    #[test]
    fn a_kind_the_server_does_not_serve_is_judged_empty_and_named() {
        use crate::{Index, Policy, audit_with_policy};
        let mut index = Index::from_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n").unwrap();
        index.not_served.insert("ValidatingAdmissionPolicy".into());
        let reports = audit_with_policy(&index, &Policy::default(), "2026-12-04T00:00:00Z".parse().unwrap());
        let cluster = reports.iter().find(|r| r.subject().kind == "Cluster").unwrap();
        let finding =
            cluster.status().findings.iter().find(|f| f.check_id == "admission-policy-enforced").expect("a finding");
        assert_eq!(finding.result, vigil_crds::FindingResult::Fail);
        assert!(finding.message.contains("does not serve ValidatingAdmissionPolicy"), "{}", finding.message);
    }

    use super::*;
    use crate::subject;

    #[test]
    fn a_kind_vigil_may_not_list_makes_the_checks_that_read_it_error() {
        let mut index = Index::from_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n").unwrap();
        let reason = "Vigil may not list NetworkPolicy: forbidden";
        index.unavailable.insert("NetworkPolicy".into(), reason.into());
        let policy = Policy::default();
        let ctx = Ctx { index: &index, policy: &policy, now: "2026-11-27T00:00:00Z".parse().unwrap() };
        let namespace = subject::all(&index, &crate::PolicySet::default())
            .into_iter()
            .find(|s| s.reference.kind == "Namespace")
            .unwrap();
        let results = evaluate(&ctx, &namespace);
        let outcome = |id: &str| results.iter().find(|r| r.id == id).map(|r| r.outcome.clone()).unwrap();
        assert_eq!(outcome("network-policy-default-deny"), Outcome::Error(reason.into()));
        // Checks that do not read NetworkPolicies are judged as usual.
        assert!(matches!(outcome("resource-quota"), Outcome::Fail(_)));
    }
}

#[cfg(test)]
mod scope_tests {
    use crate::checks::catalog::{CheckScope, catalog};
    use crate::input::scope::InputScope;
    use crate::{Index, Policy, audit_with_policy};
    use vigil_crds::FindingResult;

    const INPUT: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: \"nginx:1.27\"}]}\n";

    /// Each check's results over every report, by id (`None`: passed).
    fn results(index: &Index) -> std::collections::BTreeMap<String, Vec<(Option<FindingResult>, String)>> {
        let mut out = std::collections::BTreeMap::<String, Vec<_>>::new();
        for report in audit_with_policy(index, &Policy::default(), "2026-12-04T00:00:00Z".parse().unwrap()) {
            for f in &report.status().findings {
                out.entry(f.check_id.clone()).or_default().push((Some(f.result), f.message.clone()));
            }
            for id in &report.status().passed {
                out.entry(id.clone()).or_default().push((None, String::new()));
            }
        }
        out
    }

    #[test]
    fn on_plain_manifests_only_whole_cluster_checks_are_not_applicable_and_say_how_to_judge_them() {
        let whole = Index::from_yaml(INPUT).unwrap();
        let mut manifests = Index::from_yaml(INPUT).unwrap();
        manifests.scope = InputScope::Manifests;
        let (whole, manifests) = (results(&whole), results(&manifests));
        // On the whole cluster, cluster checks are judged (this inventory has no admission policy).
        assert!(whole["image-signature-enforced"].iter().any(|(r, _)| *r == Some(FindingResult::Fail)));
        for check in catalog().iter().filter(|c| c.enabled_by_default) {
            let (Some(w), Some(m)) = (whole.get(check.id), manifests.get(check.id)) else { continue };
            match check.scope {
                CheckScope::WholeCluster => {
                    assert!(
                        m.iter().all(|(r, why)| *r == Some(FindingResult::NotApplicable) && why.contains("--cluster")),
                        "{}: {m:?}",
                        check.id
                    );
                }
                CheckScope::Manifests => assert_eq!(w, m, "{} changed with the scope", check.id),
            }
        }
        assert!(manifests.contains_key("network-policy-default-deny") && manifests.contains_key("run-as-non-root"));
    }
}
