//! Findings -> SecurityReport / ClusterSecurityReport. Deterministic: the same inputs give the same bytes,
//! so "did anything change?" is a comparison.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use vigil_crds::{
    ClusterRollup, ClusterSecurityReport, ClusterSecurityReportSpec, Finding, FindingResult, NamespaceScore,
    ReportStatus, SecurityReport, SecurityReportSpec, Severity, Subject, Summary,
};

use crate::evaluate::CheckResult;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::subject::SubjectKey;

/// Labels every report carries, so reports can be listed by subject.
pub mod labels {
    pub const SUBJECT_KIND: &str = "vigil.dev/subject-kind";
    pub const SUBJECT_NAME: &str = "vigil.dev/subject-name";
    pub const SUBJECT_UID: &str = "vigil.dev/subject-uid";
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
}

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
struct CheckSummary {
    risk: u8,
    result: CheckState,
}

impl CheckSummary {
    /// `(risk, failed)` when the check counts in the score.
    fn scored(&self) -> Option<(u8, bool)> {
        match self.result {
            CheckState::Passed | CheckState::Waived => Some((self.risk, false)),
            CheckState::Failed => Some((self.risk, true)),
            CheckState::NotApplicable | CheckState::Error => None,
        }
    }
}

/// One state per check id: the worst of its findings (Fail over Waived over Error over NotApplicable).
fn check_states<'a>(findings: &'a [Finding], passed: &'a [String], policy: &Policy) -> BTreeMap<&'a str, CheckSummary> {
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

/// The report's object name: `<kind>-<name>` lowercased, made a valid DNS subdomain, with a short hash
/// of the subject when it had to be changed or shortened.
pub fn report_name(subject: &Subject) -> String {
    if subject.kind == "Cluster" {
        // The one cluster-wide report.
        return subject.name.clone();
    }
    let raw = format!("{}-{}", subject.kind, subject.name).to_lowercase();
    let clean = sanitize(&raw, 253);
    if clean == raw { clean } else { with_hash(&clean, &raw, 253) }
}

/// A valid label value for `text` (at most 63 characters), hashed when changed.
pub fn label_value(text: &str) -> String {
    let mut clean: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    clean.truncate(63);
    let clean = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if clean == text { clean.to_string() } else { with_hash(&clean.to_lowercase(), text, 63) }
}

fn sanitize(text: &str, max: usize) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    s.truncate(max);
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

fn with_hash(clean: &str, original: &str, max: usize) -> String {
    let hash = format!("{:08x}", fnv1a(original.as_bytes()) as u32);
    let mut base = clean.to_string();
    base.truncate(max - hash.len() - 1);
    let base = base.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() { hash } else { format!("{base}-{hash}") }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

fn report_metadata(subject: &Subject) -> ObjectMeta {
    let mut labels = BTreeMap::new();
    labels.insert(labels::SUBJECT_KIND.to_string(), label_value(&subject.kind));
    labels.insert(labels::SUBJECT_NAME.to_string(), label_value(&subject.name));
    if let Some(uid) = &subject.uid {
        labels.insert(labels::SUBJECT_UID.to_string(), label_value(uid));
    }
    labels.insert(labels::MANAGED_BY.to_string(), "vigil".to_string());
    // The garbage collector removes the report with its subject; only when the subject has a uid (a live
    // object), and never for a namespace's own report (it lives inside the namespace anyway).
    let owner_references = subject.uid.as_ref().filter(|_| subject.kind != "Cluster").map(|uid| {
        vec![OwnerReference {
            api_version: subject.api_version.clone(),
            kind: subject.kind.clone(),
            name: subject.name.clone(),
            uid: uid.clone(),
            controller: Some(false),
            block_owner_deletion: None,
        }]
    });
    ObjectMeta {
        name: Some(report_name(subject)),
        namespace: subject.namespace.clone(),
        labels: Some(labels),
        owner_references,
        ..ObjectMeta::default()
    }
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

/// The cluster-wide roll-up, accumulated one report at a time (so reports can be written as they are
/// built): one score over all evaluated checks, failing counts by severity, the ten worst namespaces.
#[derive(Debug, Default)]
pub struct Rollup {
    evaluated_risk: u64,
    failed_risk: u64,
    failing: Summary,
    reports: u32,
    by_namespace: BTreeMap<String, NamespaceTally>,
}

#[derive(Debug, Default)]
struct NamespaceTally {
    evaluated_risk: u64,
    failed_risk: u64,
    critical: u32,
    high: u32,
}

pub fn score_of(evaluated_risk: u64, failed_risk: u64) -> u8 {
    if evaluated_risk == 0 {
        return 100;
    }
    (100.0 * (1.0 - failed_risk as f64 / evaluated_risk as f64)).round() as u8
}

/// What a report contributes to the roll-up; the operator keeps one per subject.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub namespace: Option<String>,
    pub evaluated_risk: u64,
    pub failed_risk: u64,
    pub summary: Summary,
}

impl Tally {
    /// The report's contribution, its checks weighed by `policy` (the one that judged it).
    pub fn by(report: &Report, policy: &Policy) -> Tally {
        let status = report.status();
        let (mut evaluated_risk, mut failed_risk) = (0u64, 0u64);
        for (risk, failed) in scored_checks(status, policy) {
            evaluated_risk += risk as u64;
            if failed {
                failed_risk += risk as u64;
            }
        }
        Tally {
            namespace: report.subject().namespace.clone(),
            evaluated_risk,
            failed_risk,
            summary: status.summary.clone(),
        }
    }
}

/// The tally of every report but the cluster's, by subject: what the operator keeps between passes so
/// that the `cluster` report's roll-up needs no other report in memory.
#[derive(Debug, Default)]
pub struct Tallies {
    by_subject: BTreeMap<SubjectKey, Tally>,
}

impl Tallies {
    /// Sets a subject's tally; true when it changed.
    pub fn set(&mut self, key: SubjectKey, tally: Tally) -> bool {
        self.by_subject.insert(key, tally.clone()) != Some(tally)
    }

    /// Forgets a subject; true when it had a tally.
    pub fn remove(&mut self, key: &SubjectKey) -> bool {
        self.by_subject.remove(key).is_some()
    }

    /// The roll-up over every tally plus `cluster`, the cluster report's own.
    pub fn rollup(&self, cluster: &Tally) -> Rollup {
        let mut rollup = Rollup::default();
        for tally in self.by_subject.values() {
            rollup.add_tally(tally);
        }
        rollup.add_tally(cluster);
        rollup
    }
}

impl Rollup {
    pub fn add_tally(&mut self, tally: &Tally) {
        self.reports += 1;
        self.evaluated_risk += tally.evaluated_risk;
        self.failed_risk += tally.failed_risk;
        let (f, s) = (&mut self.failing, &tally.summary);
        f.critical += s.critical;
        f.high += s.high;
        f.medium += s.medium;
        f.low += s.low;
        f.fail += s.fail;
        f.pass += s.pass;
        f.waived += s.waived;
        f.not_applicable += s.not_applicable;
        f.error += s.error;
        if let Some(ns) = &tally.namespace {
            let ns_tally = self.by_namespace.entry(ns.clone()).or_default();
            ns_tally.evaluated_risk += tally.evaluated_risk;
            ns_tally.failed_risk += tally.failed_risk;
            ns_tally.critical += s.critical;
            ns_tally.high += s.high;
        }
    }

    /// The cluster score: every evaluated check of every report.
    pub fn score(&self) -> u8 {
        score_of(self.evaluated_risk, self.failed_risk)
    }

    /// The score of each namespace with at least one report.
    pub fn namespace_scores(&self) -> impl Iterator<Item = (&str, u8)> {
        self.by_namespace.iter().map(|(namespace, t)| (namespace.as_str(), score_of(t.evaluated_risk, t.failed_risk)))
    }

    pub fn finish(self) -> ClusterRollup {
        let mut worst: Vec<NamespaceScore> = self
            .by_namespace
            .into_iter()
            .map(|(namespace, t)| NamespaceScore {
                namespace,
                score: score_of(t.evaluated_risk, t.failed_risk),
                critical: t.critical,
                high: t.high,
            })
            .filter(|n| n.score < 100)
            .collect();
        worst.sort_by(|a, b| {
            a.score.cmp(&b.score).then(b.critical.cmp(&a.critical)).then(a.namespace.cmp(&b.namespace))
        });
        worst.truncate(10);
        ClusterRollup {
            score: score_of(self.evaluated_risk, self.failed_risk),
            failing: self.failing,
            reports: self.reports,
            worst_namespaces: worst,
        }
    }
}

/// `(risk, failed)` per evaluated check of a report, recovered from its status.
pub fn scored_checks(status: &ReportStatus, policy: &Policy) -> Vec<(u8, bool)> {
    check_states(&status.findings, &status.passed, policy).values().filter_map(CheckSummary::scored).collect()
}

impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Report::Namespaced(r) => r.serialize(serializer),
            Report::Cluster(r) => r.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod naming_tests {
    use super::*;

    fn subject(kind: &str, name: &str) -> Subject {
        Subject { api_version: "v1".into(), kind: kind.into(), name: name.into(), namespace: None, uid: None }
    }

    #[test]
    fn report_names_are_valid_and_stable() {
        assert_eq!(report_name(&subject("Deployment", "web")), "deployment-web");
        assert_eq!(report_name(&subject("Cluster", "cluster")), "cluster");
        let colon = report_name(&subject("ClusterRole", "system:aggregate-to-edit"));
        assert!(colon.starts_with("clusterrole-system-aggregate-to-edit-"), "{colon}");
        assert_eq!(colon, report_name(&subject("ClusterRole", "system:aggregate-to-edit")));
        let long = report_name(&subject("Deployment", &"x".repeat(300)));
        assert!(long.len() <= 253 && long.chars().last().unwrap().is_ascii_alphanumeric(), "{long}");
    }

    #[test]
    fn label_values_keep_case_and_hash_only_when_changed() {
        assert_eq!(label_value("Deployment"), "Deployment");
        assert_eq!(label_value("payments-api"), "payments-api");
        let changed = label_value("system:kube-proxy");
        assert!(changed.starts_with("system-kube-proxy-") && changed.len() <= 63, "{changed}");
        assert!(label_value(&"a".repeat(100)).len() <= 63);
    }
}
