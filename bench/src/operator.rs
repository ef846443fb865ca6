//! `vigil-bench operator`: the release `vigil operator` against a real API server (kube-apiserver +
//! kube-controller-manager + etcd from `KUBEBUILDER_ASSETS`, started by the e2e harness, with exactly
//! config/rbac's RBAC), on a cluster of Deployments (the controller-manager makes their ReplicaSets and
//! Pods; no scheduler, so Pods stay Pending) and/or bare Pods (each its own subject) in many namespaces
//! with NetworkPolicies, ServiceAccounts, RBAC, LimitRanges, quotas and Services.
//!
//! Measures, and prints as Markdown:
//! - resident memory of the operator (`/proc/<pid>/status`: VmRSS, VmHWM) on an empty cluster, then on the
//!   full cluster once every kind has synced and the first full pass is done, per watched object;
//! - writes during a full pass when nothing changed (`vigil_report_writes_total{outcome="applied"}`);
//! - median and largest SecurityReport size (JSON as listed, without the server's `managedFields`);
//! - change-to-report latency: pods created or deleted and re-created with a privileged container, one at
//!   a time; the time from the API call until a watch on SecurityReports delivers the report that shows it;
//! - the API server's own request latency during the first pass (`apiserver_request_duration_seconds`
//!   from its /metrics, before and after) and the 429s it answered;
//! - the bytes etcd holds for the reports against those of the watched objects (read from etcd);
//! - the peak resident memory against the memory limit config/manager ships.
//! - `vigil scan --cluster -o json` of the same cluster with the operator's RBAC: wall time, peak RSS, and
//!   its reports against the operator's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use vigil_e2e::{TestCluster, Vigil, install_vigil};

use crate::synthetic;

pub struct Args {
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    /// Deployments per namespace (the controller-manager makes their ReplicaSets and Pods).
    pub deployments_per_namespace: usize,
    pub replicas: usize,
    /// Changes timed for the latency figures.
    pub changes: usize,
    /// Creates in flight while the cluster is filled.
    pub in_flight: usize,
    /// The operator's `--write-rate` (the ceiling of its adaptive pace); `None`: its default.
    pub write_rate: Option<String>,
    pub full_pass_interval: String,
    /// The operator's `--debounce` (its default).
    pub debounce: String,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            namespaces: 1000,
            pods_per_namespace: 10,
            deployments_per_namespace: 0,
            replicas: 2,
            changes: 200,
            in_flight: 16,
            write_rate: None,
            full_pass_interval: "20s".into(),
            debounce: "500ms".into(),
        }
    }
}

pub fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--namespaces" => parsed.namespaces = value("--namespaces")?.parse()?,
            "--pods-per-namespace" => parsed.pods_per_namespace = value("--pods-per-namespace")?.parse()?,
            "--deployments-per-namespace" => {
                parsed.deployments_per_namespace = value("--deployments-per-namespace")?.parse()?
            }
            "--replicas" => parsed.replicas = value("--replicas")?.parse()?,
            "--changes" => parsed.changes = value("--changes")?.parse()?,
            "--in-flight" => parsed.in_flight = value("--in-flight")?.parse()?,
            "--write-rate" => parsed.write_rate = Some(value("--write-rate")?),
            "--full-pass-interval" => parsed.full_pass_interval = value("--full-pass-interval")?,
            "--debounce" => parsed.debounce = value("--debounce")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(parsed)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if std::env::var_os("VIGIL_BIN").is_none() {
        // The harness's default looks beside a test binary; the bench's `vigil` is its own sibling.
        let vigil = std::env::current_exe()?.with_file_name("vigil");
        // SAFETY: no other thread runs yet (the runtime starts below).
        unsafe { std::env::set_var("VIGIL_BIN", vigil) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run_async(args))
}

fn reports_resource() -> ApiResource {
    ApiResource::erase::<vigil_crds::SecurityReport>(&())
}

/// Resident memory of a process, from `/proc/<pid>/status`: (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

const FULL_PASSES: &str = "vigil_full_passes_total";
const APPLIED: &str = "vigil_report_writes_total{outcome=\"applied\"}";
const UNCHANGED: &str = "vigil_report_writes_total{outcome=\"unchanged\"}";

/// Waits until `vigil_full_passes_total` reaches `passes`; fails if the operator exits or time runs out.
async fn wait_for_passes(vigil: &Vigil, passes: f64, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while vigil.metric(FULL_PASSES).await < passes {
        if std::fs::metadata(format!("/proc/{}", vigil.pid())).is_err() {
            bail!("the operator exited:\n{}", vigil.log());
        }
        if start.elapsed() > timeout {
            bail!("no full pass #{passes} within {timeout:?}:\n{}", tail(&vigil.log(), 20));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every typed kind of the engine's registry (the kinds `vigil operator` watches), by kind name.
fn registry_resources() -> Vec<(&'static str, ApiResource)> {
    macro_rules! resources {
        (typed { $( $variant:ident($ty:ty) = $group:literal in $field:ident, $scope:ident, $(stored $form:ident,)? strip $strip:expr; )* }) => {
            vec![ $( (stringify!($variant), ApiResource::erase::<$ty>(&())), )* ]
        };
    }
    vigil_engine::for_each_typed_kind!(resources)
}

fn resource_of(object: &Value) -> anyhow::Result<ApiResource> {
    let kind = object["kind"].as_str().context("no kind")?;
    match registry_resources().into_iter().find(|(name, _)| *name == kind) {
        Some((_, resource)) => Ok(resource),
        None => bail!("the bench does not create {kind}"),
    }
}

/// Creates one object; retries what a busy API server may answer (429, 5xx, timeouts); an object that
/// exists already is fine. Returns the created object's uid.
async fn create(client: &Client, object: &Value) -> anyhow::Result<String> {
    let resource = resource_of(object)?;
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let dynamic: DynamicObject = serde_json::from_value(object.clone())?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match api.create(&PostParams::default(), &dynamic).await {
            Ok(created) => return Ok(created.metadata.uid.unwrap_or_default()),
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" && attempt == 1 => {
                return Ok(String::new());
            }
            Err(e) if attempt < 20 => {
                let retry = match &e {
                    kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
                    _ => true,
                };
                if !retry {
                    return Err(e).with_context(|| format!("creating {}", object["metadata"]));
                }
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", object["metadata"])),
        }
    }
}

async fn create_all(client: &Client, objects: &[Value], in_flight: usize) -> anyhow::Result<()> {
    futures::stream::iter(objects)
        .map(|o| create(client, o))
        .buffer_unordered(in_flight.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Every kind `vigil operator` watches (the registry's typed kinds and CRDs), to count watched objects.
fn watched_kinds() -> Vec<ApiResource> {
    let mut kinds: Vec<ApiResource> = registry_resources().into_iter().map(|(_, resource)| resource).collect();
    kinds.push(ApiResource::erase::<CustomResourceDefinition>(&()));
    kinds
}

/// Every object of a kind, paged.
async fn list_all(client: &Client, resource: &ApiResource) -> anyhow::Result<Vec<DynamicObject>> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let mut params = ListParams::default().limit(500);
    let mut items = Vec::new();
    loop {
        let page = api.list(&params).await.with_context(|| format!("listing {}", resource.plural))?;
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}

/// Watched objects by kind.
async fn count_watched(client: &Client) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for resource in watched_kinds() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let mut params = ListParams::default().limit(500);
        let mut n = 0;
        loop {
            let page = api.list_metadata(&params).await.with_context(|| format!("listing {}", resource.plural))?;
            n += page.items.len();
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        counts.insert(resource.kind.clone(), n);
    }
    Ok(counts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A SecurityReport as the watch delivered it: when, which, for which subject uid, and whether it shows
/// `privileged-container` failing.
struct Seen {
    at: Instant,
    namespace: String,
    name: String,
    subject_uid: String,
    privileged_fails: bool,
}

/// Watches every SecurityReport from now on and sends each added or modified one, stamped on arrival.
async fn watch_reports(client: Client, tx: mpsc::UnboundedSender<Seen>) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::all_with(client, &reports_resource());
    let mut version = api.list_metadata(&ListParams::default().limit(1)).await?.metadata.resource_version;
    loop {
        let rv = version.clone().unwrap_or_else(|| "0".into());
        let stream = api.watch(&WatchParams::default().timeout(290), &rv).await?;
        futures::pin_mut!(stream);
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    let at = Instant::now();
                    version = o.metadata.resource_version.clone();
                    let privileged_fails = o.data["status"]["findings"].as_array().is_some_and(|f| {
                        f.iter().any(|f| f["checkId"] == "privileged-container" && f["result"] == "Fail")
                    });
                    let seen = Seen {
                        at,
                        namespace: o.metadata.namespace.clone().unwrap_or_default(),
                        name: o.metadata.name.clone().unwrap_or_default(),
                        subject_uid: o.data["spec"]["subject"]["uid"].as_str().unwrap_or_default().to_string(),
                        privileged_fails,
                    };
                    if tx.send(seen).is_err() {
                        return Ok(());
                    }
                }
                WatchEvent::Bookmark(b) => version = Some(b.metadata.resource_version),
                WatchEvent::Deleted(o) => version = o.metadata.resource_version.clone(),
                WatchEvent::Error(e) if e.code == 410 => {
                    version = api.list_metadata(&ListParams::default().limit(1)).await?.metadata.resource_version;
                    break;
                }
                WatchEvent::Error(e) => bail!("watching SecurityReports: {e:?}"),
            }
        }
    }
}

/// A privileged variant of the bench's Pod `app-{i}` in namespace number `n`, named `name`.
fn privileged_pod(name: &str, i: usize, n: usize) -> Value {
    let mut pod = synthetic::pod(i, n);
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["annotations"] = json!({"bench": "latency"});
    pod["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    pod
}

struct Latencies {
    created: Vec<Duration>,
    recreated: Vec<Duration>,
}

/// Times `changes` changes one at a time: even ones create a new privileged Pod, odd ones delete an
/// existing Pod and create it again privileged. Each is timed from just before the create call until the
/// watch delivers the Pod's report failing `privileged-container` for the new Pod's uid.
async fn time_changes(client: &Client, args: &Args) -> anyhow::Result<Latencies> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch_reports(client.clone(), tx));
    // Let the watch start before the first change.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies = Latencies { created: Vec::new(), recreated: Vec::new() };
    for c in 0..args.changes {
        // A recreate without bare Pods of the bench's own re-creates the previous change's Pod (same namespace).
        let n = ((c - (c % 2 == 1 && args.pods_per_namespace == 0) as usize) * 7919) % args.namespaces;
        let ns = format!("ns-{n}");
        let recreate = c % 2 == 1;
        let i = c % args.pods_per_namespace.max(1);
        let name = match (recreate, args.pods_per_namespace) {
            (false, _) => format!("lat-{c}"),
            (true, 0) => format!("lat-{}", c - 1),
            (true, _) => format!("app-{i}"),
        };
        if recreate {
            // Not scheduled, so deleted at once (no kubelet to wait for).
            Api::<Pod>::namespaced(client.clone(), &ns).delete(&name, &DeleteParams::default().grace_period(0)).await?;
        }
        let pod = privileged_pod(&name, i, n);
        let start = Instant::now();
        let uid = create(client, &pod).await?;
        let report = format!("pod-{name}");
        let deadline = start + Duration::from_secs(120);
        let elapsed = loop {
            let seen = tokio::time::timeout_at(deadline.into(), rx.recv())
                .await
                .with_context(|| format!("no report for {ns}/{name} within 120 s"))?
                .context("the report watch ended")?;
            if seen.namespace == ns && seen.name == report && seen.subject_uid == uid && seen.privileged_fails {
                break seen.at.saturating_duration_since(start);
            }
        };
        if recreate {
            latencies.recreated.push(elapsed)
        } else {
            latencies.created.push(elapsed)
        }
        // Spread the changes a little, as a cluster's changes are.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    Ok(latencies)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let bench_start = Instant::now();
    let Some(cluster) = TestCluster::start().await? else {
        bail!("vigil-bench operator needs an API server: set KUBEBUILDER_ASSETS (see e2e/install-tools.sh)");
    };
    let client = cluster.client.clone();
    let token = install_vigil(&cluster).await?;
    let mut extra: Vec<&str> = vec!["--full-pass-interval", &args.full_pass_interval, "--debounce", &args.debounce];
    if let Some(rate) = &args.write_rate {
        extra.extend(["--write-rate", rate]);
    }
    let pass_timeout = Duration::from_secs(3600);
    eprintln!("vigil-bench operator: API server up; operator: {}", vigil_e2e::vigil_bin().display());

    // The operator on an empty cluster: the baseline.
    let (empty_rss, empty_hwm, empty_watched) = {
        let vigil = Vigil::start(&cluster, &token, "bench-empty", &extra)?;
        vigil.wait_ready(Duration::from_secs(60)).await?;
        wait_for_passes(&vigil, 1.0, pass_timeout).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss, hwm) = memory_kib(vigil.pid())?;
        (rss, hwm, count_watched(&client).await?.values().sum::<usize>())
    };
    eprintln!("baseline: {:.1} MiB with {empty_watched} watched objects", mib(empty_rss));

    // Fill the cluster: namespaces first, then everything in them, a bounded number of creates in flight.
    let setup_start = Instant::now();
    let mut namespaced = Vec::new();
    for n in 0..args.namespaces {
        synthetic::namespace_support(n, &mut namespaced);
    }
    let (mut namespaces, mut rest): (Vec<Value>, Vec<Value>) =
        namespaced.into_iter().partition(|o| o["kind"] == "Namespace");
    // The API server enforces Pod Security: a namespace that enforces `baseline` would refuse the bench's
    // unhardened and privileged Pods, so the bench's namespaces only warn.
    for ns in &mut namespaces {
        if let Some(labels) = ns["metadata"]["labels"].as_object_mut()
            && let Some(level) = labels.remove("pod-security.kubernetes.io/enforce")
        {
            labels.insert("pod-security.kubernetes.io/warn".into(), level);
        }
    }
    rest.extend(synthetic::cluster_scoped());
    for n in 0..args.namespaces {
        for i in 0..args.pods_per_namespace {
            rest.push(synthetic::pod(i, n));
        }
        for i in 0..args.deployments_per_namespace {
            rest.push(new_deployment(i, n, args.replicas));
        }
    }
    create_all(&client, &namespaces, args.in_flight).await?;
    create_all(&client, &rest, args.in_flight).await?;
    let created = namespaces.len() + rest.len();
    drop((namespaces, rest));
    let expected_pods = args.namespaces * (args.pods_per_namespace + args.deployments_per_namespace * args.replicas);
    let pods = wait_for_pods(&client, expected_pods).await?;
    let setup = setup_start.elapsed();
    eprintln!("{pods} of {expected_pods} Pods exist after {:.0} s", setup.as_secs_f64());
    let watched = count_watched(&client).await?;
    let watched_total: usize = watched.values().sum();
    eprintln!("created {created} objects in {:.0} s; {watched_total} watched objects", setup.as_secs_f64());

    // The operator on the full cluster: sync, first full pass (writes every report), memory.
    let load_before = load_average();
    let server_before = apiserver_metrics(&client).await?;
    let start = Instant::now();
    let vigil = Vigil::start(&cluster, &token, "bench", &extra)?;
    vigil.wait_ready(Duration::from_secs(600)).await?;
    let synced = start.elapsed();
    wait_for_passes(&vigil, 1.0, pass_timeout).await?;
    let first_pass = start.elapsed();
    let first_pass_writes = vigil.metric(APPLIED).await;
    let throttled = vigil.metric("vigil_report_writes_total{outcome=\"throttled\"}").await + 0.0;
    let pace = vigil.metric("vigil_write_rate").await;
    let server_after = apiserver_metrics(&client).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, hwm) = memory_kib(vigil.pid())?;
    eprintln!(
        "synced in {:.1} s, first pass done at {:.1} s ({first_pass_writes} writes); RSS {:.1} MiB, peak {:.1} MiB",
        synced.as_secs_f64(),
        first_pass.as_secs_f64(),
        mib(rss),
        mib(hwm)
    );

    // A full pass with nothing changed: no writes expected.
    let passes = vigil.metric(FULL_PASSES).await;
    let (applied_before, unchanged_before) = (vigil.metric(APPLIED).await, vigil.metric(UNCHANGED).await);
    let steady_start = Instant::now();
    wait_for_passes(&vigil, passes + 1.0, pass_timeout).await?;
    let steady_writes = vigil.metric(APPLIED).await - applied_before;
    let steady_unchanged = vigil.metric(UNCHANGED).await - unchanged_before;
    let (steady_rss, steady_hwm) = memory_kib(vigil.pid())?;
    let pass_seconds = pass_duration(&vigil.log());
    eprintln!("steady pass: {steady_writes} writes, {steady_unchanged} unchanged ({:?})", steady_start.elapsed());

    // Report sizes, as the API server holds them (without its managedFields).
    let reports = list_all(&client, &reports_resource()).await?;
    let cluster_reports = list_all(&client, &ApiResource::erase::<vigil_crds::ClusterSecurityReport>(&())).await?;
    let mut sizes: Vec<usize> = reports
        .iter()
        .chain(&cluster_reports)
        .map(|r| {
            let mut r = r.clone();
            r.metadata.managed_fields = None;
            serde_json::to_vec(&r).map_or(0, |b| b.len())
        })
        .collect();
    sizes.sort_unstable();
    let median_size = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    let max_size = sizes.last().copied().unwrap_or(0);
    let report_count = sizes.len();
    drop((reports, cluster_reports));
    let stored = match cluster.etcd_url() {
        Some(url) => Some(etcd_bytes(&url).await?),
        None => None,
    };
    let shipped_limit = shipped_memory_limit()?;

    // The one-shot audit of the same cluster, while the operator keeps running; three runs for the spread.
    let scan_load = load_average();
    let mut scans = Vec::new();
    for _ in 0..3 {
        let scan = time_scan_cluster(&cluster, &token).await?;
        eprintln!(
            "scan --cluster: {:.1} s, peak {:.1} MiB, {} reports",
            scan.took.as_secs_f64(),
            mib(scan.peak_kib),
            scan.reports
        );
        scans.push(scan);
    }

    // Change-to-report latency, one change at a time.
    let latency_load = load_average();
    let latencies = time_changes(&client, &args).await?;
    let (end_rss, end_hwm) = memory_kib(vigil.pid())?;
    let api_errors = vigil.metric("vigil_api_errors_total").await + 0.0;
    let watch_errors = vigil.metric("vigil_watch_errors_total").await + 0.0;
    drop(vigil);

    let per_object = |kib: u64| mib(kib) / watched_total as f64;
    let secs = |d: Duration| d.as_secs_f64();
    let mut all: Vec<Duration> = latencies.created.iter().chain(&latencies.recreated).copied().collect();
    all.sort_unstable();
    let mut created_sorted = latencies.created.clone();
    created_sorted.sort_unstable();
    let mut recreated_sorted = latencies.recreated.clone();
    recreated_sorted.sort_unstable();

    println!(
        "## Operator ({} namespaces x ({} bare Pods + {} Deployments x {} replicas); {watched_total} watched objects; \
         {report_count} reports)\n",
        args.namespaces, args.pods_per_namespace, args.deployments_per_namespace, args.replicas
    );
    println!(
        "Operator flags: `{}`. Load average {load_before} when the operator started, {latency_load} before the \
         latency run.\n",
        extra.join(" ")
    );
    println!("| measure | value |\n| --- | --- |");
    let kinds: Vec<String> = watched.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    println!("| watched objects | {watched_total} ({}) |", kinds.join(", "));
    println!("| objects created by the bench | {created} in {:.0} s ({} in flight) |", secs(setup), args.in_flight);
    println!(
        "| RSS on an empty cluster ({empty_watched} watched objects) | {:.1} MiB (peak {:.1} MiB) |",
        mib(empty_rss),
        mib(empty_hwm)
    );
    println!("| start to ready (every kind listed) | {:.1} s |", secs(synced));
    println!(
        "| **start to first full pass done** | **{:.1} s** ({first_pass_writes} writes; {throttled} refused for load \
         and sent again; pace at the end {pace:.0} writes/s) |",
        secs(first_pass)
    );
    fn report_write(l: &str) -> bool {
        l.contains("securityreports\"") && l.contains("verb=\"APPLY\"")
    }
    fn other_request(l: &str) -> bool {
        let streaming = l.contains("verb=\"WATCH\"") || l.contains("verb=\"CONNECT\"");
        !streaming && !report_write(l)
    }
    for (label, filter) in [
        ("report writes (SSA of (Cluster)SecurityReports)", &report_write as &dyn Fn(&str) -> bool),
        ("every other request (not WATCH/CONNECT)", &other_request),
    ] {
        let delta = histogram_delta(&server_before, &server_after, "apiserver_request_duration_seconds_bucket", filter);
        let total = delta.last().map_or(0.0, |(_, c)| *c);
        println!(
            "| API server latency during the first pass, {label} ({total:.0} requests) p50 / p99 | <= {} / <= {} s |",
            bucket_percentile(&delta, 50.0),
            bucket_percentile(&delta, 99.0)
        );
    }
    let code_429 =
        counter_delta(&server_before, &server_after, "apiserver_request_total", &|l: &str| l.contains("code=\"429\""));
    println!("| API server 429 answers during the first pass | {code_429:.0} |");
    println!("| RSS after the first full pass | {:.1} MiB |", mib(rss));
    println!("| peak RSS (VmHWM) until then | {:.1} MiB |", mib(hwm));
    println!(
        "| **RSS per watched object** | **{:.4} MiB** ({:.1} KiB; above the empty baseline: {:.1} KiB) |",
        per_object(rss),
        per_object(rss) * 1024.0,
        mib(rss.saturating_sub(empty_rss)) * 1024.0 / watched_total as f64
    );
    println!("| peak RSS per watched object | {:.4} MiB |", per_object(hwm));
    let peak = mib(end_hwm.max(hwm));
    // The bench's bare Pods and those of the latency run.
    let bare_pods = args.namespaces * args.pods_per_namespace + args.changes.div_ceil(2);
    let rule = sizing_rule_limit(watched_total, bare_pods);
    let fits = peak < rule;
    let verdict = |limit: f64| if peak < limit { "fits" } else { "does not fit" };
    println!(
        "| **peak RSS vs the memory limit of the README's sizing rule** for {watched_total} objects | **{peak:.1} MiB of \
         {rule:.0} MiB: {}** (config/manager ships {shipped_limit:.0} MiB: {}) |",
        verdict(rule),
        verdict(shipped_limit)
    );
    if let Some(stored) = &stored {
        let reports: (u64, u64) =
            stored.iter().filter(|(r, _)| r.starts_with("vigil.dev/")).fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
        let watched: (u64, u64) = stored
            .iter()
            .filter(|(r, _)| WATCHED_IN_ETCD.contains(&r.as_str()))
            .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
        let all: (u64, u64) = stored.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        println!(
            "| **etcd bytes: reports / watched objects / everything** | **{:.1} MiB ({} keys) / {:.1} MiB ({} keys)** / {:.1} MiB ({} keys); reports = {:.0}% of the watched objects' bytes |",
            reports.1 as f64 / 1048576.0,
            reports.0,
            watched.1 as f64 / 1048576.0,
            watched.0,
            all.1 as f64 / 1048576.0,
            all.0,
            100.0 * reports.1 as f64 / watched.1.max(1) as f64
        );
    }
    println!(
        "| RSS after the steady pass / at the end | {:.1} / {:.1} MiB (peak {:.1} / {:.1} MiB) |",
        mib(steady_rss),
        mib(end_rss),
        mib(steady_hwm),
        mib(end_hwm)
    );
    println!(
        "| **writes during a full pass with no changes** | **{steady_writes}** ({steady_unchanged} reports unchanged{}) |",
        pass_seconds.map(|s| format!("; the pass took {s:.2} s")).unwrap_or_default()
    );
    println!("| **median report size** (JSON, without managedFields) | **{:.2} KiB** |", median_size as f64 / 1024.0);
    println!("| largest report size | {:.2} KiB |", max_size as f64 / 1024.0);
    let line = |label: &str, sorted: &[Duration]| {
        println!(
            "| {label} ({} changes) p50 / p95 / p99 / max | {:.3} / {:.3} / {:.3} / {:.3} s |",
            sorted.len(),
            secs(percentile(sorted, 50.0)),
            secs(percentile(sorted, 95.0)),
            secs(percentile(sorted, 99.0)),
            secs(sorted.last().copied().unwrap_or_default()),
        )
    };
    line("**change-to-report latency**, all", &all);
    line("new privileged Pod", &created_sorted);
    line("Pod deleted and re-created privileged", &recreated_sorted);
    let runs: Vec<String> = scans.iter().map(|s| format!("{:.1}", secs(s.took))).collect();
    println!(
        "| **`vigil scan --cluster -o json`** of the same cluster, 3 runs (load {scan_load}) | **{} s**, peak RSS \
         {:.1} MiB, {} reports (the operator wrote {report_count}) |",
        runs.join(" / "),
        mib(scans.iter().map(|s| s.peak_kib).max().unwrap_or(0)),
        scans.iter().map(|s| s.reports).min().unwrap_or(0)
    );
    println!("| operator API errors / watch errors | {api_errors} / {watch_errors} |");
    println!("| bench wall time | {:.0} s |", secs(bench_start.elapsed()));
    if !fits {
        bail!("the peak resident memory ({peak:.1} MiB) is over the README's sizing rule ({rule:.0} MiB)");
    }
    // A cluster the shipped limit covers by the rule must fit in it.
    if rule <= shipped_limit && peak >= shipped_limit {
        bail!(
            "the peak resident memory ({peak:.1} MiB) is over the limit config/manager ships ({shipped_limit:.0} MiB)"
        );
    }
    Ok(())
}

/// A bench Deployment as a user creates it: the synthetic one without what the API server sets.
fn new_deployment(i: usize, n: usize, replicas: usize) -> Value {
    let mut deployment = synthetic::deployment(&format!("ns-{n}"), i, n);
    if let Some(meta) = deployment["metadata"].as_object_mut() {
        for key in ["uid", "resourceVersion", "generation", "creationTimestamp"] {
            meta.remove(key);
        }
    }
    if let Some(object) = deployment.as_object_mut() {
        object.remove("status");
    }
    deployment["spec"]["replicas"] = json!(replicas);
    deployment
}

/// How many objects of a resource exist (a list of one item says how many remain).
async fn count(client: &Client, resource: &ApiResource) -> anyhow::Result<usize> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let page = api.list_metadata(&ListParams::default().limit(1)).await?;
    Ok(page.items.len() + page.metadata.remaining_item_count.unwrap_or(0).max(0) as usize)
}

/// Waits until `expected` Pods exist (the controller-manager makes the Deployments' ones) or their number
/// stops growing for a minute; returns how many exist.
async fn wait_for_pods(client: &Client, expected: usize) -> anyhow::Result<usize> {
    let pods = ApiResource::erase::<Pod>(&());
    let (mut last, mut since) = (0, Instant::now());
    loop {
        let now = count(client, &pods).await?;
        if now >= expected {
            return Ok(now);
        }
        if now > last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(60) {
            eprintln!("the Pod count stopped at {now} of {expected}");
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The API server's /metrics text.
async fn apiserver_metrics(client: &Client) -> anyhow::Result<String> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    client.request_text(request).await.context("reading the API server's /metrics")
}

/// Sums of a histogram's cumulative buckets (`le` -> count) over the series `filter` keeps, after minus
/// before, in `le` order.
fn histogram_delta(before: &str, after: &str, name: &str, filter: &dyn Fn(&str) -> bool) -> Vec<(f64, f64)> {
    let sums = |text: &str| {
        let mut by_le: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with(name) && filter(l)) {
            let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
            let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
            by_le.entry(le.to_string()).or_insert((bound, 0.0)).1 += value;
        }
        by_le
    };
    let (b, a) = (sums(before), sums(after));
    let mut out: Vec<(f64, f64)> =
        a.iter().map(|(le, (bound, count))| (*bound, count - b.get(le).map_or(0.0, |x| x.1))).collect();
    out.sort_by(|x, y| x.0.total_cmp(&y.0));
    out
}

/// The upper bound of the bucket that holds percentile `p` of a cumulative histogram.
fn bucket_percentile(buckets: &[(f64, f64)], p: f64) -> String {
    let total = buckets.last().map_or(0.0, |(_, c)| *c);
    if total == 0.0 {
        return "-".into();
    }
    let bound = buckets.iter().find(|(_, c)| *c >= total * p / 100.0).map_or(f64::INFINITY, |(b, _)| *b);
    if bound.is_finite() { format!("{bound}") } else { "inf".into() }
}

/// A counter's sum over the series `filter` keeps, after minus before.
fn counter_delta(before: &str, after: &str, name: &str, filter: &dyn Fn(&str) -> bool) -> f64 {
    let sum = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && filter(l))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    sum(after) - sum(before)
}

/// The etcd key prefixes (under `/registry/`) of the kinds Vigil watches.
const WATCHED_IN_ETCD: &[&str] = &[
    "pods",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "controllers",
    "namespaces",
    "networkpolicies",
    "resourcequotas",
    "limitranges",
    "serviceaccounts",
    "services",
    "ingress",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
    "minions",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "apiextensions.k8s.io",
];

/// Keys and value bytes etcd holds per resource: the segment after `/registry/` (for custom resources, the
/// group then the resource: `vigil.dev/securityreports`). Read through etcd's JSON gateway, in pages.
async fn etcd_bytes(url: &str) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut key = b"/registry/".to_vec();
    let end = b"/registry0".to_vec();
    loop {
        let body = json!({"key": b64.encode(&key), "range_end": b64.encode(&end), "limit": 1000});
        let response = http_post(url, "/v3/kv/range", &body.to_string()).await?;
        let page: Value = serde_json::from_str(&response).context("etcd's answer")?;
        let kvs = page["kvs"].as_array().cloned().unwrap_or_default();
        for kv in &kvs {
            let k = b64.decode(kv["key"].as_str().unwrap_or_default())?;
            let value_bytes = b64.decode(kv["value"].as_str().unwrap_or_default())?.len() as u64;
            let path = String::from_utf8_lossy(&k);
            let mut parts = path.trim_start_matches("/registry/").split('/');
            let first = parts.next().unwrap_or_default().to_string();
            let resource = if first.contains('.') && first != "apiextensions.k8s.io" {
                format!("{first}/{}", parts.next().unwrap_or_default())
            } else {
                first
            };
            let entry = out.entry(resource).or_default();
            entry.0 += 1;
            entry.1 += value_bytes;
        }
        match kvs.last() {
            Some(last) if page["more"].as_bool() == Some(true) => {
                key = b64.decode(last["key"].as_str().unwrap_or_default())?;
                key.push(0);
            }
            _ => return Ok(out),
        }
    }
}

/// A plain HTTP/1.0 POST on loopback (etcd's gateway answers HTTP/1.0 without chunking): the body.
async fn http_post(url: &str, path: &str, body: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.strip_prefix("http://").context("an http:// URL")?;
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8(response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP answer")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("etcd answered {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

/// The README's sizing rule (section "Sizing"): a request of 64 MiB, plus 40 MiB per 10,000 watched
/// objects, plus 80 MiB per 10,000 Pods without a controller (each its own subject, with its own report);
/// the limit a quarter above the request. In MiB.
fn sizing_rule_limit(watched: usize, bare_pods: usize) -> f64 {
    1.25 * (64.0 + (40.0 * watched as f64 + 80.0 * bare_pods as f64) / 10_000.0)
}

/// The memory limit of the operator container in config/manager, in MiB.
fn shipped_memory_limit() -> anyhow::Result<f64> {
    let path = vigil_e2e::repo_root().join("config/manager/manager.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let limits = text.split("limits:").nth(1).context("no limits in config/manager/manager.yaml")?;
    let memory = limits.split("memory:").nth(1).context("no memory limit")?;
    let value =
        memory.trim_start().split(|c: char| c == '}' || c == ',' || c.is_whitespace()).next().unwrap_or_default();
    let value = value.trim_matches('"');
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let number: f64 = number.parse().with_context(|| format!("memory limit {value:?}"))?;
    Ok(match unit {
        "Mi" => number,
        "Gi" => number * 1024.0,
        _ => bail!("memory limit {value:?}: expected Mi or Gi"),
    })
}

struct ScanRun {
    took: Duration,
    /// VmHWM sampled every 20 ms until the scan exits.
    peak_kib: u64,
    reports: usize,
}

/// Runs `vigil scan --cluster -o json` with the operator's ServiceAccount token, output to a file.
async fn time_scan_cluster(cluster: &TestCluster, token: &str) -> anyhow::Result<ScanRun> {
    let dir = std::env::temp_dir().join(format!("vigil-bench-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    cluster.write_kubeconfig(token, &kubeconfig)?;
    let (output, errors) = (dir.join("reports.json"), dir.join("scan.err"));
    let start = Instant::now();
    let mut child = std::process::Command::new(vigil_e2e::vigil_bin())
        .args(["scan", "--cluster", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(std::fs::File::create(&output)?)
        .stderr(std::fs::File::create(&errors)?)
        .spawn()
        .context("starting vigil scan --cluster")?;
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok((_, hwm)) = memory_kib(child.id()) {
            peak_kib = peak_kib.max(hwm);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = start.elapsed();
    if !status.success() {
        bail!("vigil scan --cluster failed ({status}): {}", std::fs::read_to_string(&errors).unwrap_or_default());
    }
    let list: Value = serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(&output)?))?;
    let reports = list["items"].as_array().map_or(0, Vec::len);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ScanRun { took, peak_kib, reports })
}

/// The duration of the last full pass, from the operator's log line `full pass done ... seconds=X`.
fn pass_duration(log: &str) -> Option<f64> {
    let line = log.lines().rev().find(|l| l.contains("full pass done"))?;
    // The log may be coloured: drop the escape sequences.
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let line = plain;
    let value = line.split("seconds=").nth(1)?;
    value.split_whitespace().next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()
}
