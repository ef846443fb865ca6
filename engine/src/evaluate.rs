//! Runs the catalog over one subject. Pure: the index, the policy and the time are inputs.

use jiff::Timestamp;

use crate::catalog::{Check, Evaluator, catalog};
use crate::index::Index;
use crate::outcome::Outcome;
use crate::policy::Policy;
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
    pub check: &'static Check,
    pub risk: u8,
    pub outcome: Outcome,
}

/// Evaluates every enabled check that applies to the subject, in catalog order.
pub fn evaluate(ctx: &Ctx, subject: &SubjectEntry) -> Vec<CheckResult> {
    let kind = subject.kind();
    let mut results = Vec::new();
    for check in catalog().iter().copied().filter(|c| ctx.policy.is_enabled(c)) {
        for evaluator in check.evaluators.iter().filter(|e| e.subject_kind() == kind) {
            let outcome = run(ctx, evaluator, &subject.object);
            results.push(CheckResult { check, risk: ctx.policy.risk(check), outcome });
        }
    }
    results
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
