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
    let mut loaded = Loaded::default();
    for path in &args.paths {
        read_path(path, &mut loaded)?;
    }
    // Policy objects first: a bad one is unusable input, never skipped (it would change every answer).
    let mut vigil_objects = Vec::new();
    for file in &args.policies {
        vigil_objects.extend(read_vigil_file(file, &["SecurityPolicy"])?);
    }
    for file in &args.exceptions {
        vigil_objects.extend(read_vigil_file(file, &["SecurityException", "ClusterSecurityException"])?);
    }
    if !loaded.vigil_errors.is_empty() {
        bail!("{}", list_errors(&loaded.vigil_errors));
    }
    vigil_objects.append(&mut loaded.vigil_objects);
    let (policies, exceptions) = compile_vigil_objects(&vigil_objects)?;

    for error in &loaded.errors {
        eprintln!("vigil: skipped {error}");
    }
    if loaded.objects.is_empty() && loaded.skipped.is_empty() {
        let what = if loaded.errors.is_empty() { "no Kubernetes objects found" } else { "no document could be read" };
        bail!("{what} in {}", args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let (mut index, origins) = build_index(loaded.objects);
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
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printer = render::Printer::new(args.output, color, &origins, &policies);
    let mut failing_at_threshold = false;
    let mut write_error = None;
    printer.begin(&mut out)?;
    // Reports are printed as they are built: a large dump never holds them all.
    audit_each(&index, &policies, &exceptions, now, |report| {
        failing_at_threshold |= args.fail_on.is_some_and(|threshold| failing_at_or_above(&report, threshold));
        if write_error.is_none() {
            write_error = printer.report(&mut out, &report).err();
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    printer.end(&mut out, &loaded.skipped, loaded.errors.len())?;
    out.flush()?;

    if failing_at_threshold {
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    Ok(ExitCode::SUCCESS)
}

fn list_errors(errors: &[LoadError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// Reads a `--policy` / `--exceptions` file: every document must be one of `kinds`.
fn read_vigil_file(path: &Path, kinds: &[&str]) -> anyhow::Result<Vec<(VigilObject, Origin)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut loaded = Loaded::default();
    loaded.add_text(&path.display().to_string(), &text);
    let errors: Vec<LoadError> = loaded.errors.into_iter().chain(loaded.vigil_errors).collect();
    if !errors.is_empty() {
        bail!("{}", list_errors(&errors));
    }
    let wanted = kinds.join(" or ");
    if let Some((object, origin)) = loaded.objects.first() {
        let name = object.metadata().name.as_deref().unwrap_or("");
        bail!("{}: document {}: expected {wanted}, found {} {name:?}", origin.file, origin.document, object.kind());
    }
    if let Some((object, origin)) = loaded.vigil_objects.iter().find(|(o, _)| !kinds.contains(&o.kind())) {
        let name = object.metadata().name.as_deref().unwrap_or("");
        bail!("{}: document {}: expected {wanted}, found {} {name:?}", origin.file, origin.document, object.kind());
    }
    if loaded.vigil_objects.is_empty() {
        bail!("{}: no {wanted} found", path.display());
    }
    Ok(loaded.vigil_objects)
}

/// Compiles the policy objects by the engine's rules; the first invalid one is unusable input.
fn compile_vigil_objects(objects: &[(VigilObject, Origin)]) -> anyhow::Result<(PolicySet, Exceptions)> {
    let mut store = PolicyStore::default();
    let mut seen: HashMap<(&str, String), &Origin> = HashMap::new();
    for (object, origin) in objects {
        let at = |message: String| {
            format!("{}: document {} (line {}): {message}", origin.file, origin.document, origin.line)
        };
        store.apply(object).map_err(|message| anyhow::anyhow!(at(message)))?;
        let meta = object.metadata();
        let key = key_of(object.kind(), meta.namespace.as_deref(), meta.name.as_deref().unwrap_or(""));
        if let Some(first) = seen.insert((object.kind(), key.clone()), origin) {
            bail!(at(format!(
                "{} {key:?} is also defined in {} document {}",
                object.kind(),
                first.file,
                first.document
            )));
        }
    }
    Ok((store.policy_set(), store.exceptions()))
}

fn failing_at_or_above(report: &Report, threshold: Severity) -> bool {
    report.status().findings.iter().any(|f| f.result == FindingResult::Fail && f.severity >= threshold)
}

/// Reads a file, a folder (recursively: `.yaml`, `.yml`, `.json`, in name order) or stdin (`-`).
fn read_path(path: &Path, loaded: &mut Loaded) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
        loaded.add_text("-", &text);
        return Ok(());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        loaded.add_text(&path.display().to_string(), &text);
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot walk {}", path.display()))?;
        let is_manifest =
            entry.path().extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if entry.file_type().is_file() && is_manifest {
            let text = std::fs::read_to_string(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            loaded.add_text(&entry.path().display().to_string(), &text);
        }
    }
    Ok(())
}

fn build_index(objects: Vec<(vigil_engine::KubeObject, Origin)>) -> (Index, Origins) {
    let mut index = Index::new();
    let mut origins = Origins::new();
    for (object, origin) in objects {
        let meta = object.metadata();
        let namespace = if object.is_namespaced() { meta.namespace.clone().unwrap_or_default() } else { String::new() };
        origins.insert((object.kind().to_string(), namespace, meta.name.clone().unwrap_or_default()), origin);
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
