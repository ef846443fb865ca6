//! Gather for Vigil's own policy kinds: SecurityPolicy, SecurityException, ClusterSecurityException.
//! Each object is compiled when it changes; an invalid policy keeps its last good version in force (never
//! applied in part) and says why in its `Accepted` condition. Any change re-judges every subject; the
//! next exception expiry is scheduled so a waiver ends on time. Needs a client (status writes).

use std::collections::BTreeMap;
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
use vigil_crds::{
    ClusterSecurityException, SecurityException, SecurityExceptionStatus, SecurityPolicy, SecurityPolicyStatus,
};
use vigil_engine::{Exception, ExceptionError, Exceptions, Policy, PolicyError, PolicySet};

use super::Shared;
use super::writer::FIELD_MANAGER;

/// The policy kinds, for readiness.
pub const KINDS: &[&str] = &["SecurityPolicy", "SecurityException", "ClusterSecurityException"];

struct PolicyEntry {
    compiled: Result<Policy, PolicyError>,
    /// What is in force: the last version that compiled.
    last_good: Option<Policy>,
    generation: Option<i64>,
    status: Option<SecurityPolicyStatus>,
}

struct ExceptionEntry {
    compiled: Result<Exception, ExceptionError>,
    generation: Option<i64>,
    status: Option<SecurityExceptionStatus>,
    /// `None` for a ClusterSecurityException.
    namespace: Option<String>,
    name: String,
}

/// Everything the policy kinds hold, compiled.
#[derive(Default)]
pub struct PolicyState {
    policies: BTreeMap<String, PolicyEntry>,
    exceptions: BTreeMap<String, ExceptionEntry>,
    expiry_timer: Option<tokio::task::JoinHandle<()>>,
}

pub fn spawn_all(
    tasks: &mut tokio::task::JoinSet<()>,
    client: Client,
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
) -> SharedPolicyState {
    let state = Arc::new(Mutex::new(PolicyState::default()));
    tasks.spawn(watch_kind::<SecurityPolicy>(client.clone(), shared.clone(), state.clone(), shutdown.clone()));
    tasks.spawn(watch_kind::<SecurityException>(client.clone(), shared.clone(), state.clone(), shutdown.clone()));
    tasks.spawn(watch_kind::<ClusterSecurityException>(client, shared, state.clone(), shutdown));
    state
}

/// How one policy kind enters the state.
trait PolicyKind: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static {
    fn key(&self) -> String;
    fn upsert(&self, state: &mut PolicyState);
}

impl PolicyKind for SecurityPolicy {
    fn key(&self) -> String {
        self.name_any()
    }
    fn upsert(&self, state: &mut PolicyState) {
        let compiled = vigil_engine::compile_policy(self);
        let previous = state.policies.remove(&self.key());
        let last_good = match &compiled {
            Ok(policy) => Some(policy.clone()),
            Err(e) => {
                warn!(policy = %self.key(), error = %e.message(), "invalid SecurityPolicy: its last good version stays in force");
                previous.and_then(|p| p.last_good)
            }
        };
        let entry =
            PolicyEntry { compiled, last_good, generation: self.metadata.generation, status: self.status.clone() };
        state.policies.insert(self.key(), entry);
    }
}

impl PolicyKind for SecurityException {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace().unwrap_or_default(), self.name_any())
    }
    fn upsert(&self, state: &mut PolicyState) {
        let entry = ExceptionEntry {
            compiled: vigil_engine::compile_exception(self),
            generation: self.metadata.generation,
            status: self.status.clone(),
            namespace: self.namespace(),
            name: self.name_any(),
        };
        state.exceptions.insert(self.key(), entry);
    }
}

impl PolicyKind for ClusterSecurityException {
    fn key(&self) -> String {
        self.name_any()
    }
    fn upsert(&self, state: &mut PolicyState) {
        let entry = ExceptionEntry {
            compiled: vigil_engine::compile_cluster_exception(self),
            generation: self.metadata.generation,
            status: self.status.clone(),
            namespace: None,
            name: self.name_any(),
        };
        state.exceptions.insert(self.key(), entry);
    }
}

fn remove<K: PolicyKind>(object: &K, state: &mut PolicyState) {
    if K::kind(&()) == "SecurityPolicy" {
        state.policies.remove(&object.key());
    } else {
        state.exceptions.remove(&object.key());
    }
}

async fn watch_kind<K: PolicyKind>(
    client: Client,
    shared: Arc<Shared>,
    state: Arc<Mutex<PolicyState>>,
    mut shutdown: signal::Receiver<bool>,
) {
    let kind = K::kind(&()).to_string();
    let api: Api<K> = Api::all(client.clone());
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<Vec<K>> = None;
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
                {
                    let mut state = state.lock().expect("policy state lock");
                    // A relist replaces this kind's objects.
                    if kind == "SecurityPolicy" {
                        state.policies.clear();
                    } else {
                        let cluster = kind == "ClusterSecurityException";
                        state.exceptions.retain(|_, e| e.namespace.is_none() != cluster);
                    }
                    for object in &objects {
                        object.upsert(&mut state);
                    }
                }
                shared.syncing.lock().expect("syncing lock").remove(&kind);
                true
            }
            Ok(Event::Apply(object)) => {
                object.upsert(&mut state.lock().expect("policy state lock"));
                true
            }
            Ok(Event::Delete(object)) => {
                remove(&object, &mut state.lock().expect("policy state lock"));
                true
            }
            Err(error) => {
                // Not installed (404) or not allowed (403): the built-in default policy stays in force.
                if shared.syncing.lock().expect("syncing lock").remove(&kind) {
                    warn!(kind, %error, "cannot watch this kind; the built-in default policy and no exceptions apply");
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
        let policies = PolicySet::new(state.policies.values().filter_map(|p| p.last_good.clone()));
        let valid: Vec<Exception> =
            state.exceptions.values().filter_map(|e| e.compiled.as_ref().ok().cloned()).collect();
        let exceptions = Exceptions::new(valid);
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
    if !*shared.leading.borrow() {
        return;
    }
    let now = Timestamp::now();
    let waived = shared.waived_totals();
    let mut policy_updates = Vec::new();
    let mut exception_updates = Vec::new();
    {
        let mut state = state.lock().expect("policy state lock");
        for (name, entry) in state.policies.iter_mut() {
            let status = vigil_engine::policy_status(&entry.compiled, entry.generation, entry.status.as_ref(), now);
            if entry.status.as_ref() != Some(&status) {
                entry.status = Some(status.clone());
                policy_updates.push((name.clone(), status));
            }
        }
        for (key, entry) in state.exceptions.iter_mut() {
            let count = waived.get(key).copied().unwrap_or(0);
            let status =
                vigil_engine::exception_status(&entry.compiled, count, entry.generation, entry.status.as_ref(), now);
            if entry.status.as_ref() != Some(&status) {
                entry.status = Some(status.clone());
                exception_updates.push((entry.namespace.clone(), entry.name.clone(), status));
            }
        }
    }
    {
        let state = state.lock().expect("policy state lock");
        let mut counts: BTreeMap<&str, i64> = BTreeMap::from([("active", 0), ("expired", 0), ("invalid", 0)]);
        for entry in state.exceptions.values() {
            let state = match &entry.compiled {
                Err(_) => "invalid",
                Ok(e) if e.is_active(now) => "active",
                Ok(_) => "expired",
            };
            *counts.entry(state).or_default() += 1;
        }
        for (outcome, n) in counts {
            shared.metrics.exceptions.get_or_create(&super::metrics::OutcomeLabel { outcome: outcome.into() }).set(n);
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (name, status) in policy_updates {
        let body =
            serde_json::json!({"apiVersion": vigil_crds::API_VERSION, "kind": "SecurityPolicy", "status": status});
        if let Err(error) =
            Api::<SecurityPolicy>::all(client.clone()).patch_status(&name, &params, &Patch::Apply(&body)).await
        {
            warn!(policy = %name, %error, "cannot write the SecurityPolicy status");
            shared.metrics.api_errors.inc();
        }
    }
    for (namespace, name, status) in exception_updates {
        let result = match &namespace {
            Some(ns) => {
                let body = serde_json::json!({"apiVersion": vigil_crds::API_VERSION, "kind": "SecurityException", "status": status});
                Api::<SecurityException>::namespaced(client.clone(), ns)
                    .patch_status(&name, &params, &Patch::Apply(&body))
                    .await
                    .map(|_| ())
            }
            None => {
                let body = serde_json::json!({"apiVersion": vigil_crds::API_VERSION, "kind": "ClusterSecurityException", "status": status});
                Api::<ClusterSecurityException>::all(client.clone())
                    .patch_status(&name, &params, &Patch::Apply(&body))
                    .await
                    .map(|_| ())
            }
        };
        if let Err(error) = result {
            warn!(exception = %name, %error, "cannot write the exception status");
            shared.metrics.api_errors.inc();
        }
    }
}

/// The state, shared with the reconcile loop so it can refresh exception counts after each batch.
pub type SharedPolicyState = Arc<Mutex<PolicyState>>;
