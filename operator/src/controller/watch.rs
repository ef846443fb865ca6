//! Gather: one watch stream per kind keeps the index current and queues what each change affects.
//! Needs a client.

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
use vigil_engine::input::kinds::CUSTOM_SOURCES;
use vigil_engine::input::object::custom_kind_of;
use vigil_engine::{Kind, KubeObject};

use super::Shared;
use super::ingest::{self, Change};

/// Every built-in kind watched (the registry's typed kinds and CRDs); readiness waits for the first list
/// of each.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    Kind::TYPED.iter().map(|k| k.name()).chain([Kind::CustomResourceDefinition.name()])
}

pub fn spawn_all(tasks: &mut JoinSet<()>, client: Client, shared: Arc<Shared>, shutdown: signal::Receiver<bool>) {
    // One watch per typed kind of the registry.
    macro_rules! spawn_typed {
        (typed { $( $variant:ident($ty:ty) = $group:literal in $field:ident, $scope:ident, strip $strip:expr; )* }) => {
            $( tasks.spawn(watch_typed::<$ty>(Api::all(client.clone()), shared.clone(), shutdown.clone())); )*
        };
    }
    vigil_engine::for_each_typed_kind!(spawn_typed);
    tasks.spawn(watch_crds(client, shared, shutdown));
}

/// The registry's name for a watched kind: custom source kinds (`ClusterPolicy`) are known by their store
/// (`ImagePolicy`), which is what checks name in `reads`.
fn registry_name(kind: &str) -> &str {
    match custom_kind_of(kind) {
        Some(custom) => Kind::from(custom).name(),
        None => kind,
    }
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

fn to_object<K: serde::Serialize>(object: &K, api_version: &str, kind: &str) -> Option<KubeObject> {
    let mut value = serde_json::to_value(object).ok()?;
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion").or_insert_with(|| api_version.into());
        map.entry("kind").or_insert_with(|| kind.into());
    }
    match KubeObject::from_value(value) {
        Ok(Some(mut o)) => {
            o.strip();
            Some(o)
        }
        Ok(None) => None,
        Err(e) => {
            warn!(kind, error = %e, "object does not match its schema; skipped");
            None
        }
    }
}

/// Watches one typed kind for as long as the operator runs; relists (410 Gone, restarts) replace the
/// kind's objects and remove what disappeared.
async fn watch_typed<K>(api: Api<K>, shared: Arc<Shared>, shutdown: signal::Receiver<bool>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + serde::Serialize + Debug + Send + Sync + 'static,
{
    let kind = K::kind(&()).to_string();
    let api_version = K::api_version(&()).to_string();
    let stream = watch_stream(api).map_ok(move |event| map_event(event, |o| to_object(&o, &api_version, &kind)));
    let kind = K::kind(&()).to_string();
    drive(stream, &kind, shared, shutdown).await;
}

/// Converts the object an event carries (kube-runtime's `Event` has no `map`).
fn map_event<K, T>(event: Event<K>, mut f: impl FnMut(K) -> T) -> Event<T> {
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
    let mut forbidden_logged = false;
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
                shared.index.write().expect("index lock").unavailable.remove(registry_name(kind));
            }
            Ok(Event::Apply(Some(object))) => apply_update(&shared, kind, Change::Apply(object), synced),
            Ok(Event::Delete(Some(object))) => apply_update(&shared, kind, Change::Delete(object), synced),
            Ok(_) => {}
            Err(error) => {
                shared.metrics.watch_errors.get_or_create(&metrics_kind(kind)).inc();
                if is_forbidden(&error) {
                    if !forbidden_logged {
                        warn!(kind, %error, "may not list this kind (RBAC): checks that read it report Error");
                        forbidden_logged = true;
                    }
                    // Checks that read this kind now say Error: judge everything again.
                    let newly = !shared.index.read().expect("index lock").unavailable.contains_key(registry_name(kind));
                    if newly {
                        shared.full_pass.notify_one();
                    }
                    // Readiness must not wait for a kind it may never list.
                    shared
                        .index
                        .write()
                        .expect("index lock")
                        .unavailable
                        .insert(registry_name(kind).to_string(), format!("Vigil may not list {kind}: {error}"));
                    shared.syncing.lock().expect("syncing lock").remove(kind);
                } else {
                    debug!(kind, %error, "watch error; backing off");
                }
            }
        }
    }
}

fn is_forbidden(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.is_forbidden(),
        watcher::Error::WatchError(s) => s.is_forbidden(),
        _ => false,
    }
}

/// Watches CRDs (metadata only: the names tell which are installed) and starts a watcher for each custom
/// kind Vigil reads when its CRD appears, at start or later.
async fn watch_crds(client: Client, shared: Arc<Shared>, shutdown: signal::Receiver<bool>) {
    let api: Api<PartialObjectMeta<CustomResourceDefinition>> = Api::all(client.clone());
    let started = Arc::new(std::sync::Mutex::new(BTreeSet::<String>::new()));
    let stream = watch_stream(api).map_ok({
        let client = client.clone();
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let started = started.clone();
        move |event| {
            map_event(event, |crd| {
                let name = crd.metadata.name.clone().unwrap_or_default();
                for source in CUSTOM_SOURCES.iter().filter(|s| s.crd_name() == name) {
                    if started.lock().expect("started lock").insert(name.clone()) {
                        tokio::spawn(watch_custom(
                            client.clone(),
                            source.group,
                            source.kind,
                            shared.clone(),
                            shutdown.clone(),
                        ));
                    }
                }
                let value = serde_json::json!({
                    "apiVersion": "apiextensions.k8s.io/v1",
                    "kind": "CustomResourceDefinition",
                    "metadata": {"name": name},
                });
                KubeObject::from_value(value).ok().flatten()
            })
        }
    });
    drive(stream, "CustomResourceDefinition", shared, shutdown).await;
}

/// Watches one custom kind through discovery (its served version may differ between clusters).
async fn watch_custom(
    client: Client,
    group: &'static str,
    kind: &'static str,
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
) {
    let resource = loop {
        match kube::discovery::group(&client, group).await {
            Ok(discovered) => {
                if let Some((ar, _)) = discovered.recommended_kind(kind) {
                    break ar;
                }
            }
            Err(error) => debug!(group, %error, "discovery failed; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        if *shutdown.borrow() {
            return;
        }
    };
    info!(group, kind, version = %resource.version, "custom kind installed; watching it");
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let ar: ApiResource = resource.clone();
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .map_ok(move |event| map_event(event, |o| to_object(&o, &ar.api_version, &ar.kind)));
    drive(stream, kind, shared, shutdown).await;
}
