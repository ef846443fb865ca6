//! Gather for Vigil's own policy kinds: SecurityPolicy, SecurityException, ClusterSecurityException, into
//! the engine's [`PolicyStore`] (the one `vigil scan` fills from files). Each object is compiled when it
//! changes; an invalid policy keeps its last good version in force (never applied in part) and says why in
//! its `Accepted` condition. Any change re-judges every subject; the
//! next exception expiry is scheduled so a waiver ends on time. Needs a client (status writes).

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch as signal;
use tracing::{info, warn};
use vigil_crds::{ClusterSecurityException, SecurityException, SecurityPolicy};
use vigil_engine::input::object::VigilObject;
use vigil_engine::{PolicyStore, StatusUpdate};

use super::Shared;
use super::writer::FIELD_MANAGER;

/// The policy kinds, for readiness.
pub const KINDS: &[&str] = &["SecurityPolicy", "SecurityException", "ClusterSecurityException"];

/// The compiled policy objects (the engine's store, shared with `vigil scan`) and the expiry timer.
#[derive(Default)]
pub struct PolicyState {
    store: PolicyStore,
    expiry_timer: Option<tokio::task::JoinHandle<()>>,
}

/// Starts one watch per policy kind (`watch_client`, no read timeout); status writes use `client`.
pub fn spawn_all(
    tasks: &mut super::Supervised,
    watch_client: Client,
    client: Client,
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
) -> SharedPolicyState {
    let state = Arc::new(Mutex::new(PolicyState::default()));
    let (w, c, s) = (&watch_client, &client, &shared);
    super::supervise(
        tasks,
        "SecurityPolicy watch",
        watch_kind::<SecurityPolicy>(w.clone(), c.clone(), s.clone(), state.clone(), shutdown.clone()),
    );
    super::supervise(
        tasks,
        "SecurityException watch",
        watch_kind::<SecurityException>(w.clone(), c.clone(), s.clone(), state.clone(), shutdown.clone()),
    );
    super::supervise(
        tasks,
        "ClusterSecurityException watch",
        watch_kind::<ClusterSecurityException>(watch_client, client, shared, state.clone(), shutdown),
    );
    state
}

/// A policy kind as watched: typed for the watch, a [`VigilObject`] for the store.
trait PolicyKind:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + Into<VigilObject> + 'static
{
}

impl PolicyKind for SecurityPolicy {}
impl PolicyKind for SecurityException {}
impl PolicyKind for ClusterSecurityException {}

/// Applies an object to the store, saying why when it is invalid. True when it must be judged again.
fn apply(store: &mut PolicyStore, object: VigilObject) -> bool {
    match store.apply_changed(&object) {
        Ok(changed) => changed,
        Err(error) => {
            match object {
                VigilObject::Policy(_) => warn!(%error, "invalid SecurityPolicy: its last good version stays in force"),
                _ => warn!(%error, "invalid exception: it waives nothing"),
            }
            true
        }
    }
}

async fn watch_kind<K: PolicyKind>(
    watch_client: Client,
    client: Client,
    shared: Arc<Shared>,
    state: Arc<Mutex<PolicyState>>,
    mut shutdown: signal::Receiver<bool>,
) {
    let kind = K::kind(&()).to_string();
    let api: Api<K> = Api::all(watch_client);
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<Vec<K>> = None;
    let mut warnings = super::watch::LogLimiter::per_minute();
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let changed = match event {
            Ok(Event::Init) => {
                relist = Some(Vec::new());
                false
            }
            Ok(Event::InitApply(object)) => {
                if let Some(seen) = relist.as_mut() {
                    seen.push(object);
                }
                false
            }
            Ok(Event::InitDone) => {
                let objects = relist.take().unwrap_or_default();
                // A relist replaces this kind's objects.
                let objects: Vec<VigilObject> = objects.into_iter().map(Into::into).collect();
                state.lock().expect("policy state lock").store.reset(&kind, &objects);
                shared.syncing.lock().expect("syncing lock").remove(&kind);
                true
            }
            // Only a new object or a spec change (a new generation) is judged again: Vigil's own status
            // writes come back as events too and must not start a full pass.
            Ok(Event::Apply(object)) => apply(&mut state.lock().expect("policy state lock").store, object.into()),
            Ok(Event::Delete(object)) => {
                let namespace = object.namespace();
                state.lock().expect("policy state lock").store.delete(&kind, namespace.as_deref(), &object.name_any());
                true
            }
            Err(error) => {
                shared.metrics.watch_errors.get_or_create(&super::metrics::KindLabel { kind: kind.clone() }).inc();
                // Only "not installed" (404) or "not allowed" (403) settle the kind as absent: the built-in
                // default policy stays in force. Anything else is retried before the first pass.
                if super::watch::absence(&error, &kind).is_some() {
                    if shared.syncing.lock().expect("syncing lock").remove(&kind) {
                        warn!(kind, %error, "cannot watch this kind; the built-in default policy and no exceptions apply");
                    }
                } else if warnings.allow() {
                    warn!(kind, %error, suppressed = warnings.take_suppressed(), "watch error; backing off and retrying");
                }
                false
            }
        };
        if changed {
            publish(&client, &shared, &state).await;
        }
    }
}

/// Puts the compiled policies and exceptions in force, re-judges everything, writes statuses and
/// schedules the next expiry.
async fn publish(client: &Client, shared: &Arc<Shared>, state: &Arc<Mutex<PolicyState>>) {
    let now = Timestamp::now();
    let (policies, exceptions, next_expiry) = {
        let state = state.lock().expect("policy state lock");
        let policies = state.store.policy_set();
        let exceptions = state.store.exceptions();
        let next = exceptions.next_expiry(now);
        (policies, exceptions, next)
    };
    *shared.policies.write().expect("policy lock") = Arc::new(policies);
    *shared.exceptions.write().expect("exceptions lock") = Arc::new(exceptions);
    shared.full_pass.notify_one();
    schedule_expiry(shared, state, next_expiry, now);
    write_statuses(client, shared, state).await;
}

/// When the next exception expires, re-judge everything then (not at the next full pass).
fn schedule_expiry(shared: &Arc<Shared>, state: &Arc<Mutex<PolicyState>>, next: Option<Timestamp>, now: Timestamp) {
    let mut guard = state.lock().expect("policy state lock");
    if let Some(timer) = guard.expiry_timer.take() {
        timer.abort();
    }
    let Some(at) = next else { return };
    let wait = std::time::Duration::try_from(at.duration_since(now)).unwrap_or_default();
    let shared = shared.clone();
    guard.expiry_timer = Some(tokio::spawn(async move {
        // A little past the instant, so `now < expiresAt` is false when the pass evaluates.
        tokio::time::sleep(wait + std::time::Duration::from_millis(50)).await;
        info!("an exception expired; re-evaluating");
        shared.full_pass.notify_one();
    }));
}

/// Writes each policy's and exception's status when it differs from what the object shows. Only the
/// leader writes.
pub async fn write_statuses(client: &Client, shared: &Arc<Shared>, state: &Arc<Mutex<PolicyState>>) {
    if !shared.leader.is_leading() {
        return;
    }
    let now = Timestamp::now();
    let waived = shared.waived_totals();
    let updates = {
        let mut state = state.lock().expect("policy state lock");
        for (outcome, n) in state.store.exception_counts(now) {
            shared.metrics.exceptions.get_or_create(&super::metrics::OutcomeLabel { outcome: outcome.into() }).set(n);
        }
        state.store.status_updates(&waived, now)
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for update in updates {
        let (kind, namespace, name, status) = match update {
            StatusUpdate::Policy { name, status } => ("SecurityPolicy", None, name, serde_json::to_value(status)),
            StatusUpdate::Exception { namespace: Some(ns), name, status } => {
                ("SecurityException", Some(ns), name, serde_json::to_value(status))
            }
            StatusUpdate::Exception { namespace: None, name, status } => {
                ("ClusterSecurityException", None, name, serde_json::to_value(status))
            }
        };
        let body = serde_json::json!({"apiVersion": vigil_crds::API_VERSION, "kind": kind, "status": status.unwrap_or_default()});
        let patch = Patch::Apply(&body);
        let result = match (kind, namespace.as_deref()) {
            ("SecurityPolicy", _) => {
                Api::<SecurityPolicy>::all(client.clone()).patch_status(&name, &params, &patch).await.map(|_| ())
            }
            (_, Some(ns)) => Api::<SecurityException>::namespaced(client.clone(), ns)
                .patch_status(&name, &params, &patch)
                .await
                .map(|_| ()),
            (_, None) => Api::<ClusterSecurityException>::all(client.clone())
                .patch_status(&name, &params, &patch)
                .await
                .map(|_| ()),
        };
        if let Err(source) = result {
            let error = super::error::Error::WriteStatus { kind, name, source };
            warn!(%error);
            shared.metrics.api_error(&error);
        }
    }
}

/// The state, shared with the reconcile loop so it can refresh exception counts after each batch.
pub type SharedPolicyState = Arc<Mutex<PolicyState>>;
