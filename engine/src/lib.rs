//! Vigil's evaluation engine: pure functions over typed Kubernetes objects. No API client, no I/O, no
//! clock: the operator and `vigil scan` both fill an [`Index`] and call [`audit`].

pub mod affected;
pub mod catalog;
mod checks;
pub mod docs;
pub mod evaluate;
pub mod index;
pub mod loader;
pub mod mesh;
pub mod network;
pub mod object;
pub mod outcome;
pub mod pod;
pub mod policy;
pub mod rbac;
pub mod releases;
pub mod report;
pub mod subject;

pub use catalog::{Category, Check, SubjectKind, catalog};
pub use evaluate::{CheckResult, Ctx, evaluate};
pub use index::{Index, ServerVersion};
pub use object::KubeObject;
pub use outcome::{Outcome, Violation};
pub use policy::Policy;
pub use report::Report;

use jiff::Timestamp;

/// Evaluates every subject in the index and builds its report; the `cluster` report carries the roll-up
/// over all the others. Reports come in a stable order.
pub fn audit(index: &Index, policy: &Policy, now: Timestamp) -> Vec<Report> {
    let mut reports = Vec::new();
    audit_each(index, policy, now, |report| reports.push(report));
    reports
}

/// [`audit`], handing each report to `sink` as soon as it is built (the `cluster` report, with the
/// roll-up over all the others, comes last), so a large scan never holds every report at once.
pub fn audit_each(index: &Index, policy: &Policy, now: Timestamp, mut sink: impl FnMut(Report)) {
    let ctx = Ctx { index, policy, now };
    let mut rollup = report::Rollup::default();
    let mut cluster = None;
    for subject in subject::all(index, policy) {
        let is_cluster = matches!(subject.object, subject::SubjectObject::Cluster);
        let built = build(&ctx, subject);
        if is_cluster {
            cluster = Some(built);
        } else {
            rollup.add(&built, policy);
            sink(built);
        }
    }
    if let Some(mut cluster) = cluster {
        // The roll-up covers every report, the cluster report's own checks included.
        rollup.add(&cluster, policy);
        if let Report::Cluster(c) = &mut cluster
            && let Some(status) = c.status.as_mut()
        {
            status.cluster = Some(rollup.finish());
        }
        sink(cluster);
    }
}

/// Evaluates one subject and builds its report.
pub fn build(ctx: &Ctx, subject: subject::SubjectEntry) -> Report {
    let results = evaluate(ctx, &subject);
    let (findings, passed) = report::findings_of(&results);
    let status = report::build_status(findings, passed, ctx.policy, ctx.now);
    report::build_report(subject.reference, status)
}
