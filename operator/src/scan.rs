//! `vigil scan`: files -> loader -> index -> engine -> printer, or with `--cluster` a live cluster ->
//! one paginated listing (`cluster::snapshot`, the operator's kinds and rules) -> index -> engine ->
//! printer. The input is one cluster snapshot.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read, Write};

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::Timestamp;
use vigil_crds::{FindingResult, Severity, Subject};
use vigil_engine::input::loader::{LoadError, Loaded, Origin};
use vigil_engine::input::object::VigilObject;
use vigil_engine::input::scope::InputScope;
use vigil_engine::input::text::escape;
use vigil_engine::policy::store::key_of;
use vigil_engine::{Exceptions, Index, PolicySet, PolicyStore, Report, ServerVersion, audit_each};

use crate::cli::{ColorChoice, ScanArgs, ScanFormat};
use crate::cluster::{ClientOptions, NamespaceFilter, snapshot};
use crate::render;

/// A failing finding at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Unusable input or arguments.
pub const EXIT_UNUSABLE: u8 = 2;

/// Where each object came from, for SARIF locations: keyed by `(kind, namespace, name)`; cluster-scoped
/// objects have an empty namespace.
pub type Origins = HashMap<(String, String, String), Origin>;

/// What was read: the index, where each object came from, the policy objects found with them, kinds
/// skipped and how many documents could not be read.
struct Input {
    index: Index,
    origins: Origins,
    store: PolicyStore,
    vigil_objects: Vec<(VigilObject, Origin)>,
    skipped: BTreeMap<String, usize>,
    unreadable: usize,
}

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let cap = args.max_input_size;
    // clap's `requires` does not see a missing boolean flag (it has a default), so this is checked here.
    if !args.cluster {
        let cluster_only = [
            ("--context", args.context.is_some()),
            ("--kubeconfig", args.kubeconfig.is_some()),
            ("--namespace", !args.namespaces.is_empty()),
            ("--exclude-namespace", !args.exclude_namespaces.is_empty()),
        ];
        if let Some((flag, _)) = cluster_only.iter().find(|(_, given)| *given) {
            bail!("{flag} applies to a live cluster: add --cluster (files are scanned as they are)");
        }
    }
    if args.framework.is_some() && !matches!(args.output, ScanFormat::Table | ScanFormat::Json) {
        bail!("--framework prints a table or JSON: use -o table or -o json");
    }
    // Policy objects first: a bad one is unusable input, never skipped (it would change every answer).
    let mut vigil_objects = Vec::new();
    for path in &args.policies {
        for (name, bytes) in read_vigil_path(path, cap)? {
            vigil_objects.extend(read_vigil_file(&name, &bytes, &["SecurityPolicy"])?);
        }
    }
    for path in &args.exceptions {
        for (name, bytes) in read_vigil_path(path, cap)? {
            let kinds = ["SecurityException", "ClusterSecurityException"];
            vigil_objects.extend(read_vigil_file(&name, &bytes, &kinds)?);
        }
    }
    let input = if args.cluster { read_cluster(&args)? } else { read_files(&args)? };
    let Input { index, origins, store, vigil_objects: mut found, skipped, unreadable } = input;
    vigil_objects.append(&mut found);
    let (policies, exceptions) = compile_vigil_objects(store, &vigil_objects, !args.cluster)?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    if let Some(framework) = args.framework {
        return scan_framework(framework, &args, &index, &policies, &exceptions, now);
    }

    let stdout = std::io::stdout();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    // A closed pipe ends the output quietly (the scan still ends with its usual status); a full disk is
    // an error.
    let mut out = std::io::BufWriter::new(render::Output::new(stdout.lock()));
    let mut printer =
        render::Printer::new(args.output, color, &origins, &policies).with_results(args.policy_report_results.into());
    let mut failing_at_threshold = false;
    let mut write_error = None;
    printer.begin(&mut out).context("cannot write the output")?;
    // Reports are printed as they are built: a large dump never holds them all.
    audit_each(&index, &policies, &exceptions, now, |report| {
        failing_at_threshold |= args.fail_on.is_some_and(|threshold| failing_at_or_above(&report, threshold));
        if write_error.is_none() {
            write_error = printer.report(&mut out, &report).err();
        }
    });
    if let Some(e) = write_error {
        return Err(e.context("cannot write the output"));
    }
    printer.end(&mut out, &skipped, unreadable).context("cannot write the output")?;
    out.flush().map_err(render::output_error)?;

    if failing_at_threshold {
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--framework`: every report goes into the per-control verdicts, which are printed instead of the
/// reports. `--fail-on` still sets the exit code from the findings.
fn scan_framework(
    name: vigil_crds::FrameworkName,
    args: &ScanArgs,
    index: &Index,
    policies: &PolicySet,
    exceptions: &Exceptions,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let framework = vigil_engine::frameworks::of(name);
    let mut compliance = vigil_engine::frameworks::evaluate::Compliance::default();
    let mut failing_at_threshold = false;
    audit_each(index, policies, exceptions, now, |report| {
        failing_at_threshold |= args.fail_on.is_some_and(|threshold| failing_at_or_above(&report, threshold));
        compliance.add_report(&report);
    });
    let minor = vigil_engine::frameworks::pss::minor_judged(index);
    let result = compliance.judge(framework, framework.version_judged(index), minor);
    let mut out = std::io::BufWriter::new(render::Output::new(std::io::stdout().lock()));
    crate::frameworks::write_result(&result, args.output == ScanFormat::Json, &mut out)
        .and_then(|()| out.flush())
        .map_err(render::output_error)?;
    Ok(if failing_at_threshold { ExitCode::from(EXIT_FINDINGS) } else { ExitCode::SUCCESS })
}

/// Lists the live cluster (`--cluster`) as the operator reads it: the same kinds, the same namespace
/// filter, the server's version, and the cluster's own SecurityPolicies and exceptions.
fn read_cluster(args: &ScanArgs) -> anyhow::Result<Input> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let options = ClientOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        identity: "scan".into(),
        request_timeout: Some(REQUEST_TIMEOUT),
    };
    let filter = NamespaceFilter::new(&args.namespaces, &args.exclude_namespaces);
    // Warnings (a kind Vigil may not list, an unreadable version) go to stderr, as `vigil: ...` lines do.
    let _ =
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,kube=off,kube_client=off,kube_runtime=off")
            }))
            .without_time()
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    let taken = runtime.block_on(async {
        let config = options.config().await?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).context("building the API client")?;
        // Also the reachability probe: without a cluster, fail before listing anything.
        let version = match snapshot::server_version(&client).await {
            Ok(version) => version,
            Err(kube::Error::Api(status)) => {
                tracing::warn!(error = %status, "cannot read the API server version; version checks say NotApplicable");
                None
            }
            Err(error) => return Err(snapshot::unreachable(error, &url)),
        };
        let progress = Arc::new(snapshot::Progress::default());
        let listing = snapshot::take(&client, &filter, progress.clone());
        let mut taken = with_progress(listing, &progress).await?;
        taken.index.server_version = version;
        anyhow::Ok(taken)
    })?;
    let mut store = PolicyStore::default();
    for (_, objects) in &taken.policies {
        for object in objects {
            // As the operator: an invalid policy or exception in the cluster is reported and left out.
            if let Err(problem) = store.apply(object) {
                render::warn(&format!("vigil: {problem}; left out"));
            }
        }
    }
    let mut index = taken.index;
    index.scope = InputScope::WholeCluster;
    Ok(Input {
        index,
        origins: Origins::new(),
        store,
        vigil_objects: Vec::new(),
        skipped: BTreeMap::new(),
        unreadable: 0,
    })
}

/// Bound of each API request of `--cluster` (connect, send, response of one page).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the listing, redrawing a progress line on stderr every 200 ms when stderr is a terminal.
async fn with_progress<T>(listing: impl std::future::Future<Output = T>, progress: &snapshot::Progress) -> T {
    if !std::io::stderr().is_terminal() {
        return listing.await;
    }
    futures::pin_mut!(listing);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let result = loop {
        tokio::select! {
            result = &mut listing => break result,
            _ = tick.tick() => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", progress.line());
                let _ = err.flush();
            }
        }
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
    result
}

fn read_files(args: &ScanArgs) -> anyhow::Result<Input> {
    let cap = args.max_input_size;
    let mut loaded = Loaded::default();
    for path in &args.paths {
        read_path(path, cap, &mut loaded)?;
    }
    if !loaded.vigil_errors.is_empty() {
        bail!("{}", list_errors(&loaded.vigil_errors));
    }
    for error in &loaded.errors {
        render::warn(&format!("vigil: skipped {error}"));
    }
    if loaded.objects.is_empty() && loaded.skipped.is_empty() {
        let what = if loaded.errors.is_empty() { "no Kubernetes objects found" } else { "no document could be read" };
        bail!("{what} in {}", args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let (mut index, origins) = build_index(loaded.objects);
    index.scope = if args.whole_cluster { InputScope::WholeCluster } else { InputScope::of_files(&index) };
    if let Some(version) = &args.kube_version {
        index.server_version = Some(
            ServerVersion::parse(version)
                .with_context(|| format!("--kube-version {version:?} is not a version like 1.31"))?,
        );
    }
    Ok(Input {
        index,
        origins,
        store: PolicyStore::default(),
        vigil_objects: loaded.vigil_objects,
        skipped: loaded.skipped,
        unreadable: loaded.errors.len(),
    })
}

fn list_errors(errors: &[LoadError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// Reads a `--policy` / `--exceptions` path: a file, or a folder's manifests; `(name, bytes)` each.
fn read_vigil_path(path: &Path, cap: u64) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        files.push((path.display().to_string(), read_capped(path, cap)?));
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if is_manifest(entry.path()) && !entry.file_type().is_dir() {
            files.push((entry.path().display().to_string(), read_capped(entry.path(), cap)?));
        }
    }
    if files.is_empty() {
        bail!("{}: no .yaml, .yml or .json file in the folder", path.display());
    }
    Ok(files)
}

/// Reads one `--policy` / `--exceptions` file: every document must be one of `kinds`.
fn read_vigil_file(name: &str, bytes: &[u8], kinds: &[&str]) -> anyhow::Result<Vec<(VigilObject, Origin)>> {
    let mut loaded = Loaded::default();
    loaded.add_bytes(name, bytes);
    let errors: Vec<LoadError> = loaded.errors.into_iter().chain(loaded.vigil_errors).collect();
    if !errors.is_empty() {
        bail!("{}", list_errors(&errors));
    }
    let wanted = kinds.join(" or ");
    if let Some((object, origin)) = loaded.objects.first() {
        let name = object.metadata().name.as_deref().unwrap_or("");
        bail!(
            "{}: document {}: expected {wanted}, found {} {name:?}",
            escape(&origin.file),
            origin.document,
            object.kind()
        );
    }
    if let Some((object, origin)) = loaded.vigil_objects.iter().find(|(o, _)| !kinds.contains(&o.kind())) {
        let name = object.metadata().name.as_deref().unwrap_or("");
        bail!(
            "{}: document {}: expected {wanted}, found {} {name:?}",
            escape(&origin.file),
            origin.document,
            object.kind()
        );
    }
    if loaded.vigil_objects.is_empty() {
        bail!("{}: no {wanted} found", escape(name));
    }
    Ok(loaded.vigil_objects)
}

/// Compiles the policy objects of files into `store` (which may hold the cluster's) by the engine's rules;
/// the first invalid one is unusable input. An exception naming an unknown check is too when `strict`;
/// otherwise (a cluster's exceptions, which the operator also keeps) it is reported.
fn compile_vigil_objects(
    mut store: PolicyStore,
    objects: &[(VigilObject, Origin)],
    strict: bool,
) -> anyhow::Result<(PolicySet, Exceptions)> {
    let mut seen: HashMap<(&str, String), &Origin> = HashMap::new();
    for (object, origin) in objects {
        let at = |message: String| {
            format!("{}: document {} (line {}): {message}", escape(&origin.file), origin.document, origin.line)
        };
        store.apply(object).map_err(|message| anyhow::anyhow!(at(message)))?;
        let meta = object.metadata();
        let key = key_of(object.kind(), meta.namespace.as_deref(), meta.name.as_deref().unwrap_or(""));
        if let Some(first) = seen.insert((object.kind(), key.clone()), origin) {
            bail!(at(format!(
                "{} {key:?} is also defined in {} document {}",
                object.kind(),
                escape(&first.file),
                first.document
            )));
        }
    }
    match store.check_exception_ids() {
        Err(message) if strict => bail!(message),
        Err(message) => render::warn(&format!("vigil: {message}")),
        Ok(()) => {}
    }
    Ok((store.policy_set(), store.exceptions()))
}

fn failing_at_or_above(report: &Report, threshold: Severity) -> bool {
    report.status().findings.iter().any(|f| f.result == FindingResult::Fail && f.severity >= threshold)
}

fn is_manifest(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

/// Reads at most `cap` bytes of a file (a FIFO, a device, process substitution alike); more is an error
/// naming the cap, read no further.
fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", escape(&path.display().to_string())))?;
    read_limited(file, cap).with_context(|| format!("cannot read {}", escape(&path.display().to_string())))
}

fn read_limited(reader: impl Read, cap: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        bail!("larger than the input limit of {cap} bytes (--max-input-size)");
    }
    Ok(bytes)
}

/// Reads a file, a folder (recursively: `.yaml`, `.yml`, `.json`, in name order; symlinks followed, FIFOs
/// read) or stdin (`-`). A file that cannot be read is reported and the scan goes on.
fn read_path(path: &Path, cap: u64, loaded: &mut Loaded) -> anyhow::Result<()> {
    if path == Path::new("-") {
        match read_limited(std::io::stdin().lock(), cap) {
            Ok(bytes) => loaded.add_bytes("-", &bytes),
            Err(e) => loaded.add_file_error("-", format!("{e:#}")),
        }
        return Ok(());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        read_file(path, cap, loaded);
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name() {
        match entry {
            Ok(entry) if !entry.file_type().is_dir() && is_manifest(entry.path()) => {
                read_file(entry.path(), cap, loaded)
            }
            Ok(_) => {}
            Err(e) => {
                let at = e.path().unwrap_or(path).display().to_string();
                let cause = e.io_error().map_or_else(|| e.to_string(), ToString::to_string);
                loaded.add_file_error(&at, format!("cannot read: {cause}"));
            }
        }
    }
    Ok(())
}

fn read_file(path: &Path, cap: u64, loaded: &mut Loaded) {
    let name = path.display().to_string();
    match std::fs::File::open(path).map_err(anyhow::Error::from).and_then(|f| read_limited(f, cap)) {
        Ok(bytes) => loaded.add_bytes(&name, &bytes),
        Err(e) => loaded.add_file_error(&name, format!("cannot read: {e:#}")),
    }
}

/// Builds the index; two objects of the same kind, namespace and name are a warning naming both places
/// (the later one is audited, as `kubectl apply` of both would leave it).
fn build_index(objects: Vec<(vigil_engine::input::object::StoredObject, Origin)>) -> (Index, Origins) {
    let mut index = Index::new();
    let mut origins = Origins::new();
    for (object, origin) in objects {
        let meta = object.metadata();
        let namespace = if object.is_namespaced() { meta.namespace.clone().unwrap_or_default() } else { String::new() };
        let key = (object.kind().to_string(), namespace, meta.name.clone().unwrap_or_default());
        if let Some(first) = origins.get(&key) {
            let (kind, ns, name) = &key;
            let shown = if ns.is_empty() { name.clone() } else { format!("{ns}/{name}") };
            render::warn(&format!(
                "vigil: {kind} {} is defined twice: {} document {} (line {}) and {} document {} (line {}); the later one is audited",
                escape(&shown),
                escape(&first.file),
                first.document,
                first.line,
                escape(&origin.file),
                origin.document,
                origin.line
            ));
        }
        origins.insert(key, origin);
        index.insert_stored(object);
    }
    (index, origins)
}

/// The origin of a report's subject, when it came from a file.
pub fn origin_of<'a>(origins: &'a Origins, subject: &Subject) -> Option<&'a Origin> {
    let namespace =
        if subject.kind == "Namespace" { String::new() } else { subject.namespace.clone().unwrap_or_default() };
    origins.get(&(subject.kind.clone(), namespace, subject.name.clone()))
}
