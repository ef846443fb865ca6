//! Per-control verdicts from reports. Each subject's report gives one state per check (the worst of its
//! findings, as the report's score counts them: a waived finding counts as passed); a control fails when
//! one of its checks fails on some subject, passes when none fails and at least one was evaluated (Pass or
//! Waived) somewhere, and is not evaluated when every result of its checks was NotApplicable or Error, or
//! none of them ran (switched off by the policy, or no subject of their kind).
//!
//! `vigil scan --framework` feeds finished reports to a [`Compliance`]; the operator keeps each subject's
//! [`SubjectChecks`] between passes ([`ComplianceTallies`], like the roll-up's tallies) and builds the
//! verdicts from them.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_crds::{
    ComplianceReportStatus, ComplianceSummary, ControlStatus, ControlVerdict, FindingResult, ReportStatus,
};

use super::{Control, Evidence, Framework};
use crate::checks::catalog::catalog;
use crate::report::Report;
use crate::subject::{BySubject, SubjectKey};

/// A check's state on one subject: the worst of its findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CheckState {
    Passed,
    NotApplicable,
    Error,
    Waived,
    Failed,
}

/// One subject's state of each catalog check it ran (custom checks map to no framework and are left
/// out): `(index in the catalog, state)`, in catalog order. Two bytes a check: what the operator keeps
/// per subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectChecks(Box<[(u8, CheckState)]>);

impl SubjectChecks {
    pub fn of(status: &ReportStatus) -> SubjectChecks {
        let mut states: BTreeMap<u8, CheckState> = BTreeMap::new();
        let mut note = |id: &str, state: CheckState| {
            if let Some(index) = catalog_index(id) {
                let entry = states.entry(index).or_insert(state);
                *entry = (*entry).max(state);
            }
        };
        for finding in &status.findings {
            note(
                &finding.check_id,
                match finding.result {
                    FindingResult::Fail => CheckState::Failed,
                    FindingResult::Waived => CheckState::Waived,
                    FindingResult::NotApplicable => CheckState::NotApplicable,
                    FindingResult::Error => CheckState::Error,
                },
            );
        }
        for id in &status.passed {
            note(id, CheckState::Passed);
        }
        SubjectChecks(states.into_iter().collect())
    }

    /// `(check id, state)` of each catalog check the subject ran.
    pub fn states(&self) -> impl Iterator<Item = (&'static str, CheckState)> + '_ {
        self.0.iter().map(|&(index, state)| (catalog()[index as usize].id, state))
    }
}

fn catalog_index(id: &str) -> Option<u8> {
    catalog().iter().position(|c| c.id == id).and_then(|i| u8::try_from(i).ok())
}

/// Each subject's check states, by subject: what the operator keeps between passes so that the
/// ComplianceReports need no report in memory.
pub type ComplianceTallies = BySubject<SubjectChecks>;

impl ComplianceTallies {
    /// The totals over every subject.
    pub fn compliance(&self) -> Compliance {
        let mut compliance = Compliance::default();
        for (key, checks) in self.iter() {
            compliance.add(key, checks);
        }
        compliance
    }
}

/// Results of one check over every subject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckTotals {
    pub passed: u32,
    pub failed: u32,
    pub waived: u32,
    pub not_applicable: u32,
    pub error: u32,
    /// The first NotApplicable or Error reason seen (from reports; the operator keeps none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl CheckTotals {
    fn evaluated(&self) -> bool {
        self.passed + self.failed + self.waived > 0
    }
}

/// Every check's totals and every subject failing each: what per-control verdicts are built from.
#[derive(Debug, Default)]
pub struct Compliance {
    by_check: BTreeMap<&'static str, CheckTotals>,
    /// Subjects failing each check, in the order they were added.
    failing: BTreeMap<&'static str, Vec<SubjectKey>>,
}

impl Compliance {
    /// Adds one subject's states.
    pub fn add(&mut self, key: &SubjectKey, checks: &SubjectChecks) {
        for (id, state) in checks.states() {
            let totals = self.by_check.entry(id).or_default();
            match state {
                CheckState::Passed => totals.passed += 1,
                CheckState::Waived => totals.waived += 1,
                CheckState::NotApplicable => totals.not_applicable += 1,
                CheckState::Error => totals.error += 1,
                CheckState::Failed => {
                    totals.failed += 1;
                    self.failing.entry(id).or_default().push(key.clone());
                }
            }
        }
    }

    /// Adds a finished report, keeping the first NotApplicable or Error reason of each check.
    pub fn add_report(&mut self, report: &Report) {
        let status = report.status();
        self.add(&SubjectKey::of(report.subject()), &SubjectChecks::of(status));
        for finding in &status.findings {
            if matches!(finding.result, FindingResult::NotApplicable | FindingResult::Error)
                && let Some(index) = catalog_index(&finding.check_id)
            {
                let totals = self.by_check.entry(catalog()[index as usize].id).or_default();
                totals.reason.get_or_insert_with(|| finding.message.clone());
            }
        }
    }

    pub fn totals(&self, check: &str) -> Option<&CheckTotals> {
        self.by_check.get(check)
    }

    /// The verdict on every control of `framework` that the version judged holds (`minor`: the Kubernetes
    /// minor version, for Pod Security Standards).
    pub fn judge(&self, framework: &'static Framework, version: String, minor: u32) -> FrameworkResult {
        let controls: Vec<ControlResult> = framework.controls_at(minor).map(|c| self.judge_control(c)).collect();
        let mut summary = ComplianceSummary::default();
        for c in &controls {
            match c.verdict {
                ControlVerdict::Pass => summary.passed += 1,
                ControlVerdict::Fail => summary.failed += 1,
                ControlVerdict::NotEvaluated => summary.not_evaluated += 1,
                ControlVerdict::NotObservable => summary.not_observable += 1,
                ControlVerdict::NotChecked => summary.not_checked += 1,
            }
        }
        FrameworkResult {
            framework: framework.name.as_str(),
            title: framework.title,
            version,
            score: score(&summary),
            summary,
            controls,
        }
    }

    fn judge_control(&self, control: &'static Control) -> ControlResult {
        let checks = control.evidence.checks();
        let totals: Vec<CheckResultTotals> = checks
            .iter()
            .map(|id| CheckResultTotals { id, totals: self.by_check.get(id).cloned().unwrap_or_default() })
            .collect();
        // Failing subjects with the failing checks of each, by subject.
        let mut failing: BTreeMap<&SubjectKey, Vec<&'static str>> = BTreeMap::new();
        for id in checks {
            for key in self.failing.get(id).into_iter().flatten() {
                failing.entry(key).or_default().push(id);
            }
        }
        let failing: Vec<FailingSubject> = failing
            .into_iter()
            .map(|(key, checks)| FailingSubject {
                kind: key.kind.clone(),
                namespace: (!key.namespace.is_empty()).then(|| key.namespace.clone()),
                name: key.name.clone(),
                checks,
            })
            .collect();
        let (verdict, reason) = match control.evidence {
            Evidence::NotObservable(why) => (ControlVerdict::NotObservable, Some(why.to_string())),
            Evidence::NotChecked(why) => (ControlVerdict::NotChecked, Some(why.to_string())),
            Evidence::Checks(_) if !failing.is_empty() => (ControlVerdict::Fail, None),
            Evidence::Checks(_) if totals.iter().any(|t| t.totals.evaluated()) => (ControlVerdict::Pass, None),
            Evidence::Checks(_) => (ControlVerdict::NotEvaluated, Some(not_evaluated_reason(&totals))),
        };
        ControlResult {
            id: control.id,
            title: control.title,
            group: control.group,
            verdict,
            reason,
            checks: totals,
            failing,
        }
    }
}

/// Why no check of a control was evaluated: each check's NotApplicable / Error counts and first reason,
/// or that it ran nowhere.
fn not_evaluated_reason(totals: &[CheckResultTotals]) -> String {
    let parts: Vec<String> = totals
        .iter()
        .map(|t| {
            let CheckTotals { not_applicable, error, reason, .. } = &t.totals;
            if not_applicable + error == 0 {
                return format!("{} ran on no subject (switched off by the policy, or no subject of its kind)", t.id);
            }
            let mut part = format!("{} was NotApplicable on {not_applicable} and Error on {error} subject(s)", t.id);
            if let Some(reason) = reason {
                part.push_str(&format!(": {reason}"));
            }
            part
        })
        .collect();
    format!("not evaluated: {}", parts.join("; "))
}

/// `round(100 * passed / (passed + failed))`; `None` when no control was evaluated.
pub fn score(summary: &ComplianceSummary) -> Option<u8> {
    let judged = summary.passed + summary.failed;
    (judged > 0).then(|| (100.0 * summary.passed as f64 / judged as f64).round() as u8)
}

/// A framework's verdicts, as `vigil scan --framework -o json` prints them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkResult {
    pub framework: &'static str,
    pub title: &'static str,
    pub version: String,
    pub score: Option<u8>,
    pub summary: ComplianceSummary,
    pub controls: Vec<ControlResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlResult {
    pub id: &'static str,
    pub title: &'static str,
    pub group: &'static str,
    pub verdict: ControlVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: Vec<CheckResultTotals>,
    pub failing: Vec<FailingSubject>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResultTotals {
    pub id: &'static str,
    #[serde(flatten)]
    pub totals: CheckTotals,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailingSubject {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The control's checks that fail on it.
    pub checks: Vec<&'static str>,
}

impl FailingSubject {
    /// `Deployment shop/web`, `ClusterRole admin`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Failing subjects a ComplianceReport names per control (the count is always complete).
pub const FAILING_LISTED: usize = 20;

impl FrameworkResult {
    /// The status of the framework's ComplianceReport.
    pub fn to_status(&self) -> ComplianceReportStatus {
        ComplianceReportStatus {
            version: self.version.clone(),
            score: self.score,
            summary: self.summary.clone(),
            controls: self
                .controls
                .iter()
                .map(|c| ControlStatus {
                    id: c.id.to_string(),
                    title: c.title.to_string(),
                    verdict: c.verdict,
                    checks: c.checks.iter().map(|t| t.id.to_string()).collect(),
                    failing_subjects: c.failing.len() as u32,
                    failing: c.failing.iter().take(FAILING_LISTED).map(FailingSubject::display).collect(),
                    reason: c.reason.clone(),
                })
                .collect(),
            evaluated_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frameworks::{cis, pss};
    use crate::input::index::Index;
    use crate::policy::exceptions::Exceptions;
    use crate::policy::set::PolicySet;

    /// Judged as plain manifests: whole-cluster checks are NotApplicable.
    fn audit(yaml: &str) -> Vec<Report> {
        let mut index = Index::from_yaml(yaml).unwrap();
        index.scope = crate::input::scope::InputScope::Manifests;
        crate::audit(&index, &PolicySet::default(), &Exceptions::default(), "2026-12-01T00:00:00Z".parse().unwrap())
    }

    const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: root, namespace: shop}
spec: {hostPID: true, containers: [{name: app, image: \"nginx:1.27\", securityContext: {privileged: true}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: tight, namespace: shop}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: \"nginx:1.27\"
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}
";

    fn judged(reports: &[Report], framework: &'static Framework) -> FrameworkResult {
        let mut compliance = Compliance::default();
        for r in reports {
            compliance.add_report(r);
        }
        compliance.judge(framework, framework.version.to_string(), 35)
    }

    fn control<'a>(result: &'a FrameworkResult, id: &str) -> &'a ControlResult {
        result.controls.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no control {id}"))
    }

    #[test]
    fn a_control_fails_with_the_subjects_failing_its_checks() {
        let result = judged(&audit(PODS), &pss::FRAMEWORK);
        let namespaces = control(&result, "baseline/host-namespaces");
        assert_eq!(namespaces.verdict, ControlVerdict::Fail);
        let failing: Vec<String> = namespaces.failing.iter().map(FailingSubject::display).collect();
        assert_eq!(failing, ["Pod shop/root"]);
        assert_eq!(namespaces.failing[0].checks, ["host-pid"]);
        let host_pid = namespaces.checks.iter().find(|t| t.id == "host-pid").unwrap();
        assert_eq!((host_pid.totals.passed, host_pid.totals.failed), (1, 1));
        // Both pods keep their host ports closed: the control passes.
        assert_eq!(control(&result, "baseline/host-ports").verdict, ControlVerdict::Pass);
        // Controls no check judges are listed as such, with the reason.
        let volumes = control(&result, "restricted/volume-types");
        assert_eq!(volumes.verdict, ControlVerdict::NotChecked);
        assert!(volumes.reason.as_deref().unwrap_or_default().contains("hostPath"));
        assert_eq!(
            result.summary.passed + result.summary.failed + result.summary.not_evaluated + result.summary.not_checked,
            result.controls.len() as u32
        );
        assert_eq!(result.score, score(&result.summary));
    }

    #[test]
    fn a_control_whose_checks_were_all_not_applicable_is_not_a_pass() {
        // Plain manifests: the whole-cluster check behind CIS 5.5.1 is NotApplicable, never a silent pass.
        let result = judged(&audit(PODS), &cis::FRAMEWORK);
        let provenance = control(&result, "5.5.1");
        assert_eq!(provenance.verdict, ControlVerdict::NotEvaluated, "{provenance:?}");
        let reason = provenance.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("image-signature-enforced was NotApplicable on 1"), "{reason}");
        // No Role in the input: the RBAC controls ran on no subject.
        let wildcard = control(&result, "5.1.3");
        assert_eq!(wildcard.verdict, ControlVerdict::NotEvaluated);
        assert!(wildcard.reason.as_deref().unwrap_or_default().contains("ran on no subject"), "{wildcard:?}");
        let etcd = control(&result, "2");
        assert_eq!(etcd.verdict, ControlVerdict::NotObservable);
    }

    #[test]
    fn a_waived_failure_counts_as_passed() {
        let mut reports = audit(PODS);
        for report in &mut reports {
            if let Report::Namespaced(r) = report
                && let Some(status) = r.status.as_mut()
            {
                for f in &mut status.findings {
                    if f.check_id == "host-pid" && f.result == FindingResult::Fail {
                        f.result = FindingResult::Waived;
                    }
                }
            }
        }
        let result = judged(&reports, &pss::FRAMEWORK);
        let namespaces = control(&result, "baseline/host-namespaces");
        assert_eq!(namespaces.verdict, ControlVerdict::Pass);
        let host_pid = namespaces.checks.iter().find(|t| t.id == "host-pid").unwrap();
        assert_eq!((host_pid.totals.passed, host_pid.totals.waived, host_pid.totals.failed), (1, 1, 0));
    }

    #[test]
    fn tallies_give_what_reports_give_and_notice_changes() {
        let reports = audit(PODS);
        let mut tallies = ComplianceTallies::default();
        for r in &reports {
            assert!(tallies.set(SubjectKey::of(r.subject()), SubjectChecks::of(r.status())));
        }
        let first = &reports[0];
        assert!(!tallies.set(SubjectKey::of(first.subject()), SubjectChecks::of(first.status())), "unchanged");
        let from_tallies = tallies.compliance().judge(&pss::FRAMEWORK, "v1.35".into(), 35);
        let from_reports = judged(&reports, &pss::FRAMEWORK);
        assert_eq!(from_tallies.to_status(), from_reports.to_status());
        assert!(tallies.remove(&SubjectKey::new("Pod", "shop", "root")));
        let without = tallies.compliance().judge(&pss::FRAMEWORK, "v1.35".into(), 35);
        assert_eq!(
            without.controls.iter().find(|c| c.id == "baseline/host-namespaces").map(|c| c.verdict),
            Some(ControlVerdict::Pass)
        );
    }

    #[test]
    fn the_status_lists_at_most_twenty_failing_subjects_and_counts_all() {
        let pods: String = (0..25)
            .map(|i| format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i:02}, namespace: shop}}\nspec: {{hostPID: true, containers: [{{name: a, image: \"nginx:1.27\"}}]}}\n---\n"))
            .collect();
        let status = judged(&audit(&pods), &cis::FRAMEWORK).to_status();
        let host_pid = status.controls.iter().find(|c| c.id == "5.2.3").unwrap();
        assert_eq!((host_pid.failing_subjects, host_pid.failing.len()), (25, FAILING_LISTED));
        assert_eq!(host_pid.failing[0], "Pod shop/p00");
    }
}
