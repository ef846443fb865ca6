//! Alerting: Kubernetes Events when a critical or high check starts failing on a subject and when it
//! recovers (never one per pass), and the finding gauges behind `/metrics`. Events need a client.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;
use vigil_crds::{FindingResult, Severity};
use vigil_engine::Report;
use vigil_engine::subject::SubjectKey;

use super::metrics::{FindingLabels, Metrics};

/// What one report contributes to alerting.
#[derive(Clone, Debug, Default, PartialEq)]
struct Alerting {
    /// Failing checks at critical or high severity, with their first message.
    serious: BTreeMap<String, (Severity, String)>,
    /// Failing findings by (check, severity).
    failing: BTreeMap<(String, Severity), i64>,
    namespace: String,
}

impl Alerting {
    fn of(report: &Report) -> Alerting {
        let mut a =
            Alerting { namespace: report.subject().namespace.clone().unwrap_or_default(), ..Default::default() };
        for f in report.status().findings.iter().filter(|f| f.result == FindingResult::Fail) {
            *a.failing.entry((f.check_id.clone(), f.severity)).or_default() += 1;
            if f.severity >= Severity::High {
                a.serious.entry(f.check_id.clone()).or_insert((f.severity, f.message.clone()));
            }
        }
        a
    }
}

pub struct Alerts {
    recorder: Recorder,
    /// Per subject: what its last report said. Seeded from the reports found at start, so a restart
    /// publishes no Events for what was already failing.
    known: Mutex<BTreeMap<SubjectKey, Alerting>>,
}

impl Alerts {
    pub fn new(client: Client, instance: String) -> Self {
        let reporter = Reporter { controller: "vigil".into(), instance: Some(instance) };
        Alerts { recorder: Recorder::new(client, reporter), known: Mutex::new(BTreeMap::new()) }
    }

    /// Remembers what a report in the cluster says is failing (its `vigil.dev/failing` annotation) at the
    /// start of a term, without publishing anything and without touching the gauges: the term's first
    /// full pass sets those from its own verdicts, so nothing counts twice.
    pub fn seed(&self, key: &SubjectKey, failing: &BTreeSet<String>) {
        let serious = failing.iter().map(|check| (check.clone(), (Severity::High, String::new()))).collect();
        let alerting = Alerting { serious, ..Alerting::default() };
        self.known.lock().expect("alerts lock").insert(key.clone(), alerting);
    }

    /// Forgets everything (this replica stopped leading): no series stays behind for a standby to export.
    pub fn reset(&self, metrics: &Metrics) {
        self.known.lock().expect("alerts lock").clear();
        metrics.failing_findings.clear();
    }

    /// How many subjects the alert memory holds (for tests of exact state).
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.known.lock().expect("alerts lock").len()
    }

    /// Records a new report (or `None`: the subject is gone): updates the gauges, and publishes Events
    /// for serious checks that started failing or recovered when `publish` (the leader) is set.
    pub async fn observe(&self, key: &SubjectKey, report: Option<&Report>, metrics: &Metrics, publish: bool) {
        let new = report.map(Alerting::of);
        let old = {
            let mut known = self.known.lock().expect("alerts lock");
            match &new {
                Some(n) => known.insert(key.clone(), n.clone()),
                None => known.remove(key),
            }
        };
        update_gauges(metrics, old.as_ref(), new.as_ref());
        let (Some(report), true) = (report, publish) else { return };
        // A subject seen for the first time since start has no "before": only changes are announced.
        let Some(old) = old else { return };
        let new = new.unwrap_or_default();
        let started: BTreeSet<&String> = new.serious.keys().filter(|c| !old.serious.contains_key(*c)).collect();
        let recovered: BTreeSet<&String> = old.serious.keys().filter(|c| !new.serious.contains_key(*c)).collect();
        if started.is_empty() && recovered.is_empty() {
            return;
        }
        let reference = object_reference(report);
        for check in started {
            let (severity, message) = &new.serious[check];
            let event = Event {
                type_: EventType::Warning,
                reason: "CheckFailing".into(),
                note: Some(truncate(&format!("{check} ({severity}) started failing: {message}"))),
                action: "Audit".into(),
                secondary: None,
            };
            self.publish(&event, &reference, metrics).await;
        }
        for check in recovered {
            let event = Event {
                type_: EventType::Normal,
                reason: "CheckRecovered".into(),
                note: Some(truncate(&format!("{check} passes again"))),
                action: "Audit".into(),
                secondary: None,
            };
            self.publish(&event, &reference, metrics).await;
        }
    }

    async fn publish(&self, event: &Event, reference: &ObjectReference, metrics: &Metrics) {
        if let Err(source) = self.recorder.publish(event, reference).await {
            let error = super::error::Error::PublishEvent(source);
            warn!(%error, reason = %event.reason);
            metrics.api_error(&error);
        }
    }
}

/// Event notes are limited to 1 KiB.
fn truncate(text: &str) -> String {
    text.chars().take(1000).collect()
}

fn object_reference(report: &Report) -> ObjectReference {
    let s = report.subject();
    ObjectReference {
        api_version: Some(s.api_version.clone()),
        kind: Some(s.kind.clone()),
        name: Some(s.name.clone()),
        namespace: if s.kind == "Namespace" { None } else { s.namespace.clone() },
        uid: s.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Failing findings by check, severity and namespace: bounded by checks x namespaces, never per object.
/// A series that falls to zero is removed, so a deleted namespace or a fixed check leaves nothing behind.
fn update_gauges(metrics: &Metrics, old: Option<&Alerting>, new: Option<&Alerting>) {
    let mut touched = Vec::new();
    for (a, sign) in [(old, -1i64), (new, 1)] {
        let Some(a) = a else { continue };
        for ((check, severity), n) in &a.failing {
            let labels = FindingLabels {
                check: check.clone(),
                severity: severity.as_str().into(),
                namespace: a.namespace.clone(),
            };
            metrics.failing_findings.get_or_create(&labels).inc_by(sign * n);
            touched.push(labels);
        }
    }
    for labels in touched {
        if metrics.failing_findings.get_or_create(&labels).get() <= 0 {
            metrics.failing_findings.remove(&labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use vigil_engine::{Index, Policy, audit_with_policy};

    use super::*;

    fn report(yaml: &str) -> Report {
        let index = Index::from_yaml(yaml).unwrap();
        let now = "2026-12-04T00:00:00Z".parse().unwrap();
        audit_with_policy(&index, &Policy::default(), now).into_iter().find(|r| r.subject().kind == "Pod").unwrap()
    }

    const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: c, image: \"nginx:1.27\", securityContext: {privileged: true}}]\n";

    fn alerts() -> Alerts {
        let (service, _handle) =
            tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<kube::client::Body>>();
        Alerts::new(Client::new(service, "default"), "test".into())
    }

    /// The failing-findings series, sorted: the encoder's order is a hash map's.
    fn series(metrics: &Metrics) -> Vec<String> {
        let mut series: Vec<String> =
            metrics.encode().lines().filter(|l| l.starts_with("vigil_failing_findings{")).map(str::to_string).collect();
        series.sort();
        series
    }

    #[tokio::test]
    async fn a_gone_subject_leaves_no_series_and_no_memory() {
        let (alerts, metrics) = (alerts(), Metrics::default());
        let key = SubjectKey::new("Pod", "shop", "web");
        alerts.observe(&key, Some(&report(PRIVILEGED)), &metrics, false).await;
        assert!(series(&metrics).iter().any(|l| l.contains("privileged-container")), "{:?}", series(&metrics));
        alerts.observe(&key, None, &metrics, false).await;
        assert!(series(&metrics).is_empty(), "{:?}", series(&metrics));
        assert_eq!(alerts.remembered(), 0);
    }

    #[tokio::test]
    async fn a_new_term_does_not_count_twice() {
        let (alerts, metrics) = (alerts(), Metrics::default());
        let key = SubjectKey::new("Pod", "shop", "web");
        let report = report(PRIVILEGED);
        // First term: judged once.
        alerts.observe(&key, Some(&report), &metrics, false).await;
        let first = series(&metrics);
        // Stepped down, then leads again: seeded from the cluster's annotations, judged again.
        alerts.reset(&metrics);
        assert!(series(&metrics).is_empty());
        alerts.seed(&key, &crate::controller::writer::serious_failing(report.status()));
        alerts.observe(&key, Some(&report), &metrics, false).await;
        assert_eq!(series(&metrics), first);
    }
}
