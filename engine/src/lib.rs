//! Vigil's evaluation engine: pure functions over typed Kubernetes objects. No API client, no I/O, no
//! clock: the operator and `vigil scan` both fill an [`Index`] and call [`audit`].

pub mod affected;
pub mod catalog;
mod checks;
pub mod conditions;
pub mod custom;
pub mod docs;
pub mod evaluate;
pub mod exceptions;
pub mod glob;
pub mod index;
pub mod kinds;
pub mod loader;
pub mod mesh;
pub mod network;
pub mod object;
pub mod outcome;
pub mod pod;
pub mod policy;
pub mod policy_report;
pub mod policy_set;
pub mod policy_store;
pub mod rbac;
pub mod releases;
pub mod report;
pub mod subject;

pub use catalog::{Check, CheckCategory, SubjectKind, catalog};
pub use evaluate::{CheckResult, Ctx, evaluate};
pub use exceptions::{
    Exception, ExceptionError, Exceptions, compile_cluster_exception, compile_exception, exception_status, next_expiry,
    waived_counts,
};
pub use index::{Index, ServerVersion};
pub use kinds::Kind;
pub use object::KubeObject;
pub use outcome::{Outcome, Violation};
pub use policy::Policy;
pub use policy_set::{PolicyError, PolicyProblem, PolicySet, compile_policy, policy_status};
pub use policy_store::{PolicyStore, StatusUpdate};
pub use report::Report;

use jiff::Timestamp;
use subject::{SubjectEntry, SubjectKey, SubjectObject};

/// Evaluates every subject in the index, each by the policy that judges it, applies the exceptions, and
/// builds the reports; the `cluster` report carries the roll-up over all the others. Reports come in a
/// stable order.
pub fn audit(index: &Index, policies: &PolicySet, exceptions: &Exceptions, now: Timestamp) -> Vec<Report> {
    let mut reports = Vec::new();
    audit_each(index, policies, exceptions, now, |report| reports.push(report));
    reports
}

/// [`audit`], handing each report to `sink` as soon as it is built (the `cluster` report, with the
/// roll-up over all the others, comes last), so a large scan never holds every report at once.
pub fn audit_each(
    index: &Index,
    policies: &PolicySet,
    exceptions: &Exceptions,
    now: Timestamp,
    mut sink: impl FnMut(Report),
) {
    let mut rollup = report::Rollup::default();
    let mut cluster = None;
    for subject in subject::all(index, policies) {
        let is_cluster = matches!(subject.object, SubjectObject::Cluster);
        let (built, tally) = judge(index, policies, exceptions, subject, now);
        if is_cluster {
            cluster = Some((built, tally));
        } else {
            rollup.add_tally(&tally);
            sink(built);
        }
    }
    if let Some((mut cluster, tally)) = cluster {
        // The roll-up covers every report, the cluster report's own checks included.
        rollup.add_tally(&tally);
        attach_rollup(&mut cluster, rollup);
        sink(cluster);
    }
}

/// Puts the roll-up into the `cluster` report (any other report is left as it is).
pub fn attach_rollup(cluster: &mut Report, rollup: report::Rollup) {
    if let Report::Cluster(c) = cluster
        && let Some(status) = c.status.as_mut()
    {
        status.cluster = Some(rollup.finish());
    }
}

/// [`audit`] by one policy for every subject and no exceptions.
pub fn audit_with_policy(index: &Index, policy: &Policy, now: Timestamp) -> Vec<Report> {
    audit(index, &PolicySet::single(policy.clone()), &Exceptions::default(), now)
}

/// Judges one subject: picks its policy, evaluates, waives what the exceptions cover, and builds its
/// report and its contribution to the roll-up (its checks weighed by that policy).
fn judge(
    index: &Index,
    policies: &PolicySet,
    exceptions: &Exceptions,
    subject: SubjectEntry,
    now: Timestamp,
) -> (Report, report::Tally) {
    let policy = policies.for_subject(index, &subject.reference);
    let built = build(&Ctx { index, policy, now }, exceptions, subject);
    let tally = report::Tally::by(&built, policy);
    (built, tally)
}

/// Evaluates one subject by `ctx.policy`, waives what the exceptions cover, and builds its report.
pub fn build(ctx: &Ctx, exceptions: &Exceptions, subject: SubjectEntry) -> Report {
    let results = evaluate(ctx, &subject);
    let (mut findings, passed) = report::findings_of(&results);
    exceptions.apply(ctx.index, &subject, &mut findings, ctx.now);
    let status = report::build_status(findings, passed, ctx.policy, ctx.now);
    report::build_report(subject.reference, status)
}

/// The report of one subject and its tally, as [`audit`] builds them (for the `cluster` subject: without
/// the roll-up, which needs every other report; see [`attach_rollup`]). `None` when the key names no
/// subject.
pub fn report_for(
    index: &Index,
    policies: &PolicySet,
    exceptions: &Exceptions,
    key: &SubjectKey,
    now: Timestamp,
) -> Option<(Report, report::Tally)> {
    let subject = subject::find(index, policies, key)?;
    Some(judge(index, policies, exceptions, subject, now))
}
