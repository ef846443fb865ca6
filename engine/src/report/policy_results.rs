//! What the two policy-report formats share: a Vigil report's results, summary, scope and metadata as
//! the wg-policy `PolicyReport` (wgpolicyk8s.io/v1alpha2, [`super::policy_report`]) and the OpenReports
//! `Report` (openreports.io/v1alpha1, [`super::open_report`]) both define them. The two schemas have the
//! same `results[]`, `summary`, `scope` (an ObjectReference) and result enums; only the envelope differs.
//!
//! Field by field, as the schemas (github.com/openreports/reports-api `config/crd/`, and
//! kubernetes-sigs/wg-policy-prototypes `policy-report/crd/v1alpha2/`) and Policy Reporter
//! (github.com/kyverno/policy-reporter `pkg/openreports`, `pkg/report/result/id_generator.go`) read them:
//! - `policy`: the check id (required by both schemas); `category`: the check's category; `source`: `vigil`.
//! - `result`: `fail` (Fail), `skip` (Waived by an exception, NotApplicable), `error` (Error), `pass`.
//! - `severity`: Vigil's severities are the schemas' enum minus `info` (critical, high, medium, low).
//! - `scored`: whether the result counts in Vigil's score (Fail, Waived and Pass do; NotApplicable and
//!   Error do not).
//! - `message`: the finding's message, which names the container and field; Policy Reporter's default
//!   result id hashes scope, policy, result, category and message, so two containers' findings stay two.
//! - `properties` (string values only, both schemas): `container`, `risk` (0-10), `waivedBy` (the
//!   exception), `securityPolicy` (the SecurityPolicy that judged the subject).
//! - `timestamp`: `{seconds, nanos}` (both required) of the evaluation.
//!
//! Results carry failing results only unless [`ResultFilter::All`] is asked for; the `summary` always
//! counts every result Vigil has for the subject, so a subject with nothing failing still shows how many
//! checks passed.

use serde_json::{Map, Value, json};
use vigil_crds::FindingResult;

use crate::checks::catalog;
use crate::report::Report;
use crate::report::naming::mirror_name;

/// `source` of every result and report.
pub const SOURCE: &str = "vigil";

/// Which results a policy report carries (`--policy-report-results`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResultFilter {
    /// `fail`, `warn` and `error`: what needs someone's attention (an `error` is a check that could not
    /// be evaluated, never a silent pass). Waived and not-applicable (`skip`) and `pass` are counted in
    /// the summary only.
    #[default]
    Failing,
    /// Every result: `pass` and `skip` too.
    All,
}

impl ResultFilter {
    /// The result values a report with this filter carries.
    pub fn statuses(self) -> &'static [&'static str] {
        match self {
            ResultFilter::Failing => &["fail", "warn", "error"],
            ResultFilter::All => &["pass", "fail", "warn", "error", "skip"],
        }
    }

    fn keeps(self, result: &str) -> bool {
        self.statuses().contains(&result)
    }
}

/// The parts both formats share.
pub(crate) struct Shared {
    pub metadata: Value,
    pub scope: Value,
    pub summary: Value,
    pub results: Vec<Value>,
}

/// The results, summary, scope and metadata of a report's policy-report view.
pub(crate) fn shared(report: &Report, filter: ResultFilter) -> Shared {
    let status = report.status();
    let evaluated = status.evaluated_at.as_ref().map(|t| t.0).unwrap_or_default();
    let timestamp = json!({"seconds": evaluated.as_second(), "nanos": evaluated.subsec_nanosecond()});
    let category = |id: &str| catalog::find(id).map(|c| c.category.as_str()).unwrap_or("custom");
    let mut counts = Counts::default();
    let mut results = Vec::new();
    for f in &status.findings {
        let (result, scored) = match f.result {
            FindingResult::Fail => ("fail", true),
            FindingResult::Waived => ("skip", true),
            FindingResult::NotApplicable => ("skip", false),
            FindingResult::Error => ("error", false),
        };
        counts.add(result);
        if !filter.keeps(result) {
            continue;
        }
        let mut properties = Map::new();
        if let Some(c) = &f.container {
            properties.insert("container".into(), c.clone().into());
        }
        if let Some(by) = &f.waived_by {
            properties.insert("waivedBy".into(), by.clone().into());
        }
        properties.insert("risk".into(), f.risk.to_string().into());
        if let Some(policy) = &status.policy {
            properties.insert("securityPolicy".into(), policy.clone().into());
        }
        results.push(json!({
            "source": SOURCE,
            "policy": f.check_id,
            "category": category(&f.check_id),
            "severity": f.severity.as_str(),
            "result": result,
            "message": f.message,
            "scored": scored,
            "timestamp": timestamp,
            "properties": properties,
        }));
    }
    for id in &status.passed {
        counts.add("pass");
        if filter.keeps("pass") {
            results.push(json!({
                "source": SOURCE,
                "policy": id,
                "category": category(id),
                "result": "pass",
                "scored": true,
                "timestamp": timestamp,
            }));
        }
    }
    Shared { metadata: metadata(report), scope: scope(report), summary: counts.to_json(), results }
}

#[derive(Default)]
struct Counts {
    pass: u32,
    fail: u32,
    error: u32,
    skip: u32,
}

impl Counts {
    fn add(&mut self, result: &str) {
        match result {
            "pass" => self.pass += 1,
            "fail" => self.fail += 1,
            "error" => self.error += 1,
            _ => self.skip += 1,
        }
    }

    fn to_json(&self) -> Value {
        json!({"pass": self.pass, "fail": self.fail, "warn": 0, "error": self.error, "skip": self.skip})
    }
}

/// The subject as an ObjectReference (a Namespace is cluster-scoped: no namespace in its reference).
fn scope(report: &Report) -> Value {
    let subject = report.subject();
    let mut scope = json!({"apiVersion": subject.api_version, "kind": subject.kind, "name": subject.name});
    if let Some(ns) = subject.namespace.as_ref().filter(|_| subject.kind != "Namespace") {
        scope["namespace"] = ns.clone().into();
    }
    if let Some(uid) = &subject.uid {
        scope["uid"] = uid.clone().into();
    }
    scope
}

/// Named `vigil-<report>` beside the report, with its labels and its owner reference to the subject (the
/// garbage collector removes it with the subject).
fn metadata(report: &Report) -> Value {
    let meta = report.metadata();
    let mut metadata = json!({"name": mirror_name(meta.name.as_deref().unwrap_or(""))});
    if let Some(ns) = &meta.namespace {
        metadata["namespace"] = ns.clone().into();
    }
    if let Some(labels) = &meta.labels {
        metadata["labels"] = serde_json::to_value(labels).unwrap_or_default();
    }
    if let Some(owners) = &meta.owner_references {
        metadata["ownerReferences"] = serde_json::to_value(owners).unwrap_or_default();
    }
    metadata
}
