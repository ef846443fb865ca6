//! `vigil scan`: files -> loader -> index -> engine -> printer. The input is one cluster snapshot.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use vigil_crds::{FindingResult, Severity, Subject};
use vigil_engine::input::loader::{LoadError, Loaded, Origin};
use vigil_engine::input::object::VigilObject;
use vigil_engine::input::scope::InputScope;
use vigil_engine::input::text::escape;
use vigil_engine::policy::store::key_of;
use vigil_engine::{Exceptions, Index, PolicySet, PolicyStore, Report, ServerVersion, audit_each};

use crate::cli::{ColorChoice, ScanArgs};
use crate::render;

/// A failing finding at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Unusable input or arguments.
pub const EXIT_UNUSABLE: u8 = 2;

/// Where each object came from, for SARIF locations: keyed by `(kind, namespace, name)`; cluster-scoped
/// objects have an empty namespace.
pub type Origins = HashMap<(String, String, String), Origin>;

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let cap = args.max_input_size;
    let mut loaded = Loaded::default();
    for path in &args.paths {
        read_path(path, cap, &mut loaded)?;
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
    if !loaded.vigil_errors.is_empty() {
        bail!("{}", list_errors(&loaded.vigil_errors));
    }
    vigil_objects.append(&mut loaded.vigil_objects);
    let (policies, exceptions) = compile_vigil_objects(&vigil_objects)?;

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
    let now = args.now.unwrap_or_else(Timestamp::now);

    let stdout = std::io::stdout();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    // A closed pipe ends the output quietly (the scan still ends with its usual status); a full disk is
    // an error.
    let mut out = std::io::BufWriter::new(render::Output::new(stdout.lock()));
    let mut printer = render::Printer::new(args.output, color, &origins, &policies);
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
    printer.end(&mut out, &loaded.skipped, loaded.errors.len()).context("cannot write the output")?;
    out.flush().map_err(render::output_error)?;

    if failing_at_threshold {
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    Ok(ExitCode::SUCCESS)
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

/// Compiles the policy objects by the engine's rules; the first invalid one is unusable input.
fn compile_vigil_objects(objects: &[(VigilObject, Origin)]) -> anyhow::Result<(PolicySet, Exceptions)> {
    let mut store = PolicyStore::default();
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
    store.check_exception_ids().map_err(|message| anyhow::anyhow!(message))?;
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
fn build_index(objects: Vec<(vigil_engine::KubeObject, Origin)>) -> (Index, Origins) {
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
        index.insert(object);
    }
    (index, origins)
}

/// The origin of a report's subject, when it came from a file.
pub fn origin_of<'a>(origins: &'a Origins, subject: &Subject) -> Option<&'a Origin> {
    let namespace =
        if subject.kind == "Namespace" { String::new() } else { subject.namespace.clone().unwrap_or_default() };
    origins.get(&(subject.kind.clone(), namespace, subject.name.clone()))
}
