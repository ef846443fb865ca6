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
mod compliance;
mod error;
mod http;
mod ingest;
mod leader;
mod memory;
mod metrics;
mod mirrors;
mod pacer;
mod policies;
mod queue;
mod reconcile;
mod watch;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch as signal;
use tracing::{error, info, warn};
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
    /// Each subject's check states, for the ComplianceReports (`compliance`).
    pub compliance: Mutex<vigil_engine::frameworks::evaluate::ComplianceTallies>,
    /// Wakes the ComplianceReport task: the cluster report was judged (its states are complete).
    pub compliance_changed: tokio::sync::Notify,
    /// Findings each report has waived, by exception (`waivedBy`), by subject: exception statuses count them.
    pub waived: Mutex<BTreeMap<SubjectKey, BTreeMap<String, u32>>>,
    /// Asks the reconcile loop for a full pass (a policy or exception changed or expired).
    pub full_pass: tokio::sync::Notify,
    pub queue: queue::Queue,
    pub metrics: Metrics,
    /// Kinds whose first list has not finished yet; ready when empty.
    pub syncing: Mutex<BTreeSet<String>>,
    pub filter: NamespaceFilter,
    /// Whether this replica holds the Lease and may write; every write asks it for a permit.
    pub leader: Arc<leader::Leadership>,
    /// Failed writes per subject since its last success: lasting 4xx failures back off exponentially.
    pub retries: Mutex<std::collections::HashMap<SubjectKey, u32>>,
    /// When the reconcile loop last made progress (a subject judged, or a batch dropped by a standby):
    /// `/healthz` fails when work is queued and this is older than the stall timeout.
    pub progress: Mutex<Instant>,
}

impl Shared {
    pub fn new(filter: NamespaceFilter, leader: Arc<leader::Leadership>) -> Self {
        Shared {
            index: RwLock::new(Index::new()),
            policies: RwLock::new(Arc::new(PolicySet::default())),
            exceptions: RwLock::new(Arc::new(Exceptions::default())),
            tallies: Mutex::new(Tallies::default()),
            compliance: Mutex::new(Default::default()),
            compliance_changed: tokio::sync::Notify::new(),
            waived: Mutex::new(BTreeMap::new()),
            full_pass: tokio::sync::Notify::new(),
            queue: queue::Queue::default(),
            metrics: Metrics::default(),
            syncing: Mutex::new(
                crate::cluster::kinds()
                    .chain(policies::KINDS.iter().copied())
                    .chain([writer::OWN_REPORTS])
                    .map(str::to_string)
                    .collect(),
            ),
            retries: Mutex::new(Default::default()),
            filter,
            leader,
            progress: Mutex::new(Instant::now()),
        }
    }

    /// The reconcile loop made progress.
    pub fn progressed(&self) {
        *self.progress.lock().expect("progress lock") = Instant::now();
    }

    /// `Some(reason)` when work is queued and the reconcile loop has not progressed for `stall`.
    pub fn stalled(&self, stall: Duration) -> Option<String> {
        let queued = self.queue.len();
        let idle = self.progress.lock().expect("progress lock").elapsed();
        (queued > 0 && idle > stall).then(|| {
            format!("the reconcile loop made no progress for {}s with {queued} subjects queued", idle.as_secs())
        })
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

pub use crate::cluster::NamespaceFilter;

pub fn run(args: OperatorArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run_async(args))
}

fn init_tracing(json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    // Colour only for a person at a terminal: log collectors get plain text.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal());
    if json { builder.json().init() } else { builder.init() }
}

/// The clients: watches stream for minutes and must not have a read timeout (kube-runtime's watcher
/// has its own idle timeout); every other request (lists of reports, writes, the Lease, Events) is
/// bounded by `--request-timeout`. Report writes go through a client without kube's transparent retry
/// of 429/503/504, so the writer sees the API server's refusals and paces itself by them. All name this
/// replica in their User-Agent, so the API server's audit log tells replicas apart.
struct Clients {
    watch: kube::Client,
    requests: kube::Client,
    reports: kube::Client,
}

async fn clients(args: &OperatorArgs, identity: &str) -> anyhow::Result<Clients> {
    let options = crate::cluster::ClientOptions { identity: identity.to_string(), ..Default::default() };
    let mut config = options.config().await?;
    config.connect_timeout = Some(args.request_timeout.min(Duration::from_secs(10)));
    let watch = kube::Client::try_from(config.clone()).context("building the watch client")?;
    config.read_timeout = Some(args.request_timeout);
    config.write_timeout = Some(args.request_timeout);
    // The timeout counts from when a request is sent, not from when its pooled connection went idle.
    config.reset_reader_on_write = true;
    let requests = kube::Client::try_from(config.clone()).context("building the request client")?;
    config.default_retry = false;
    let reports = kube::Client::try_from(config).context("building the report write client")?;
    Ok(Clients { watch, requests, reports })
}

/// A long-lived task: the process runs only while all of them do.
type Supervised = tokio::task::JoinSet<String>;

fn supervise<F>(tasks: &mut Supervised, name: impl Into<String>, task: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let name = name.into();
    tasks.spawn(async move {
        task.await;
        name
    });
}

async fn run_async(args: OperatorArgs) -> anyhow::Result<()> {
    let timing = leader::Timing {
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    };
    timing.validate().map_err(anyhow::Error::msg)?;
    let identity = args.identity.clone().unwrap_or_else(leader::default_identity);
    let Clients { watch: watch_client, requests: client, reports: report_client } = clients(&args, &identity).await?;
    let (shutdown_tx, shutdown) = signal::channel(false);
    let lease_namespace = args.lease_namespace.clone().unwrap_or_else(leader::default_namespace);
    let filter = NamespaceFilter::new(&args.namespaces, &args.exclude_namespaces);
    let leadership = Arc::new(leader::Leadership::default());
    let shared = Arc::new(Shared::new(filter, leadership.clone()));
    info!(identity, instance = %args.instance, lease = %format!("{lease_namespace}/{}", args.lease_name), "starting");

    match crate::cluster::snapshot::server_version(&client).await {
        Ok(version) => shared.index.write().expect("index lock").server_version = version,
        // Version checks then say NotApplicable; everything else goes on.
        Err(error) => warn!(%error, "cannot read the API server version"),
    }

    let writer = Arc::new(writer::Writer::new(report_client.clone(), &args, shared.clone()));
    let mut tasks = Supervised::new();
    supervise(&mut tasks, "memory watch", memory::watch(shared.clone(), shutdown.clone()));
    supervise(&mut tasks, "http", http::serve(args.metrics_addr, shared.clone(), args.stall_timeout, shutdown.clone()));
    supervise(
        &mut tasks,
        "leader election",
        leader::elect(
            client.clone(),
            lease_namespace,
            args.lease_name.clone(),
            identity.clone(),
            timing,
            leadership,
            shared.clone(),
            shutdown.clone(),
        ),
    );
    let mirrors = writer.mirrors();
    watch::spawn_all(&mut tasks, watch_client.clone(), shared.clone(), mirrors.clone(), shutdown.clone());
    supervise(&mut tasks, "policy report kinds", mirrors.run(report_client.clone(), shared.clone(), shutdown.clone()));
    supervise(&mut tasks, "report watch", writer.clone().watch_own(watch_client.clone(), shutdown.clone()));
    let policy_state = policies::spawn_all(&mut tasks, watch_client, client.clone(), shared.clone(), shutdown.clone());
    supervise(
        &mut tasks,
        "compliance reports",
        compliance::run(shared.clone(), client.clone(), args.instance.clone(), shutdown.clone()),
    );
    let alerts = Arc::new(alerts::Alerts::new(client.clone(), identity));
    supervise(
        &mut tasks,
        "reconcile",
        reconcile::run(shared.clone(), writer, alerts, client, policy_state, args.clone(), shutdown.clone()),
    );

    // Runs until a signal, or until a task ends: a dead watcher or reconcile loop must not hide behind a
    // healthy Lease, so the process exits (non-zero) and the kubelet restarts it.
    let failure = first_failure(&mut tasks, wait_for_signal()).await;
    match &failure {
        None => info!("shutting down"),
        Some(reason) => error!(reason, "shutting down"),
    }
    // Writers stop first (the elector steps down, waiting for writes in flight), then the Lease is
    // released, then the rest ends.
    let _ = shutdown_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain).await.is_err() {
        warn!("tasks did not stop within 10s");
    }
    match failure {
        None => Ok(()),
        Some(reason) => Err(anyhow::anyhow!(reason)),
    }
}

/// Waits for `signal` or for the first supervised task to end, whichever comes first: `None` for the
/// signal, else why the process must stop (every task runs for the process's lifetime).
async fn first_failure(tasks: &mut Supervised, signal: impl std::future::Future<Output = ()>) -> Option<String> {
    tokio::select! {
        _ = signal => None,
        ended = tasks.join_next() => Some(match ended {
            Some(Ok(name)) => format!("the {name} task ended unexpectedly"),
            Some(Err(error)) if error.is_panic() => format!("a task panicked: {error}"),
            Some(Err(error)) => format!("a task was cancelled: {error}"),
            None => "no task is running".to_string(),
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_or_panics_stops_the_process() {
        let forever = || async { std::future::pending::<()>().await };
        let mut tasks = Supervised::new();
        supervise(&mut tasks, "reconcile", forever());
        supervise(&mut tasks, "Pod watch", async {});
        let failure = first_failure(&mut tasks, forever()).await;
        assert_eq!(failure.as_deref(), Some("the Pod watch task ended unexpectedly"));

        let mut tasks = Supervised::new();
        supervise(&mut tasks, "reconcile", forever());
        supervise(&mut tasks, "leader election", async { panic!("boom") });
        let failure = first_failure(&mut tasks, forever()).await.unwrap_or_default();
        assert!(failure.contains("panicked"), "{failure}");

        // A signal is a clean stop.
        let mut tasks = Supervised::new();
        supervise(&mut tasks, "reconcile", forever());
        assert_eq!(first_failure(&mut tasks, async {}).await, None);
    }
}
