//! Vigil's evaluation engine: pure functions over typed Kubernetes objects. No API client, no I/O, no
//! clock: the operator and `vigil scan` both fill an [`Index`] and call [`audit`] (or [`report_for`]).
//!
//! The modules follow the data, one stage each:
//! - [`input`]: the registry of kinds, objects, the loader (files) and the [`Index`] both front doors fill;
//! - [`subject`]: what gets a report (top-level owners, namespaces, RBAC objects, ...) and which subjects a
//!   change affects;
//! - [`policy`]: SecurityPolicies and exceptions compiled, the [`PolicySet`] and the [`PolicyStore`];
//! - [`checks`]: the check table, one module per check, their support helpers, evaluation;
//! - [`report`]: findings -> report status, report names, the cluster roll-up, conditions and PolicyReports.

// The folders follow the data: input -> subject -> policy -> checks -> report.
pub mod checks;
pub mod frameworks;
pub mod input;
pub mod pod_security;
pub mod policy;
pub mod report;
pub mod subject;

pub use checks::catalog::{Check, CheckCategory, SubjectKind, catalog};
pub use checks::evaluate::{CheckResult, Ctx, evaluate};
pub use checks::outcome::{Outcome, Violation};
pub use input::index::{Index, ServerVersion};
pub use input::kinds::Kind;
pub use input::object::KubeObject;
pub use policy::Policy;
pub use policy::compile::{PolicyError, PolicyProblem, compile_policy, policy_status};
pub use policy::exceptions::{
    Exception, ExceptionError, Exceptions, compile_cluster_exception, compile_exception, exception_status, next_expiry,
    waived_counts,
};
pub use policy::set::PolicySet;
pub use policy::store::{PolicyStore, StatusUpdate};
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
    let mut status = report::build_status(findings, passed, ctx.policy, ctx.now);
    if let subject::SubjectObject::Namespace(namespace) = &subject.object {
        status.pod_security = Some(pod_security::namespace_readiness(ctx.index, namespace));
    }
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
