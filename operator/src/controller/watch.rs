//! Gather: one watch stream per kind keeps the index current and queues what each change affects.
//! Needs a client. Which kinds, how each is read and what a 403 or 404 means come from [`crate::cluster`],
//! which `vigil scan --cluster` lists with too.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch as signal;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::Supervised;
use super::mirrors::Mirrors;
use crate::cluster::{self, Absence, EachKind, TypedKind, registry_name};
use vigil_engine::KubeObject;

use super::Shared;
use super::ingest::{self, Change};

/// Starts one watch per typed kind of the registry, and the CRD watch that starts the custom kinds'.
pub fn spawn_all(
    tasks: &mut Supervised,
    client: Client,
    shared: Arc<Shared>,
    mirrors: Arc<Mirrors>,
    shutdown: signal::Receiver<bool>,
) {
    struct Watches<'a> {
        tasks: &'a mut Supervised,
        client: &'a Client,
        shared: &'a Arc<Shared>,
        shutdown: &'a signal::Receiver<bool>,
    }
    impl EachKind for Watches<'_> {
        fn kind<K: TypedKind>(&mut self) {
            let watch = watch_typed::<K>(Api::all(self.client.clone()), self.shared.clone(), self.shutdown.clone());
            super::supervise(self.tasks, format!("{} watch", K::kind(&())), watch);
        }
    }
    cluster::for_each_typed_kind(&mut Watches { tasks, client: &client, shared: &shared, shutdown: &shutdown });
    super::supervise(tasks, "CustomResourceDefinition watch", watch_crds(client, shared, mirrors, shutdown));
}

/// Applies a change under the index lock ([`ingest::apply_change`]) and, once the kind has synced, queues
/// what it affects. During the first list nothing is queued: the first full pass evaluates everything.
fn apply_update(shared: &Shared, kind: &str, change: Change, queue_affected: bool) {
    let policies = shared.policies.read().expect("policy lock").clone();
    let keys = {
        let mut index = shared.index.write().expect("index lock");
        ingest::apply_change(&mut index, &policies, &shared.filter, kind, change)
    };
    let Some(keys) = keys else { return };
    shared.metrics.watch_events.get_or_create(&metrics_kind(kind)).inc();
    if queue_affected {
        shared.queue.extend(keys);
    }
}

fn metrics_kind(kind: &str) -> super::metrics::KindLabel {
    super::metrics::KindLabel { kind: kind.to_string() }
}

/// Watches one typed kind for as long as the operator runs; relists (410 Gone, restarts) replace the
/// kind's objects and remove what disappeared. The typed object goes into the index as it is (stripped),
/// with no round trip through JSON.
async fn watch_typed<K>(api: Api<K>, shared: Arc<Shared>, shutdown: signal::Receiver<bool>)
where
    K: TypedKind,
{
    let stream = watch_stream(api).map_ok(|event| map_event(event, |o: K| Some(cluster::stored(o))));
    let kind = K::kind(&()).to_string();
    drive(stream, &kind, shared, shutdown).await;
}

/// Converts the object an event carries (kube-runtime's `Event` has no `map`).
pub(super) fn map_event<K, T>(event: Event<K>, mut f: impl FnMut(K) -> T) -> Event<T> {
    match event {
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::InitDone => Event::InitDone,
    }
}

fn watch_stream<K>(api: Api<K>) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff()
}

/// Feeds a converted watch stream into the index until shutdown.
async fn drive<S>(stream: S, kind: &str, shared: Arc<Shared>, mut shutdown: signal::Receiver<bool>)
where
    S: futures::Stream<Item = Result<Event<Option<KubeObject>>, watcher::Error>> + Send,
{
    futures::pin_mut!(stream);
    // Keys seen during a relist: what the index holds beyond them was deleted while we were not watching.
    let mut relist: Option<BTreeSet<(String, String)>> = None;
    let mut absent_logged = false;
    let mut warnings = LogLimiter::per_minute();
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let synced = !shared.syncing.lock().expect("syncing lock").contains(kind);
        match event {
            Ok(Event::Init) => relist = Some(BTreeSet::new()),
            Ok(Event::InitApply(Some(object))) => {
                if let Some(seen) = relist.as_mut() {
                    let meta = object.metadata();
                    seen.insert((meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default()));
                }
                // During the first list nothing is queued: the first full pass evaluates everything.
                apply_update(&shared, kind, Change::Apply(object), synced);
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    let gone = ingest::gone_after_relist(&shared.index.read().expect("index lock"), kind, &seen);
                    for change in gone {
                        apply_update(&shared, kind, change, synced);
                    }
                }
                if !synced {
                    info!(kind, "synced");
                    shared.syncing.lock().expect("syncing lock").remove(kind);
                }
                let was_absent = {
                    let mut index = shared.index.write().expect("index lock");
                    let forbidden = index.unavailable.remove(registry_name(kind)).is_some();
                    index.not_served.remove(registry_name(kind)) || forbidden
                };
                if was_absent && synced {
                    // Allowed or served now: checks that read it judge real objects again.
                    shared.full_pass.notify_one();
                }
            }
            Ok(Event::Apply(Some(object))) => apply_update(&shared, kind, Change::Apply(object), synced),
            Ok(Event::Delete(Some(object))) => apply_update(&shared, kind, Change::Delete(object), synced),
            Ok(_) => {}
            Err(error) => {
                shared.metrics.watch_errors.get_or_create(&metrics_kind(kind)).inc();
                if let Some(absence) = absence(&error, kind) {
                    // 403 and 404 are the only answers that settle a kind: readiness does not wait for it.
                    // Not allowed: checks that read it say Error with the reason. Not served: none can
                    // exist, so checks judge it as empty and their failures say why. The watcher keeps
                    // retrying (backing off), so a kind that becomes allowed or served is picked up.
                    if !absent_logged {
                        warn!(kind, %error, "{}", absence.describe());
                        absent_logged = true;
                    }
                    let newly = absence.record(&mut shared.index.write().expect("index lock"), kind);
                    if newly {
                        // What checks that read this kind say has changed: judge everything again.
                        shared.full_pass.notify_one();
                    }
                    shared.syncing.lock().expect("syncing lock").remove(kind);
                } else if warnings.allow() {
                    // Anything else is transient (connection refused, timeouts, 5xx, 410 handled by the
                    // watcher): back off and retry, warning at most once a minute per kind.
                    warn!(kind, %error, suppressed = warnings.take_suppressed(), "watch error; backing off and retrying");
                } else {
                    debug!(kind, %error, "watch error; backing off");
                }
            }
        }
    }
}

/// At most one log line per interval; counts what it held back.
pub struct LogLimiter {
    interval: std::time::Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl LogLimiter {
    pub fn per_minute() -> Self {
        LogLimiter { interval: std::time::Duration::from_secs(60), last: None, suppressed: 0 }
    }

    /// True when a line may be logged now.
    pub fn allow(&mut self) -> bool {
        if self.last.is_some_and(|t| t.elapsed() < self.interval) {
            self.suppressed += 1;
            return false;
        }
        self.last = Some(std::time::Instant::now());
        true
    }

    /// How many lines were held back since the last one logged.
    pub fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

/// Why a watch error makes a kind absent ([`Absence::of`]), when it does.
pub fn absence(error: &watcher::Error, kind: &str) -> Option<Absence> {
    match error {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            Absence::of_error(e, kind)
        }
        watcher::Error::WatchError(status) => Absence::of(status, kind),
        _ => None,
    }
}

/// Watches CRDs (metadata only: the names tell which are installed) and starts a watcher for each custom
/// kind Vigil reads when its CRD appears, at start or later; tells the policy-report writer which of its
/// kinds' CRDs exist. The custom watchers are supervised here: if one ends, this task ends, and the
/// process with it.
async fn watch_crds(client: Client, shared: Arc<Shared>, mirrors: Arc<Mirrors>, shutdown: signal::Receiver<bool>) {
    let api: Api<PartialObjectMeta<CustomResourceDefinition>> = Api::all(client.clone());
    let (start_tx, mut start_rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, &'static str)>();
    let mut started = BTreeSet::<String>::new();
    let stream = watch_stream(api).map_ok({
        let shared = shared.clone();
        move |event| {
            mirrors.crd_event(&event);
            map_event(event, |crd| {
                let name = crd.metadata.name.clone().unwrap_or_default();
                for source in cluster::installed_sources(&name) {
                    if started.insert(name.clone()) {
                        // Readiness (and the first full pass) wait for this kind's first list too; set
                        // before the CRD list completes, so there is no moment it is forgotten.
                        shared.syncing.lock().expect("syncing lock").insert(source.kind.to_string());
                        let _ = start_tx.send((source.group, source.kind));
                    }
                }
                cluster::crd_object(&name)
            })
        }
    });
    let crds = drive(stream, "CustomResourceDefinition", shared.clone(), shutdown.clone());
    futures::pin_mut!(crds);
    let mut custom: JoinSet<&'static str> = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = &mut crds => return,
            Some((group, kind)) = start_rx.recv() => {
                let (client, shared, shutdown) = (client.clone(), shared.clone(), shutdown.clone());
                custom.spawn(async move {
                    watch_custom(client, group, kind, shared, shutdown).await;
                    kind
                });
            }
            Some(ended) = custom.join_next() => {
                if !*shutdown.borrow() {
                    match ended {
                        Ok(kind) => tracing::error!(kind, "a custom kind's watcher ended"),
                        Err(error) => tracing::error!(%error, "a custom kind's watcher panicked"),
                    }
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Watches one custom kind through discovery (its served version may differ between clusters).
async fn watch_custom(
    client: Client,
    group: &'static str,
    kind: &'static str,
    shared: Arc<Shared>,
    mut shutdown: signal::Receiver<bool>,
) {
    let resource = loop {
        match cluster::discover(&client, group, kind).await {
            Ok(Some(resource)) => break resource,
            Ok(None) => {}
            Err(error) => debug!(group, %error, "discovery failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    };
    info!(group, kind, version = %resource.version, "custom kind installed; watching it");
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let ar: ApiResource = resource.clone();
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .map_ok(move |event| map_event(event, |o| cluster::from_dynamic(&o, &ar.api_version, &ar.kind)));
    drive(stream, kind, shared, shutdown).await;
}
