//! Prometheus metrics (prometheus-client). Series are bounded: labels are kinds and outcomes, never
//! object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub check: String,
    pub severity: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameworkLabel {
    pub framework: String,
}

/// A control of a framework: both come from the engine's fixed tables, so the series are bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControlLabels {
    pub framework: String,
    pub control: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControlVerdictLabels {
    pub framework: String,
    pub control: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub watch_events: Family<KindLabel, Counter>,
    pub watch_errors: Family<KindLabel, Counter>,
    pub writes: Family<OutcomeLabel, Counter>,
    pub api_errors: Family<StepLabel, Counter>,
    pub reconcile_seconds: Histogram,
    pub full_passes: Counter,
    pub queue_depth: Gauge,
    pub leader: Gauge,
    pub failing_findings: Family<FindingLabels, Gauge>,
    pub cluster_score: Gauge,
    pub namespace_score: Family<NamespaceLabel, Gauge>,
    pub exceptions: Family<OutcomeLabel, Gauge>,
    /// The writer's pace now (writes per second; see `pacer`).
    pub write_rate: Gauge<f64, AtomicU64>,
    /// How long each report write took the API server to answer.
    pub write_seconds: Histogram,
    /// Resident memory of the process, and the container's memory limit (0: none found).
    pub resident_memory_bytes: Gauge,
    pub memory_limit_bytes: Gauge,
    /// 1 while resident memory is above the soft limit (see `memory`).
    pub memory_pressure: Gauge,
    /// Each enabled framework's score (no series while no control is evaluated).
    pub compliance_score: Family<FrameworkLabel, Gauge>,
    /// 1 for each control's current verdict (one series per control).
    pub compliance_control: Family<ControlVerdictLabels, Gauge>,
    /// Subjects failing each control.
    pub compliance_failing_subjects: Family<ControlLabels, Gauge>,
    /// Namespaces with a `namespace_score` series now: a namespace that is gone loses its series.
    scored_namespaces: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("vigil");
        let watch_events = Family::<KindLabel, Counter>::default();
        let watch_errors = Family::<KindLabel, Counter>::default();
        let writes = Family::<OutcomeLabel, Counter>::default();
        let api_errors = Family::<StepLabel, Counter>::default();
        let reconcile_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let full_passes = Counter::default();
        let queue_depth = Gauge::default();
        let leader = Gauge::default();
        let failing_findings = Family::<FindingLabels, Gauge>::default();
        let cluster_score = Gauge::default();
        let namespace_score = Family::<NamespaceLabel, Gauge>::default();
        let exceptions = Family::<OutcomeLabel, Gauge>::default();
        let write_rate = Gauge::<f64, AtomicU64>::default();
        let write_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let resident_memory_bytes = Gauge::default();
        let memory_limit_bytes = Gauge::default();
        let memory_pressure = Gauge::default();
        let compliance_score = Family::<FrameworkLabel, Gauge>::default();
        let compliance_control = Family::<ControlVerdictLabels, Gauge>::default();
        let compliance_failing_subjects = Family::<ControlLabels, Gauge>::default();
        registry.register(
            "compliance_score",
            "Score (0-100) of each enabled compliance framework: controls passed over controls evaluated",
            compliance_score.clone(),
        );
        registry.register(
            "compliance_control",
            "1 for the current verdict of each control of each enabled framework (Pass, Fail, NotEvaluated, NotObservable, NotChecked)",
            compliance_control.clone(),
        );
        registry.register(
            "compliance_failing_subjects",
            "Subjects failing a check of each control of each enabled framework",
            compliance_failing_subjects.clone(),
        );
        registry.register("watch_events", "Watch events that changed the index, by kind", watch_events.clone());
        registry.register("watch_errors", "Watch errors (restarts, backoffs), by kind", watch_errors.clone());
        registry.register(
            "report_writes",
            "Report writes by outcome: applied, unchanged, deleted, healed (edited or deleted by someone else)",
            writes.clone(),
        );
        registry.register(
            "api_errors",
            "Failed API calls by pipeline step: write, status, event, lease",
            api_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time to evaluate and write one subject",
            reconcile_seconds.clone(),
        );
        registry.register("full_passes", "Completed full passes", full_passes.clone());
        registry.register("queue_depth", "Subjects waiting to be evaluated", queue_depth.clone());
        registry.register("leader", "1 while this replica holds the Lease", leader.clone());
        registry.register(
            "failing_findings",
            "Failing findings by check, severity and namespace (empty namespace: cluster-scoped subjects)",
            failing_findings.clone(),
        );
        registry.register(
            "cluster_score",
            "The overall score (0-100): the `cluster` report's roll-up over every report's checks (0 on a standby: see vigil_leader)",
            cluster_score.clone(),
        );
        registry.register("namespace_score", "Score (0-100) over each namespace's reports", namespace_score.clone());
        registry.register("exceptions", "Exceptions by state: active, expired, invalid", exceptions.clone());
        registry.register(
            "write_rate",
            "The adaptive pace of report writes now, writes per second (drops on 429/503 and rising latency)",
            write_rate.clone(),
        );
        registry.register(
            "write_duration_seconds",
            "Time the API server took to answer one report write",
            write_seconds.clone(),
        );
        registry.register(
            "resident_memory_bytes",
            "Resident memory of the operator process",
            resident_memory_bytes.clone(),
        );
        registry.register(
            "memory_limit_bytes",
            "The container's memory limit as the cgroup states it (0: no limit found)",
            memory_limit_bytes.clone(),
        );
        registry.register(
            "memory_pressure",
            "1 while resident memory is above the soft limit (a share of the container limit)",
            memory_pressure.clone(),
        );
        Metrics {
            registry,
            watch_events,
            watch_errors,
            writes,
            api_errors,
            reconcile_seconds,
            full_passes,
            queue_depth,
            leader,
            failing_findings,
            cluster_score,
            namespace_score,
            exceptions,
            write_rate,
            write_seconds,
            resident_memory_bytes,
            memory_limit_bytes,
            memory_pressure,
            compliance_score,
            compliance_control,
            compliance_failing_subjects,
            scored_namespaces: Default::default(),
        }
    }
}

impl Metrics {
    /// Sets every namespace's score and removes the series of namespaces no longer scored.
    pub fn set_namespace_scores(&self, scores: impl Iterator<Item = (String, i64)>) {
        let mut scored = self.scored_namespaces.lock().expect("scored namespaces lock");
        let mut now = std::collections::BTreeSet::new();
        for (namespace, score) in scores {
            self.namespace_score.get_or_create(&NamespaceLabel { namespace: namespace.clone() }).set(score);
            now.insert(namespace);
        }
        for gone in scored.difference(&now) {
            self.namespace_score.remove(&NamespaceLabel { namespace: gone.clone() });
        }
        *scored = now;
    }

    /// Drops every score series (this replica stopped leading).
    pub fn clear_scores(&self) {
        self.namespace_score.clear();
        self.scored_namespaces.lock().expect("scored namespaces lock").clear();
        self.cluster_score.set(0);
    }

    /// Sets a framework's series from its verdicts, replacing what it had.
    pub fn set_compliance(&self, result: &vigil_engine::frameworks::evaluate::FrameworkResult) {
        self.clear_compliance(result.framework);
        let framework = result.framework.to_string();
        if let Some(score) = result.score {
            self.compliance_score.get_or_create(&FrameworkLabel { framework: framework.clone() }).set(score as i64);
        }
        for c in &result.controls {
            let control = c.id.to_string();
            let verdict = c.verdict.as_str().to_string();
            self.compliance_control
                .get_or_create(&ControlVerdictLabels {
                    framework: framework.clone(),
                    control: control.clone(),
                    verdict,
                })
                .set(1);
            if !c.checks.is_empty() {
                self.compliance_failing_subjects
                    .get_or_create(&ControlLabels { framework: framework.clone(), control })
                    .set(c.failing.len() as i64);
            }
        }
    }

    /// Drops a framework's series (disabled, or this replica stopped leading).
    pub fn clear_compliance(&self, framework: &str) {
        self.compliance_score.remove(&FrameworkLabel { framework: framework.to_string() });
        let framework_table = vigil_engine::frameworks::find(framework);
        for c in framework_table.into_iter().flat_map(|f| f.controls) {
            for verdict in vigil_crds::ControlVerdict::ALL.map(vigil_crds::ControlVerdict::as_str) {
                self.compliance_control.remove(&ControlVerdictLabels {
                    framework: framework.to_string(),
                    control: c.id.to_string(),
                    verdict: verdict.to_string(),
                });
            }
            self.compliance_failing_subjects
                .remove(&ControlLabels { framework: framework.to_string(), control: c.id.to_string() });
        }
    }

    pub fn write(&self, outcome: &str) {
        self.writes.get_or_create(&OutcomeLabel { outcome: outcome.to_string() }).inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

impl Metrics {
    /// Counts a failed API call under its pipeline step.
    pub fn api_error(&self, error: &super::error::Error) {
        self.api_errors.get_or_create(&StepLabel { step: error.step().to_string() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_labelled_by_check_severity_and_namespace_only() {
        let metrics = Metrics::default();
        let labels = FindingLabels {
            check: "privileged-container".into(),
            severity: "critical".into(),
            namespace: "shop".into(),
        };
        metrics.failing_findings.get_or_create(&labels).inc_by(2);
        metrics.cluster_score.set(87);
        metrics.write("applied");
        let text = metrics.encode();
        assert!(
            text.contains(
                "vigil_failing_findings{check=\"privileged-container\",severity=\"critical\",namespace=\"shop\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("vigil_cluster_score 87"), "{text}");
        assert!(text.contains("vigil_report_writes_total{outcome=\"applied\"} 1"), "{text}");
    }

    #[test]
    fn compliance_series_follow_the_verdicts_and_go_with_the_framework() {
        let index = vigil_engine::Index::from_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {hostPID: true, containers: [{name: app, image: \"nginx:1.27\"}]}\n",
        )
        .unwrap();
        let now = "2026-12-01T00:00:00Z".parse().unwrap();
        let mut compliance = vigil_engine::frameworks::evaluate::Compliance::default();
        for report in vigil_engine::audit(&index, &Default::default(), &Default::default(), now) {
            compliance.add_report(&report);
        }
        let cis = vigil_engine::frameworks::of(vigil_crds::FrameworkName::Cis);
        let result = compliance.judge(cis, "v1.9.0".into(), 35);
        let metrics = Metrics::default();
        metrics.set_compliance(&result);
        metrics.set_compliance(&result);
        let text = metrics.encode();
        assert!(text.contains("vigil_compliance_failing_subjects{framework=\"cis\",control=\"5.2.3\"} 1"), "{text}");
        assert!(text.contains("vigil_compliance_control{framework=\"cis\",control=\"5.2.3\",verdict=\"Fail\"} 1"));
        // One series per control, whatever was set before.
        let series = text.lines().filter(|l| l.starts_with("vigil_compliance_control{")).count();
        assert_eq!(series, cis.controls.len());
        metrics.clear_compliance("cis");
        assert!(!metrics.encode().lines().any(|l| l.starts_with("vigil_compliance_") && !l.starts_with('#')));
    }

    #[test]
    fn a_namespace_no_longer_scored_loses_its_series() {
        let metrics = Metrics::default();
        metrics.set_namespace_scores([("shop".to_string(), 80), ("gone".to_string(), 50)].into_iter());
        assert!(metrics.encode().contains("namespace=\"gone\""));
        metrics.set_namespace_scores([("shop".to_string(), 90)].into_iter());
        let text = metrics.encode();
        assert!(
            !text.contains("namespace=\"gone\"") && text.contains("vigil_namespace_score{namespace=\"shop\"} 90"),
            "{text}"
        );
    }
}
