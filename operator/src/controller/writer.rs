//! Apply: the only code that writes reports. Server-side apply with one field manager, only when the
//! content changed (a timestamp alone is not a change), deletes for subjects that are gone; every write
//! waits for its turn at the adaptive pace ([`super::pacer`]) and then for a leadership permit; a write the
//! API server refuses for load (429, 503) waits as long as it asks and is sent again. Needs a client.
//!
//! What the cluster holds is learnt from a metadata-only watch of this install's own reports
//! (`vigil.dev/instance`), paginated like every watcher list: each report carries its content
//! fingerprint, its `Compliant` transition and its serious failing checks in annotations, so a new leader
//! knows what is written without reading a single report body, and a report someone else edited
//! (its `generation` moved past ours) or deleted is written again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::watch as signal;
use tracing::{debug, info, warn};
use vigil_crds::{ClusterSecurityReport, FindingResult, ReportStatus, SecurityReport, Severity};

use vigil_engine::Report;
use vigil_engine::report::labels;
use vigil_engine::subject::SubjectKey;

use super::Shared;
use super::mirrors::Mirrors;
use super::pacer::{Outcome, Pacer, throttled};
use super::watch::map_event;
use crate::cli::OperatorArgs;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "vigil";
/// The label that tells this install's reports from another install's.
pub const INSTANCE_LABEL: &str = "vigil.dev/instance";
/// Annotations that let a metadata-only watch know what a report says.
pub mod annotations {
    /// The content fingerprint (see [`super::fingerprint`]).
    pub const FINGERPRINT: &str = "vigil.dev/fingerprint";
    /// The subject, as JSON `[kind, namespace, name]` (labels cannot hold every name).
    pub const SUBJECT: &str = "vigil.dev/subject";
    /// The `Compliant` condition: `<status> <lastTransitionTime>`.
    pub const COMPLIANT: &str = "vigil.dev/compliant";
    /// Critical and high checks failing, comma-separated: Events announce only changes after a failover.
    pub const FAILING: &str = "vigil.dev/failing";
}
/// A write refused for load is sent at most this many times in all; then the error goes to the reconcile
/// loop, which retries the subject later.
const MAX_THROTTLED_ATTEMPTS: u32 = 5;
/// The name of the readiness entry of the own-report watch.
pub const OWN_REPORTS: &str = "SecurityReport (own)";

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

    fn of_meta(meta: &ObjectMeta) -> ReportId {
        ReportId { namespace: meta.namespace.clone(), name: meta.name.clone().unwrap_or_default() }
    }
}

/// What the API server holds for a report, as far as Vigil knows.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// `None`: unknown content (edited by someone else): the next apply writes.
    pub fingerprint: Option<u64>,
    /// The `Compliant` condition's status and transition time, kept across writes that do not flip it.
    pub compliant: Option<(String, Time)>,
    pub subject: SubjectKey,
    /// The report's `metadata.generation` after Vigil's last write (0 when unknown).
    pub generation: i64,
    /// Critical and high checks failing.
    pub failing: BTreeSet<String>,
}

impl Written {
    /// What a report's metadata says (the own-report watch). `None` when it lacks Vigil's annotations.
    fn from_meta(meta: &ObjectMeta) -> Option<Written> {
        let annotations = meta.annotations.as_ref()?;
        let subject: (String, String, String) = serde_json::from_str(annotations.get(annotations::SUBJECT)?).ok()?;
        let fingerprint = annotations.get(annotations::FINGERPRINT).and_then(|f| u64::from_str_radix(f, 16).ok());
        let compliant = annotations.get(annotations::COMPLIANT).and_then(|c| {
            let (status, time) = c.split_once(' ')?;
            Some((status.to_string(), Time(time.parse().ok()?)))
        });
        let failing = annotations
            .get(annotations::FAILING)
            .map(|f| f.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        Some(Written {
            fingerprint,
            compliant,
            subject: SubjectKey::new(&subject.0, &subject.1, &subject.2),
            generation: meta.generation.unwrap_or(0),
            failing,
        })
    }
}

/// What the writer knows of the cluster's reports.
#[derive(Default)]
struct Ledger {
    written: HashMap<ReportId, Written>,
    /// Reports with a write of ours in flight: their watch events are ours, not drift.
    in_flight: BTreeSet<ReportId>,
}

pub struct Writer {
    client: Client,
    shared: Arc<Shared>,
    instance: String,
    pacer: Pacer,
    ledger: Mutex<Ledger>,
    /// Policy reports (`--policy-reports`): which kinds are written now, and what the cluster holds.
    mirrors: Arc<Mirrors>,
    /// Failed policy-report writes are logged at most once a minute.
    mirror_warnings: Mutex<super::watch::LogLimiter>,
}

/// The outcome of one apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Written,
    Unchanged,
    /// This replica does not lead (or stopped leading while waiting for its turn): nothing sent.
    NotLeading,
}

impl Writer {
    pub fn new(client: Client, args: &OperatorArgs, shared: Arc<Shared>) -> Self {
        let pacer = Pacer::new(args.write_rate);
        shared.metrics.write_rate.set(pacer.rate());
        Writer {
            client,
            shared,
            instance: args.instance.clone(),
            pacer,
            ledger: Mutex::new(Ledger::default()),
            mirrors: Arc::new(Mirrors::new(args.policy_reports, args.policy_report_results.into(), &args.instance)),
            mirror_warnings: Mutex::new(super::watch::LogLimiter::per_minute()),
        }
    }

    /// The policy-report state, which the CRD watch and the discovery task keep current.
    pub fn mirrors(&self) -> Arc<Mirrors> {
        self.mirrors.clone()
    }

    /// Learns again which policy reports the cluster holds (a full pass does, before it writes).
    pub async fn reseed_mirrors(&self) {
        self.mirrors.reseed(&self.client).await;
    }

    /// Sends one write at the pacer's turn, as the leader (checked again after the wait and held until
    /// the answer), sending it again while the server refuses it for load. `None`: not leading.
    async fn paced_write<T, F, Fut>(&self, mut send: F) -> Option<kube::Result<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = kube::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pacer.wait_for_turn().await;
            let _permit = self.shared.leader.write_permit().await?;
            let started = tokio::time::Instant::now();
            let result = send().await;
            if !self.paced(&result, started, attempt) {
                return Some(result);
            }
        }
    }

    /// Feeds a write's outcome to the pacer. True when the server refused it for load and it should be
    /// sent again (after the pause the pacer now imposes on every write).
    fn paced<T>(&self, result: &kube::Result<T>, started: tokio::time::Instant, attempt: u32) -> bool {
        let pause = result.as_ref().err().and_then(throttled);
        let outcome = match pause {
            Some(wait) => Outcome::Throttled(wait),
            None => Outcome::Answered(started.elapsed()),
        };
        if let Outcome::Answered(latency) = outcome {
            self.shared.metrics.write_seconds.observe(latency.as_secs_f64());
        }
        let rate = self.pacer.observe(outcome);
        self.shared.metrics.write_rate.set(rate);
        if pause.is_some() {
            self.shared.metrics.write("throttled");
            debug!(rate, attempt, "the API server refused a write for load; slowing down");
        }
        pause.is_some() && attempt < MAX_THROTTLED_ATTEMPTS
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }

    /// Every report of this install Vigil knows is in the cluster, with its subject.
    pub fn known(&self) -> Vec<(ReportId, SubjectKey)> {
        self.ledger().written.iter().map(|(id, w)| (id.clone(), w.subject.clone())).collect()
    }

    /// Serious checks failing per subject, as the reports in the cluster say: a new leader seeds its alert
    /// memory with them, so it announces only changes.
    pub fn failing_by_subject(&self) -> Vec<(SubjectKey, BTreeSet<String>)> {
        self.ledger().written.values().map(|w| (w.subject.clone(), w.failing.clone())).collect()
    }

    /// Labels and annotations Vigil sets on every report of this install.
    fn stamp(&self, report: &mut Report, key: &SubjectKey) {
        let meta = match report {
            Report::Namespaced(r) => &mut r.metadata,
            Report::Cluster(r) => &mut r.metadata,
        };
        meta.labels.get_or_insert_with(BTreeMap::new).insert(INSTANCE_LABEL.into(), self.instance.clone());
        let subject = serde_json::to_string(&(&key.kind, &key.namespace, &key.name)).unwrap_or_default();
        meta.annotations.get_or_insert_with(BTreeMap::new).insert(annotations::SUBJECT.into(), subject);
    }

    /// Writes a report when its content differs from what the cluster holds.
    pub async fn apply(&self, mut report: Report, subject: &SubjectKey) -> kube::Result<Applied> {
        self.stamp(&mut report, subject);
        let id = ReportId::of(&report);
        let previous = self.ledger().written.get(&id).cloned();
        keep_transition_time(&mut report, previous.as_ref());
        let fingerprint = fingerprint(&report, &id);
        if previous.as_ref().is_some_and(|p| p.fingerprint == Some(fingerprint)) {
            // The policy reports may still be missing (their CRD installed since, or one deleted).
            self.write_mirrors(&report, fingerprint).await;
            self.shared.metrics.write("unchanged");
            return Ok(Applied::Unchanged);
        }
        if !self.shared.leader.is_leading() {
            return Ok(Applied::NotLeading);
        }
        let compliant = compliant_of(Some(report.status()));
        let failing = serious_failing(report.status());
        annotate(&mut report, fingerprint, compliant.as_ref(), &failing);
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            self.pacer.wait_for_turn().await;
            // Leadership is checked again after the wait, and held until the write returns.
            let Some(_permit) = self.shared.leader.write_permit().await else { return Ok(Applied::NotLeading) };
            self.ledger().in_flight.insert(id.clone());
            let started = tokio::time::Instant::now();
            let result = self.send_apply(&report, &id).await;
            if !self.paced(&result, started, attempt) {
                break result;
            }
            self.ledger().in_flight.remove(&id);
        };
        {
            let mut ledger = self.ledger();
            ledger.in_flight.remove(&id);
            let generation = result?;
            let written =
                Written { fingerprint: Some(fingerprint), compliant, subject: subject.clone(), generation, failing };
            ledger.written.insert(id.clone(), written);
        }
        debug!(report = %id.name, namespace = ?id.namespace, "applied");
        self.shared.metrics.write("applied");
        self.write_mirrors(&report, fingerprint).await;
        Ok(Applied::Written)
    }

    /// Server-side apply; returns the report's generation after the write.
    async fn send_apply(&self, report: &Report, id: &ReportId) -> kube::Result<i64> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let meta = match report {
            Report::Namespaced(r) => {
                let api: Api<SecurityReport> =
                    Api::namespaced(self.client.clone(), id.namespace.as_deref().unwrap_or("default"));
                api.patch(&id.name, &params, &Patch::Apply(with_types(r))).await?.metadata
            }
            Report::Cluster(r) => {
                let api: Api<ClusterSecurityReport> = Api::all(self.client.clone());
                api.patch(&id.name, &params, &Patch::Apply(with_types(r))).await?.metadata
            }
        };
        Ok(meta.generation.unwrap_or(0))
    }

    /// Deletes the report at `id` (its subject is gone). Missing already: fine.
    pub async fn delete(&self, id: &ReportId) -> kube::Result<()> {
        if !self.ledger().written.contains_key(id) || !self.shared.leader.is_leading() {
            return Ok(());
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            self.pacer.wait_for_turn().await;
            let Some(_permit) = self.shared.leader.write_permit().await else { return Ok(()) };
            self.ledger().in_flight.insert(id.clone());
            let started = tokio::time::Instant::now();
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
            if !self.paced(&result, started, attempt) {
                break result;
            }
            self.ledger().in_flight.remove(id);
        };
        {
            let mut ledger = self.ledger();
            ledger.in_flight.remove(id);
            match result {
                Ok(()) => info!(report = %id.name, namespace = ?id.namespace, "deleted: subject is gone"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
            ledger.written.remove(id);
        }
        self.shared.metrics.write("deleted");
        self.delete_mirrors(id).await;
        Ok(())
    }

    /// Watches this install's reports, metadata only, for as long as the operator runs: fills what the
    /// writer knows (at start and on every relist, paginated), and queues the subject of a report someone
    /// else edited or deleted, so it is written again. Needs a client.
    pub async fn watch_own(self: Arc<Self>, client: Client, shutdown: signal::Receiver<bool>) {
        let selector = format!("{INSTANCE_LABEL}={}", self.instance);
        let config = watcher::Config::default().labels(&selector).any_semantic();
        let namespaced =
            watcher::watcher(Api::<PartialObjectMeta<SecurityReport>>::all(client.clone()), config.clone())
                .default_backoff()
                .map(|e| e.map(|e| (false, map_event(e, |m| m.metadata))));
        let cluster = watcher::watcher(Api::<PartialObjectMeta<ClusterSecurityReport>>::all(client), config)
            .default_backoff()
            .map(|e| e.map(|e| (true, map_event(e, |m| m.metadata))));
        let events = futures::stream::select(namespaced, cluster);
        futures::pin_mut!(events);
        let mut shutdown = shutdown;
        // Per list (namespaced, cluster): the ids a relist saw, and whether the first list finished.
        let mut relist: [Option<BTreeSet<ReportId>>; 2] = [None, None];
        let mut synced = [false, false];
        let mut warnings = super::watch::LogLimiter::per_minute();
        loop {
            let event = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                event = events.next() => event,
            };
            let Some(event) = event else { return };
            match event {
                Ok((cluster, event)) => {
                    let which = cluster as usize;
                    match event {
                        Event::Init => relist[which] = Some(BTreeSet::new()),
                        Event::InitApply(meta) => {
                            if let Some(seen) = relist[which].as_mut() {
                                seen.insert(ReportId::of_meta(&meta));
                            }
                            self.observe(&meta, false);
                        }
                        Event::InitDone => {
                            if let Some(seen) = relist[which].take() {
                                self.forget_unlisted(cluster, &seen);
                            }
                            synced[which] = true;
                            if synced == [true, true] {
                                self.shared.syncing.lock().expect("syncing lock").remove(OWN_REPORTS);
                            }
                        }
                        Event::Apply(meta) => self.observe(&meta, false),
                        Event::Delete(meta) => self.observe(&meta, true),
                    }
                }
                Err(error) => {
                    self.shared
                        .metrics
                        .watch_errors
                        .get_or_create(&super::metrics::KindLabel { kind: "SecurityReport".into() })
                        .inc();
                    if warnings.allow() {
                        warn!(%error, suppressed = warnings.take_suppressed(), "watch of Vigil's own reports failed; retrying");
                    }
                }
            }
        }
    }

    /// One event of the own-report watch.
    fn observe(&self, meta: &ObjectMeta, deleted: bool) {
        let id = ReportId::of_meta(meta);
        let seen = Written::from_meta(meta);
        let leading = self.shared.leader.is_leading();
        let mut ledger = self.ledger();
        if ledger.in_flight.contains(&id) {
            return; // our own write, answered soon
        }
        let known = ledger.written.get(&id).cloned();
        let drifted = match (&known, deleted) {
            // A report we wrote was deleted by someone else.
            (Some(_), true) => {
                ledger.written.remove(&id);
                true
            }
            (None, true) => false,
            (Some(known), false) if leading => {
                // Someone else wrote it after us: its content is unknown until we write it again.
                let edited = meta.generation.unwrap_or(0) > known.generation;
                if edited && let Some(w) = ledger.written.get_mut(&id) {
                    w.fingerprint = None;
                    w.generation = meta.generation.unwrap_or(0);
                }
                edited
            }
            // Standing by, or a report not known yet (written by an earlier leader): take its word.
            (_, false) => {
                match seen {
                    Some(seen) => drop(ledger.written.insert(id.clone(), seen)),
                    // Our label but not our annotations (an older Vigil, or hand-made): rewrite it.
                    None => drop(ledger.written.insert(
                        id.clone(),
                        Written {
                            fingerprint: None,
                            compliant: None,
                            subject: subject_of_labels(meta),
                            generation: meta.generation.unwrap_or(0),
                            failing: BTreeSet::new(),
                        },
                    )),
                }
                false
            }
        };
        let subject = known.map(|k| k.subject);
        drop(ledger);
        if drifted
            && leading
            && let Some(subject) = subject
        {
            info!(report = %id, subject = %subject, deleted, "report changed by someone else; writing it again");
            self.shared.metrics.write("healed");
            self.shared.queue.push(subject);
        }
    }

    /// After a relist: reports the ledger holds that the list no longer has were deleted meanwhile.
    fn forget_unlisted(&self, cluster: bool, seen: &BTreeSet<ReportId>) {
        let gone: Vec<SubjectKey> = {
            let mut ledger = self.ledger();
            let gone: Vec<ReportId> = ledger
                .written
                .keys()
                .filter(|id| {
                    id.namespace.is_none() == cluster && !seen.contains(*id) && !ledger.in_flight.contains(*id)
                })
                .cloned()
                .collect();
            gone.iter().filter_map(|id| ledger.written.remove(id)).map(|w| w.subject).collect()
        };
        if self.shared.leader.is_leading() {
            self.shared.queue.extend(gone);
        }
    }

    /// Writes a report's policy reports of every kind served now that the cluster does not hold as they
    /// are. Best effort: a failure is logged and the write tried again on the subject's next pass (it
    /// switches nothing off: whether a kind is written follows its CRD, see [`super::mirrors`]).
    async fn write_mirrors(&self, report: &Report, fingerprint: u64) {
        let namespace = report.metadata().namespace.clone();
        for (slot, resource) in self.mirrors.served_for(namespace.is_some()) {
            let mut body = slot.format.body(report, self.mirrors.filter);
            let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let location = (slot, namespace.clone(), name.clone());
            let mirror_fingerprint = self.mirrors.fingerprint(fingerprint, slot);
            if self.mirrors.is_written(&location, mirror_fingerprint) {
                continue;
            }
            body["metadata"]["annotations"] =
                serde_json::json!({annotations::FINGERPRINT: format!("{mirror_fingerprint:016x}")});
            let api: Api<kube::api::DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                None => Api::all_with(self.client.clone(), &resource),
            };
            let (params, patch) = (PatchParams::apply(FIELD_MANAGER).force(), Patch::Apply(&body));
            let Some(result) = self.paced_write(|| api.patch(&name, &params, &patch)).await else { return };
            match result {
                Ok(_) => {
                    self.mirrors.record(location, mirror_fingerprint);
                    self.shared.metrics.write("policy_report_applied");
                }
                Err(error) => {
                    self.shared.metrics.write("policy_report_failed");
                    let mut warnings = self.mirror_warnings.lock().expect("warning lock");
                    if warnings.allow() {
                        warn!(%error, kind = slot.kind(), namespace = ?namespace, name, suppressed = warnings.take_suppressed(), "cannot write a policy report; trying again on the next pass");
                    }
                }
            }
        }
    }

    /// Deletes a gone subject's policy reports of every kind served now (missing already: fine; the
    /// garbage collector removes them with the subject too, through their owner reference).
    async fn delete_mirrors(&self, id: &ReportId) {
        let name = vigil_engine::report::mirror_name(&id.name);
        for (slot, resource) in self.mirrors.served_for(id.namespace.is_some()) {
            let api: Api<kube::api::DynamicObject> = match &id.namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                None => Api::all_with(self.client.clone(), &resource),
            };
            let delete = || async { api.delete(&name, &DeleteParams::default()).await.map(|_| ()) };
            let Some(result) = self.paced_write(delete).await else { return };
            match result {
                Ok(()) => self.mirrors.forget(&(slot, id.namespace.clone(), name.clone())),
                Err(error) if is_not_found(&error) => self.mirrors.forget(&(slot, id.namespace.clone(), name.clone())),
                Err(error) => {
                    let mut warnings = self.mirror_warnings.lock().expect("warning lock");
                    if warnings.allow() {
                        warn!(%error, kind = slot.kind(), report = %id, suppressed = warnings.take_suppressed(), "cannot delete a policy report");
                    }
                }
            }
        }
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
}

/// Records in the report what a metadata-only reader needs.
fn annotate(report: &mut Report, fingerprint: u64, compliant: Option<&(String, Time)>, failing: &BTreeSet<String>) {
    let meta = match report {
        Report::Namespaced(r) => &mut r.metadata,
        Report::Cluster(r) => &mut r.metadata,
    };
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(annotations::FINGERPRINT.into(), format!("{fingerprint:016x}"));
    if let Some((status, time)) = compliant {
        annotations.insert(annotations::COMPLIANT.into(), format!("{status} {}", time.0));
    }
    annotations.insert(annotations::FAILING.into(), failing.iter().cloned().collect::<Vec<_>>().join(","));
}

/// Critical and high checks failing in a report: what Events are about.
pub fn serious_failing(status: &ReportStatus) -> BTreeSet<String> {
    status
        .findings
        .iter()
        .filter(|f| f.result == FindingResult::Fail && f.severity >= Severity::High)
        .map(|f| f.check_id.clone())
        .collect()
}

/// The subject of a report without Vigil's annotations, from its labels (best effort).
fn subject_of_labels(meta: &ObjectMeta) -> SubjectKey {
    let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default();
    let kind = label(labels::SUBJECT_KIND);
    let namespace = if kind == "Namespace" { String::new() } else { meta.namespace.clone().unwrap_or_default() };
    SubjectKey::new(&kind, &namespace, &label(labels::SUBJECT_NAME))
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

    use clap::Parser;
    use http::{Method, Request, Response};
    use kube::client::Body;
    use vigil_engine::{Index, audit_with_policy};

    use super::*;
    use crate::controller::Shared;
    use crate::controller::leader::Leadership;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    pub(crate) fn operator_args(extra: &[&str]) -> OperatorArgs {
        let args = ["vigil", "operator", "--write-rate", "1000"].into_iter().chain(extra.iter().copied());
        match crate::cli::Cli::parse_from(args).command {
            crate::cli::Command::Operator(args) => args,
            _ => unreachable!("parsed an operator command"),
        }
    }

    fn writer() -> (Writer, Handle, Arc<Leadership>) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let leadership = Arc::new(Leadership::default());
        leadership.lead_for(std::time::Duration::from_secs(600));
        let shared = Arc::new(Shared::new(Default::default(), leadership.clone()));
        (Writer::new(client, &operator_args(&[]), shared), handle, leadership)
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
    async fn policy_reports_follow_their_report_and_a_failed_write_switches_nothing_off() {
        use crate::controller::mirrors::{Format, Slot};
        let (writer, mut handle, _leading) = writer();
        let slot = Slot { format: Format::OpenReports, namespaced: true };
        writer.mirrors().serve(slot);
        let key = SubjectKey::new("Pod", "shop", "web");
        let report_path = "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web";
        let open_path = "/apis/openreports.io/v1alpha1/namespaces/shop/reports/vigil-pod-web";
        let server = tokio::spawn(async move {
            expect(&mut handle, Method::PATCH, report_path).await;
            let body = expect(&mut handle, Method::PATCH, open_path).await;
            assert_eq!(body["kind"], "Report");
            assert_eq!(body["source"], "vigil");
            assert_eq!(body["scope"]["uid"], "u1");
            assert_eq!(body["metadata"]["labels"][INSTANCE_LABEL], "vigil");
            assert!(body["metadata"]["annotations"][annotations::FINGERPRINT].is_string(), "{body}");
            assert!(
                body["results"].as_array().unwrap().iter().all(|r| r["result"] == "fail" || r["result"] == "error")
            );
            // Unchanged: nothing. Then the policy report is gone (a full pass's listing says so): only it
            // is written, and a 404 (say, its namespace is being deleted) is tried again next time.
            let (request, respond) = handle.next_request().await.expect("a request");
            assert_eq!((request.method(), request.uri().path()), (&Method::PATCH, open_path));
            let missing = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "namespaces \"shop\" not found", "reason": "NotFound", "code": 404});
            respond.send_response(
                Response::builder().status(404).body(Body::from(serde_json::to_vec(&missing).unwrap())).unwrap(),
            );
            expect(&mut handle, Method::PATCH, open_path).await;
            // The subject is gone: its report and its policy report are deleted.
            expect(&mut handle, Method::DELETE, report_path).await;
            expect(&mut handle, Method::DELETE, open_path).await;
        });
        assert_eq!(writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap(), Applied::Written);
        assert_eq!(writer.apply(report(true, "2026-11-27T01:00:00Z"), &key).await.unwrap(), Applied::Unchanged);
        writer.mirrors().forget(&(slot, Some("shop".into()), "vigil-pod-web".into()));
        assert_eq!(writer.apply(report(true, "2026-11-27T02:00:00Z"), &key).await.unwrap(), Applied::Unchanged);
        assert_eq!(writer.mirrors().served_for(true).len(), 1, "a 404 switched the policy reports off");
        assert_eq!(writer.apply(report(true, "2026-11-27T03:00:00Z"), &key).await.unwrap(), Applied::Unchanged);
        writer.delete(&ReportId::for_subject(&key)).await.unwrap();
        server.await.unwrap();
        let metrics = writer.shared.metrics.encode();
        assert!(metrics.contains("vigil_report_writes_total{outcome=\"policy_report_applied\"} 2"), "{metrics}");
        assert!(metrics.contains("vigil_report_writes_total{outcome=\"policy_report_failed\"} 1"), "{metrics}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_refused_for_load_waits_as_asked_slows_the_pace_and_is_sent_again() {
        let (writer, mut handle, _leading) = writer();
        let rate = writer.pacer.rate();
        let key = SubjectKey::new("Pod", "shop", "web");
        let path = "/apis/vigil.dev/v1alpha1/namespaces/shop/securityreports/pod-web";
        let server = tokio::spawn(async move {
            let (request, respond) = handle.next_request().await.expect("a request");
            assert_eq!(request.uri().path(), path);
            let refused = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Too many requests, please try again later.", "reason": "TooManyRequests",
                "details": {"retryAfterSeconds": 3}, "code": 429});
            respond.send_response(
                Response::builder().status(429).body(Body::from(serde_json::to_vec(&refused).unwrap())).unwrap(),
            );
            let refused_at = tokio::time::Instant::now();
            expect(&mut handle, Method::PATCH, path).await;
            refused_at.elapsed()
        });
        assert_eq!(writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap(), Applied::Written);
        let waited = server.await.unwrap();
        assert!(waited >= std::time::Duration::from_secs(3), "sent again after {waited:?}");
        assert!(writer.pacer.rate() < rate, "the pace dropped from {rate} to {}", writer.pacer.rate());
        let metrics = writer.shared.metrics.encode();
        assert!(metrics.contains("vigil_report_writes_total{outcome=\"throttled\"} 1"), "{metrics}");
        assert!(metrics.contains("vigil_report_writes_total{outcome=\"applied\"} 1"), "{metrics}");
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
        let (writer, mut handle, leadership) = writer();
        leadership.step_down().await;
        let key = SubjectKey::new("Pod", "shop", "web");
        assert_eq!(writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap(), Applied::NotLeading);
        let next = tokio::time::timeout(std::time::Duration::from_millis(100), handle.next_request()).await;
        assert!(next.is_err(), "a standby sent a request");
    }

    #[tokio::test]
    async fn reports_edited_or_deleted_by_others_are_written_again_and_own_writes_are_not() {
        let (writer, mut handle, _leading) = writer();
        let key = SubjectKey::new("Pod", "shop", "web");
        let id = ReportId::for_subject(&key);
        let server = tokio::spawn(async move {
            let (request, respond) = handle.next_request().await.expect("a request");
            let body: serde_json::Value =
                serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
            let mut stored = body.clone();
            stored["metadata"]["generation"] = 3.into();
            respond.send_response(Response::builder().body(Body::from(serde_json::to_vec(&stored).unwrap())).unwrap());
            stored
        });
        writer.apply(report(true, "2026-11-27T00:00:00Z"), &key).await.unwrap();
        let stored = server.await.unwrap();
        // What a metadata-only reader needs is on the report.
        let meta: ObjectMeta = serde_json::from_value(stored["metadata"].clone()).unwrap();
        assert_eq!(meta.labels.as_ref().unwrap()[INSTANCE_LABEL], "vigil");
        let seen = Written::from_meta(&meta).expect("Vigil's annotations");
        assert_eq!(seen.subject, key);
        assert!(seen.failing.contains("privileged-container"), "{seen:?}");
        assert_eq!(Some(seen.clone()), writer.ledger().written.get(&id).cloned());

        // The watch event of our own write: nothing to do.
        writer.observe(&meta, false);
        assert_eq!(writer.shared.queue.len(), 0);
        // Someone else wrote it (a newer generation): its content is unknown; the subject is queued.
        let mut edited = meta.clone();
        edited.generation = Some(4);
        writer.observe(&edited, false);
        assert_eq!(writer.shared.queue.drain(), vec![key.clone()]);
        assert_eq!(writer.ledger().written[&id].fingerprint, None, "the next apply must write");
        // Someone deleted it: forgotten and queued.
        writer.observe(&edited, true);
        assert_eq!(writer.shared.queue.drain(), vec![key.clone()]);
        assert!(writer.known().is_empty());
    }

    #[tokio::test]
    async fn a_standby_learns_what_the_leader_wrote_from_metadata_alone() {
        let (writer, _handle, leadership) = writer();
        leadership.step_down().await;
        let meta: ObjectMeta = serde_json::from_value(serde_json::json!({
            "name": "pod-web", "namespace": "shop", "generation": 7,
            "labels": {"vigil.dev/instance": "vigil"},
            "annotations": {
                "vigil.dev/fingerprint": "00000000000000ff",
                "vigil.dev/subject": "[\"Pod\",\"shop\",\"web\"]",
                "vigil.dev/compliant": "False 2026-11-27T00:00:00Z",
                "vigil.dev/failing": "privileged-container,host-network",
            }
        }))
        .unwrap();
        writer.observe(&meta, false);
        let known = writer.ledger().written[&ReportId::of_meta(&meta)].clone();
        assert_eq!(known.fingerprint, Some(255));
        assert_eq!(known.generation, 7);
        assert_eq!(known.compliant.as_ref().map(|c| c.0.as_str()), Some("False"));
        assert_eq!(known.failing.len(), 2);
        // A standby queues nothing.
        assert_eq!(writer.shared.queue.len(), 0);
    }

    #[test]
    fn the_policy_reports_flag_defaults_to_openreports_and_keeps_the_old_switch() {
        use crate::cli::{PolicyReportResults, PolicyReports};
        assert_eq!(operator_args(&[]).policy_reports, PolicyReports::Openreports);
        assert_eq!(operator_args(&[]).policy_report_results, PolicyReportResults::Failing);
        // The old boolean switch, bare or as its env value, meant wg-policy reports.
        assert_eq!(operator_args(&["--policy-reports"]).policy_reports, PolicyReports::Wgpolicyk8s);
        assert_eq!(operator_args(&["--policy-reports=true"]).policy_reports, PolicyReports::Wgpolicyk8s);
        assert_eq!(operator_args(&["--policy-reports=false"]).policy_reports, PolicyReports::None);
        assert_eq!(operator_args(&["--policy-reports", "both"]).policy_reports, PolicyReports::Both);
        let args = operator_args(&["--policy-reports", "--policy-report-results", "all"]);
        assert_eq!(
            (args.policy_reports, args.policy_report_results),
            (PolicyReports::Wgpolicyk8s, PolicyReportResults::All)
        );
        let wrong = crate::cli::Cli::try_parse_from(["vigil", "operator", "--policy-reports", "kyverno"]);
        assert!(wrong.is_err());
    }

    #[test]
    fn retry_delays() {
        let status = |code| kube::Error::Api(Box::new(kube::core::Status::failure("x", "y").with_code(code)));
        use crate::controller::reconcile::retry_delay;
        assert_eq!(retry_delay(&status(503), 9).as_secs(), 5);
        assert_eq!(retry_delay(&status(429), 9).as_secs(), 5);
        assert_eq!(retry_delay(&status(422), 1).as_secs(), 5);
        assert_eq!(retry_delay(&status(422), 3).as_secs(), 20);
        assert_eq!(retry_delay(&status(422), 30).as_secs(), 600);
    }

    #[test]
    fn report_ids_of_gone_subjects() {
        let ns = ReportId::for_subject(&SubjectKey::new("Namespace", "", "shop"));
        assert_eq!(ns, ReportId { namespace: Some("shop".into()), name: "namespace-shop".into() });
        let node = ReportId::for_subject(&SubjectKey::new("Node", "", "n1"));
        assert_eq!(node, ReportId { namespace: None, name: "node-n1".into() });
    }
}
