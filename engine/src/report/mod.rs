//! Findings -> SecurityReport / ClusterSecurityReport. Deterministic: the same inputs give the same bytes,
//! so "did anything change?" is a comparison.

pub mod conditions;
pub mod naming;
pub mod open_report;
pub mod policy_report;
pub mod policy_results;
pub mod rollup;

use naming::report_metadata;
pub use naming::{label_value, labels, mirror_name, report_location, report_name};
pub use policy_results::ResultFilter;
pub use rollup::{Rollup, Tallies, Tally, score_of};

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use vigil_crds::{
    ClusterSecurityReport, ClusterSecurityReportSpec, Finding, FindingResult, ReportStatus, SecurityReport,
    SecurityReportSpec, Severity, Subject, Summary,
};

use crate::checks::evaluate::CheckResult;
use crate::checks::outcome::Outcome;
use crate::policy::Policy;

/// A finished report: namespaced or cluster-scoped.
#[derive(Clone, Debug)]
pub enum Report {
    Namespaced(SecurityReport),
    Cluster(ClusterSecurityReport),
}

impl Report {
    pub fn status(&self) -> &ReportStatus {
        let status = match self {
            Report::Namespaced(r) => &r.status,
            Report::Cluster(r) => &r.status,
        };
        status.as_ref().expect("built reports always have a status")
    }

    pub fn subject(&self) -> &Subject {
        match self {
            Report::Namespaced(r) => &r.spec.subject,
            Report::Cluster(r) => &r.spec.subject,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Report::Namespaced(r) => &r.metadata,
            Report::Cluster(r) => &r.metadata,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Report::Namespaced(r) => serde_json::to_value(r),
            Report::Cluster(r) => serde_json::to_value(r),
        }
        .expect("reports always serialize")
    }
}

/// `round(100 * (1 - failed_risk / evaluated_risk))`; 100 when nothing was evaluated.
pub fn score(results: &[(u8, bool)]) -> u8 {
    let evaluated: u64 = results.iter().map(|(risk, _)| *risk as u64).sum();
    let failed: u64 = results.iter().filter(|(_, failed)| *failed).map(|(risk, _)| *risk as u64).sum();
    score_of(evaluated, failed)
}

/// Builds a report's status from findings and passed ids. Exceptions are applied beforehand (a `Fail`
/// finding turned `Waived` counts as passed in the score).
pub fn build_status(findings: Vec<Finding>, passed: Vec<String>, policy: &Policy, now: Timestamp) -> ReportStatus {
    let checks = check_states(&findings, &passed, policy);
    let mut summary = Summary { pass: passed.len() as u32, ..Summary::default() };
    for state in checks.values() {
        match state.result {
            CheckState::Failed => {
                summary.fail += 1;
                // Failing checks by severity (what `kubectl get` shows).
                match Severity::from_risk(state.risk) {
                    Severity::Critical => summary.critical += 1,
                    Severity::High => summary.high += 1,
                    Severity::Medium => summary.medium += 1,
                    Severity::Low => summary.low += 1,
                }
            }
            CheckState::Waived => summary.waived += 1,
            CheckState::NotApplicable => summary.not_applicable += 1,
            CheckState::Error => summary.error += 1,
            CheckState::Passed => {}
        }
    }
    let scored: Vec<(u8, bool)> = checks.values().filter_map(CheckSummary::scored).collect();
    let conditions = vec![compliant_condition(&findings, policy, now)];
    ReportStatus {
        score: score(&scored),
        summary,
        findings,
        passed,
        evaluated_at: Some(Time(now)),
        policy: Some(policy.name.clone()),
        cluster: None,
        pod_security: None,
        conditions,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CheckState {
    Passed,
    NotApplicable,
    Error,
    Waived,
    Failed,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckSummary {
    risk: u8,
    result: CheckState,
}

impl CheckSummary {
    /// `(risk, failed)` when the check counts in the score.
    pub(crate) fn scored(&self) -> Option<(u8, bool)> {
        match self.result {
            CheckState::Passed | CheckState::Waived => Some((self.risk, false)),
            CheckState::Failed => Some((self.risk, true)),
            CheckState::NotApplicable | CheckState::Error => None,
        }
    }
}

/// One state per check id: the worst of its findings (Fail over Waived over Error over NotApplicable).
pub(crate) fn check_states<'a>(
    findings: &'a [Finding],
    passed: &'a [String],
    policy: &Policy,
) -> BTreeMap<&'a str, CheckSummary> {
    let mut checks: BTreeMap<&str, CheckSummary> = BTreeMap::new();
    for f in findings {
        let state = match f.result {
            FindingResult::Fail => CheckState::Failed,
            FindingResult::Waived => CheckState::Waived,
            FindingResult::NotApplicable => CheckState::NotApplicable,
            FindingResult::Error => CheckState::Error,
        };
        let entry = checks.entry(&f.check_id).or_insert(CheckSummary { risk: f.risk, result: state });
        entry.result = entry.result.max(state);
    }
    for id in passed {
        let risk = policy.risk_of(id).unwrap_or(0);
        checks.entry(id).or_insert(CheckSummary { risk, result: CheckState::Passed });
    }
    checks
}

/// `Compliant`: False when a finding at or above the policy's alert severity fails.
fn compliant_condition(findings: &[Finding], policy: &Policy, now: Timestamp) -> Condition {
    let threshold = policy.parameters.alert_severity;
    let mut failing: Vec<&str> = findings
        .iter()
        .filter(|f| f.result == FindingResult::Fail && f.severity >= threshold)
        .map(|f| f.check_id.as_str())
        .collect();
    failing.dedup();
    let (status, reason, message) = if failing.is_empty() {
        ("True", "NoFailingChecks", format!("no {threshold} or more severe check fails"))
    } else {
        (
            "False",
            "ChecksFailing",
            format!("{} check(s) at or above {threshold} fail: {}", failing.len(), failing.join(", ")),
        )
    };
    Condition {
        type_: "Compliant".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(now),
        observed_generation: None,
    }
}

/// Turns check results into findings (non-Pass) and passed ids.
pub fn findings_of(results: &[CheckResult]) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut passed = Vec::new();
    for r in results {
        let severity = Severity::from_risk(r.risk);
        let finding = |result, message: &str, container: Option<&String>| Finding {
            check_id: r.id.to_string(),
            result,
            severity,
            risk: r.risk,
            message: message.to_string(),
            container: container.cloned(),
            waived_by: None,
        };
        match &r.outcome {
            Outcome::Pass => passed.push(r.id.to_string()),
            Outcome::Fail(violations) => {
                for v in violations {
                    findings.push(finding(FindingResult::Fail, &v.message, v.container.as_ref()));
                }
            }
            Outcome::NotApplicable(reason) => findings.push(finding(FindingResult::NotApplicable, reason, None)),
            Outcome::Error(reason) => findings.push(finding(FindingResult::Error, reason, None)),
        }
    }
    passed.dedup();
    (findings, passed)
}

/// Wraps a status into the object the operator writes (and `vigil scan -o yaml` prints).
pub fn build_report(subject: Subject, status: ReportStatus) -> Report {
    let mut metadata = report_metadata(&subject);
    if subject.namespace.is_some() {
        let mut r = SecurityReport::new("", SecurityReportSpec { subject });
        metadata.namespace = r.spec.subject.namespace.clone();
        r.metadata = metadata;
        r.status = Some(status);
        Report::Namespaced(r)
    } else {
        metadata.namespace = None;
        let mut r = ClusterSecurityReport::new("", ClusterSecurityReportSpec { subject });
        r.metadata = metadata;
        r.status = Some(status);
        Report::Cluster(r)
    }
}

impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Report::Namespaced(r) => r.serialize(serializer),
            Report::Cluster(r) => r.serialize(serializer),
        }
    }
}
