//! `vigil operator`: keeps SecurityReports true for a live cluster.
//!
//! The pipeline, one submodule per step (those marked *client* talk to the API server; the rest are
//! pure and tested by feeding them objects):
//!
//! 1. **watch** (`watch`, `policies`; *client*): one watch stream per kind of the engine's registry, and
//!    one per policy kind into the engine's `PolicyStore`;
//! 2. **index** + **affected** (`ingest`): each change updates the engine's [`Index`] and names the
//!    subjects it affects (`vigil_engine::subject::affected`); a relist deletes what the list lacks;
//! 3. **queue** (`queue`): a set of subject keys, drained in debounced batches;
//! 4. **evaluate** (`reconcile`): the engine judges each subject under a read lock (`report_for`), keeps
//!    its tally for the cluster roll-up; a full pass plans every subject, then the cluster, then orphans;
//! 5. **write** (`writer`; *client*): server-side apply when the content changed, delete when the subject
//!    is gone; rate-limited; Events when a check starts failing or recovers (`alerts`; *client*);
//! 6. **status** (`policies`; *client*): each SecurityPolicy's and exception's status.
//!
//! Around it: leader election (`leader`; *client*), health and metrics (`http`, `metrics`), and the
//! periodic full pass and graceful shutdown (here). Every failed API call is an [`error::Error`] of its
//! step, counted in `vigil_api_errors_total{step}`. docs/architecture.md lists every write Vigil makes.

mod alerts;
mod error;
mod http;
mod ingest;
mod leader;
mod metrics;
mod policies;
mod queue;
mod reconcile;
mod watch;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use tokio::sync::watch as signal;
use tracing::{info, warn};
use vigil_engine::report::Tallies;
use vigil_engine::subject::SubjectKey;
use vigil_engine::{Exceptions, Index, PolicySet};

use crate::cli::OperatorArgs;

pub use metrics::Metrics;

/// State shared by the watchers, the reconciler, the HTTP server and the leader elector.
pub struct Shared {
    pub index: RwLock<Index>,
    /// The policies in force (the built-in default until SecurityPolicies are watched).
    pub policies: RwLock<Arc<PolicySet>>,
    /// The exceptions in force.
    pub exceptions: RwLock<Arc<Exceptions>>,
    /// Each report's contribution to the cluster roll-up, by subject.
    pub tallies: Mutex<Tallies>,
    /// Findings each report has waived, by exception (`waivedBy`), by subject: exception statuses count them.
    pub waived: Mutex<BTreeMap<SubjectKey, BTreeMap<String, u32>>>,
    /// Asks the reconcile loop for a full pass (a policy or exception changed or expired).
    pub full_pass: tokio::sync::Notify,
    pub queue: queue::Queue,
    pub metrics: Metrics,
    /// Kinds whose first list has not finished yet; ready when empty.
    pub syncing: Mutex<BTreeSet<String>>,
    pub filter: NamespaceFilter,
    /// True while this replica holds the Lease and may write.
    pub leading: signal::Receiver<bool>,
}

impl Shared {
    pub fn new(filter: NamespaceFilter, leading: signal::Receiver<bool>) -> Self {
        Shared {
            index: RwLock::new(Index::new()),
            policies: RwLock::new(Arc::new(PolicySet::default())),
            exceptions: RwLock::new(Arc::new(Exceptions::default())),
            tallies: Mutex::new(Tallies::default()),
            waived: Mutex::new(BTreeMap::new()),
            full_pass: tokio::sync::Notify::new(),
            queue: queue::Queue::default(),
            metrics: Metrics::default(),
            syncing: Mutex::new(watch::kinds().chain(policies::KINDS.iter().copied()).map(str::to_string).collect()),
            filter,
            leading,
        }
    }

    /// Findings waived now, by exception.
    pub fn waived_totals(&self) -> BTreeMap<String, u32> {
        let mut totals = BTreeMap::new();
        for counts in self.waived.lock().expect("waived lock").values() {
            for (exception, n) in counts {
                *totals.entry(exception.clone()).or_insert(0) += n;
            }
        }
        totals
    }

    pub fn is_ready(&self) -> bool {
        self.syncing.lock().expect("syncing lock").is_empty()
    }
}

/// Which namespaces the operator audits (`--namespace`, `--exclude-namespace`).
#[derive(Clone, Debug, Default)]
pub struct NamespaceFilter {
    pub include: BTreeSet<String>,
    pub exclude: BTreeSet<String>,
}

impl NamespaceFilter {
    /// Cluster-scoped objects (`namespace == ""`) always pass.
    pub fn allows(&self, namespace: &str) -> bool {
        namespace.is_empty()
            || (!self.exclude.contains(namespace) && (self.include.is_empty() || self.include.contains(namespace)))
    }
}

pub fn run(args: OperatorArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run_async(args))
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json { builder.json().init() } else { builder.init() }
}

async fn run_async(args: OperatorArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default().await.context("no cluster: neither in-cluster config nor a kubeconfig")?;
    let (shutdown_tx, shutdown) = signal::channel(false);
    let identity = args.identity.clone().unwrap_or_else(leader::default_identity);
    let identity_for_events = identity.clone();
    let lease_namespace = args.lease_namespace.clone().unwrap_or_else(leader::default_namespace);
    let (leading_tx, leading) = signal::channel(false);
    let filter = NamespaceFilter {
        include: args.namespaces.iter().cloned().collect(),
        exclude: args.exclude_namespaces.iter().cloned().collect(),
    };
    let shared = Arc::new(Shared::new(filter, leading));
    info!(identity, lease = %format!("{lease_namespace}/{}", args.lease_name), "starting");

    match client.apiserver_version().await {
        Ok(version) => {
            shared.index.write().expect("index lock").server_version =
                vigil_engine::ServerVersion::parse(&version.git_version)
        }
        // Version checks then say NotApplicable; everything else goes on.
        Err(error) => warn!(%error, "cannot read the API server version"),
    }

    let writer = Arc::new(writer::Writer::new(client.clone(), args.write_rate, shared.clone(), args.policy_reports));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(http::serve(args.metrics_addr, shared.clone(), shutdown.clone()));
    tasks.spawn(leader::elect(
        client.clone(),
        lease_namespace,
        args.lease_name.clone(),
        identity,
        leading_tx,
        shared.clone(),
        shutdown.clone(),
    ));
    watch::spawn_all(&mut tasks, client.clone(), shared.clone(), shutdown.clone());
    let policy_state = policies::spawn_all(&mut tasks, client.clone(), shared.clone(), shutdown.clone());
    let alerts = Arc::new(alerts::Alerts::new(client.clone(), identity_for_events));
    tasks.spawn(reconcile::run(
        shared.clone(),
        writer,
        alerts,
        client.clone(),
        policy_state,
        args.clone(),
        shutdown.clone(),
    ));

    wait_for_signal().await;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    // Give tasks a moment to finish (release the Lease, flush); then stop.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(10), drain).await.is_err() {
        warn!("tasks did not stop within 10s");
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
