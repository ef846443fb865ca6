//! Vigil's evaluation engine: pure functions over typed Kubernetes objects. No API client, no I/O, no
//! clock: the operator and `vigil scan` both fill an [`Index`] and call [`audit`].

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
    let ctx = Ctx { index, policy, now };
    let mut reports = Vec::new();
    let mut cluster = None;
    for subject in subject::all(index, policy) {
        let results = evaluate(&ctx, &subject);
        let (findings, passed) = report::findings_of(&results);
        let status = report::build_status(findings, passed, policy, now);
        let is_cluster = matches!(subject.object, subject::SubjectObject::Cluster);
        let built = report::build_report(subject.reference, status);
        if is_cluster {
            cluster = Some(built);
        } else {
            reports.push(built);
        }
    }
    if let Some(Report::Cluster(mut c)) = cluster {
        // The roll-up covers every report, the cluster report's own checks included.
        let own = Report::Cluster(c.clone());
        let rollup = report::rollup(reports.iter().chain(std::iter::once(&own)), policy);
        if let Some(status) = c.status.as_mut() {
            status.cluster = Some(rollup);
        }
        reports.push(Report::Cluster(c));
    }
    reports
}
