//! The cluster roll-up: what each report contributes ([`Tally`]), the tallies the operator keeps between
//! passes ([`Tallies`]), and their sum ([`Rollup`]): the overall score over all evaluated checks, failing counts
//! by severity, the ten worst namespaces.

use std::collections::BTreeMap;

use vigil_crds::{ClusterRollup, NamespaceScore, ReportStatus, Summary};

use super::{CheckSummary, Report, check_states};
use crate::policy::Policy;
use crate::subject::BySubject;

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
pub type Tallies = BySubject<Tally>;

impl Tallies {
    /// The roll-up over every tally plus `cluster`, the cluster report's own.
    pub fn rollup(&self, cluster: &Tally) -> Rollup {
        let mut rollup = Rollup::default();
        for (_, tally) in self.iter() {
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

    /// The overall score (docs/checks.md): every evaluated check of every report.
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
