//! Apply: the only code that writes reports. Server-side apply with one field manager, only when the
//! content changed (a timestamp alone is not a change), deletes for subjects that are gone; every write
//! waits for the client-side rate limiter. Needs a client.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use tracing::{debug, info};
use vigil_crds::{ClusterSecurityReport, ReportStatus, SecurityReport};

use vigil_engine::Report;
use vigil_engine::report::labels;
use vigil_engine::subject::SubjectKey;

use super::Shared;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "vigil";

/// Where a report lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportId {
    /// `None` for ClusterSecurityReports.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ReportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{namespace}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl ReportId {
    pub fn of(report: &Report) -> ReportId {
        let meta = report.metadata();
        ReportId { namespace: meta.namespace.clone(), name: meta.name.clone().unwrap_or_default() }
    }

    /// Where the report of a subject lives (also when the subject is gone).
    pub fn for_subject(key: &SubjectKey) -> ReportId {
        let (namespace, name) = vigil_engine::report::report_location(key);
        ReportId { namespace, name }
    }
}

/// What the API server holds for a report, as far as Vigil knows.
#[derive(Clone, Debug)]
struct Written {
    fingerprint: u64,
    /// The `Compliant` condition's status and transition time, kept across writes that do not flip it.
    compliant: Option<(String, Time)>,
    subject: SubjectKey,
}

pub struct Writer {
    client: Client,
    shared: Arc<Shared>,
    limiter: tokio::sync::Mutex<tokio::time::Interval>,
    written: Mutex<HashMap<ReportId, Written>>,
    /// Also write wg-policy PolicyReports (`--policy-reports`); switched off when their CRD is missing.
    policy_reports: std::sync::atomic::AtomicBool,
}

/// The outcome of one apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Written,
    Unchanged,
}

impl Writer {
    pub fn new(client: Client, writes_per_second: f64, shared: Arc<Shared>, policy_reports: bool) -> Self {
        let period = std::time::Duration::from_secs_f64(1.0 / writes_per_second.max(0.01));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Writer {
            client,
            shared,
            limiter: tokio::sync::Mutex::new(interval),
            written: Mutex::new(HashMap::new()),
            policy_reports: std::sync::atomic::AtomicBool::new(policy_reports),
        }
    }

    async fn wait_for_turn(&self) {
        self.limiter.lock().await.tick().await;
    }

    /// Lists the reports Vigil wrote before (a restart, another replica): their content is what the next
    /// pass compares with, so an unchanged cluster gets no writes. Returns them with their subjects.
    pub async fn load_existing(&self) -> kube::Result<Vec<(ReportId, SubjectKey, Report)>> {
        let params = ListParams::default().labels(&format!("{}=vigil", labels::MANAGED_BY));
        let namespaced: Api<SecurityReport> = Api::all(self.client.clone());
        let cluster: Api<ClusterSecurityReport> = Api::all(self.client.clone());
        let mut found = Vec::new();
        for mut r in namespaced.list(&params).await? {
            r.metadata = comparable(&r.metadata);
            found.push(self.remember_existing(Report::Namespaced(r)));
        }
        for mut r in cluster.list(&params).await? {
            r.metadata = comparable(&r.metadata);
            found.push(self.remember_existing(Report::Cluster(r)));
        }
        Ok(found)
    }

    fn remember_existing(&self, report: Report) -> (ReportId, SubjectKey, Report) {
        let id = ReportId::of(&report);
        let key = SubjectKey::of(report.subject());
        let status = match &report {
            Report::Namespaced(r) => r.status.as_ref(),
            Report::Cluster(r) => r.status.as_ref(),
        };
        let written =
            Written { fingerprint: fingerprint(&report, &id), compliant: compliant_of(status), subject: key.clone() };
        self.written.lock().expect("written lock").insert(id.clone(), written);
        (id, key, report)
    }

    /// Every report Vigil knows is in the cluster, with its subject.
    pub fn known(&self) -> Vec<(ReportId, SubjectKey)> {
        self.written.lock().expect("written lock").iter().map(|(id, w)| (id.clone(), w.subject.clone())).collect()
    }

    /// Writes a report when its content differs from what the cluster holds.
    pub async fn apply(&self, mut report: Report, subject: &SubjectKey) -> kube::Result<Applied> {
        let id = ReportId::of(&report);
        let previous = self.written.lock().expect("written lock").get(&id).cloned();
        keep_transition_time(&mut report, previous.as_ref());
        let fingerprint = fingerprint(&report, &id);
        if previous.as_ref().is_some_and(|p| p.fingerprint == fingerprint) {
            self.shared.metrics.write("unchanged");
            return Ok(Applied::Unchanged);
        }
        if !*self.shared.leading.borrow() {
            // A standby replica writes nothing.
            return Ok(Applied::Unchanged);
        }
        self.wait_for_turn().await;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match &report {
            Report::Namespaced(r) => {
                let api: Api<SecurityReport> =
                    Api::namespaced(self.client.clone(), id.namespace.as_deref().unwrap_or("default"));
                api.patch(&id.name, &params, &Patch::Apply(with_types(r))).await?;
            }
            Report::Cluster(r) => {
                let api: Api<ClusterSecurityReport> = Api::all(self.client.clone());
                api.patch(&id.name, &params, &Patch::Apply(with_types(r))).await?;
            }
        }
        debug!(report = %id.name, namespace = ?id.namespace, "applied");
        self.apply_policy_report(&report).await;
        self.shared.metrics.write("applied");
        let compliant = compliant_of(Some(report.status()));
        self.written
            .lock()
            .expect("written lock")
            .insert(id, Written { fingerprint, compliant, subject: subject.clone() });
        Ok(Applied::Written)
    }

    /// Deletes the report at `id` (its subject is gone). Missing already: fine.
    pub async fn delete(&self, id: &ReportId) -> kube::Result<()> {
        if !*self.shared.leading.borrow() {
            return Ok(());
        }
        if !self.written.lock().expect("written lock").contains_key(id) {
            return Ok(());
        }
        self.wait_for_turn().await;
        let result = match &id.namespace {
            Some(ns) => Api::<SecurityReport>::namespaced(self.client.clone(), ns)
                .delete(&id.name, &DeleteParams::default())
                .await
                .map(|_| ()),
            None => Api::<ClusterSecurityReport>::all(self.client.clone())
                .delete(&id.name, &DeleteParams::default())
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => info!(report = %id.name, namespace = ?id.namespace, "deleted: subject is gone"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
        self.shared.metrics.write("deleted");
        self.written.lock().expect("written lock").remove(id);
        if self.policy_reports.load(std::sync::atomic::Ordering::Relaxed) {
            let name = format!("vigil-{}", id.name);
            let _ = self.policy_report_api(id.namespace.as_deref()).delete(&name, &DeleteParams::default()).await;
        }
        Ok(())
    }

    fn policy_report_api(&self, namespace: Option<&str>) -> Api<kube::api::DynamicObject> {
        let (kind, plural) = if namespace.is_some() {
            ("PolicyReport", "policyreports")
        } else {
            ("ClusterPolicyReport", "clusterpolicyreports")
        };
        let resource = kube::api::ApiResource {
            group: "wgpolicyk8s.io".into(),
            version: "v1alpha2".into(),
            api_version: vigil_engine::report::policy_report::API_VERSION.into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// Mirrors a written report as a PolicyReport. Best effort: a missing CRD switches the feature off
    /// (logged once); other failures are logged.
    async fn apply_policy_report(&self, report: &Report) {
        if !self.policy_reports.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let body = vigil_engine::report::policy_report::policy_report(report);
        let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
        let api = self.policy_report_api(report.metadata().namespace.as_deref());
        match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tracing::warn!("the wgpolicyk8s.io PolicyReport CRD is not installed: --policy-reports is off");
                self.policy_reports.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, report = %name, "cannot write the PolicyReport"),
        }
    }
}

/// The metadata Vigil sets, without what the server adds.
fn comparable(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone(),
        owner_references: meta.owner_references.clone(),
        ..ObjectMeta::default()
    }
}

/// Server-side apply needs apiVersion and kind in the body.
fn with_types<K: Resource<DynamicType = ()> + Clone + serde::Serialize>(object: &K) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
        // Never send server-owned metadata.
        if let Some(meta) = map.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for key in ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"] {
                meta.remove(key);
            }
        }
    }
    value
}

fn compliant_of(status: Option<&ReportStatus>) -> Option<(String, Time)> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == "Compliant")
        .map(|c| (c.status.clone(), c.last_transition_time.clone()))
}

/// A condition that did not flip keeps the time it last transitioned.
fn keep_transition_time(report: &mut Report, previous: Option<&Written>) {
    let Some((status, time)) = previous.and_then(|p| p.compliant.clone()) else { return };
    let conditions = match report {
        Report::Namespaced(r) => r.status.as_mut().map(|s| &mut s.conditions),
        Report::Cluster(r) => r.status.as_mut().map(|s| &mut s.conditions),
    };
    for c in conditions.into_iter().flatten() {
        if c.type_ == "Compliant" && c.status == status {
            c.last_transition_time = time.clone();
        }
    }
}

/// What decides "changed": the subject, labels, owner and status, without `evaluatedAt` and condition
/// transition times.
fn fingerprint(report: &Report, id: &ReportId) -> u64 {
    let mut value = report.to_json();
    if let Some(status) = value.get_mut("status").and_then(|s| s.as_object_mut()) {
        status.remove("evaluatedAt");
        if let Some(conditions) = status.get_mut("conditions").and_then(|c| c.as_array_mut()) {
            for c in conditions.iter_mut().filter_map(|c| c.as_object_mut()) {
                c.remove("lastTransitionTime");
            }
        }
    }
    let spec = value.get("spec").cloned().unwrap_or_default();
    let status = value.get("status").cloned().unwrap_or_default();
    let labels = report.metadata().labels.clone().unwrap_or_default();
    let owners = serde_json::to_string(&report.metadata().owner_references).unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    spec.to_string().hash(&mut hasher);
    status.to_string().hash(&mut hasher);
    labels.hash(&mut hasher);
    owners.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    //! The write path against a mock API server (kube-rs tower-test style): apply once, skip unchanged,
    //! keep transition times, delete orphans.

    use std::sync::Arc;

    use http::{Method, Request, Response};
    use kube::client::Body;
    use tokio::sync::watch as signal;
    use vigil_engine::{Index, audit_with_policy};

    use super::*;
    use crate::controller::Shared;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    fn writer() -> (Writer, Handle, signal::Sender<bool>) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let (leading_tx, leading) = signal::channel(true);
        let shared = Arc::new(Shared::new(Default::default(), leading));
        (Writer::new(client, 1000.0, shared, false), handle, leading_tx)
    }

    fn report(privileged: bool, now: &str) -> Report {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: shop, uid: u1}}\nspec:\n  containers: [{{name: c, image: \"nginx:1.27\", securityContext: {{privileged: {privileged}}}}}]\n"
        );
        let index = Index::from_yaml(&yaml).unwrap();
        let policy = vigil_engine::Policy::default();
        audit_with_policy(&index, &policy, now.parse().unwrap())
            .into_iter()
            .find(|r| r.subject().kind == "Pod")
            .unwrap()
    }

    /// Answers the next request with the body it was sent, after checking method and path.
    async fn expect(handle: &mut Handle, method: Method, path: &str) -> serde_json::Value {
        let (request, respond) = handle.next_request().await.expect("a request");
        assert_eq!(request.method(), method);
        assert_eq!(request.uri().path(), path);
        let query = request.uri().query().unwrap_or("").to_string();
        let body = request.into_body().collect_bytes().await.unwrap();
        let echoed = if body.is_empty() || method == Method::DELETE {
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        if method == Method::PATCH {
            assert!(query.contains("fieldManager=vigil") && query.contains("force=true"), "{query}");
        }
        respond.send_response(Response::builder().body(Body::from(serde_json::to_vec(&echoed).unwrap())).unwrap());
        echoed
    }

    #[tokio::test]
    async fn applies_once_and_skips_unchanged_content() {
        let (writer, mut handle, _leading) = writer();
        let key = SubjectKey::new("Pod", "shop", "web");
        let server = tokio::spawn(async move {
            let body =
                expect(&mut handle, Method::PATCH, "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web")
                    .await;
            assert_eq!(body["kind"], "SecurityReport");
            assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "u1");
            // The second apply changes only evaluatedAt: no request. The third changes content.
            let body =
                expect(&mut handle, Method::PATCH, "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web")
                    .await;
            assert!(
                body["status"]["findings"].as_array().unwrap().iter().all(|f| f["checkId"] != "privileged-container")
            );
            // Compliant is still False (other checks fail): its transition time is kept.
            assert_eq!(body["status"]["conditions"][0]["lastTransitionTime"], "2026-11-27T00:00:00Z");
        });
        assert_eq!(writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap(), Applied::Written);
        assert_eq!(writer.apply(report(true, "2026-11-27T01:00:00Z"), &key).await.unwrap(), Applied::Unchanged);
        assert_eq!(writer.apply(report(false, "2026-11-27T02:00:00Z"), &key).await.unwrap(), Applied::Written);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn deletes_known_reports_and_ignores_unknown_ones() {
        let (writer, mut handle, _leading) = writer();
        let key = SubjectKey::new("Pod", "shop", "web");
        let server = tokio::spawn(async move {
            expect(&mut handle, Method::PATCH, "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web")
                .await;
            expect(&mut handle, Method::DELETE, "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web")
                .await;
        });
        writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap();
        writer.delete(&ReportId::for_subject(&key)).await.unwrap();
        // Gone from what the writer knows: a second delete sends nothing.
        writer.delete(&ReportId::for_subject(&key)).await.unwrap();
        server.await.unwrap();
        assert!(writer.known().is_empty());
    }

    #[tokio::test]
    async fn a_standby_writes_nothing() {
        let (writer, mut handle, leading) = writer();
        leading.send(false).unwrap();
        let key = SubjectKey::new("Pod", "shop", "web");
        assert_eq!(writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap(), Applied::Unchanged);
        let next = tokio::time::timeout(std::time::Duration::from_millis(100), handle.next_request()).await;
        assert!(next.is_err(), "a standby sent a request");
    }

    #[test]
    fn report_ids_of_gone_subjects() {
        let ns = ReportId::for_subject(&SubjectKey::new("Namespace", "", "shop"));
        assert_eq!(ns, ReportId { namespace: Some("shop".into()), name: "namespace-shop".into() });
        let node = ReportId::for_subject(&SubjectKey::new("Node", "", "n1"));
        assert_eq!(node, ReportId { namespace: None, name: "node-n1".into() });
    }
}
