//! `vigil scan`: files -> loader -> index -> engine -> printer. The input is one cluster snapshot.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use vigil_crds::{FindingResult, Severity, Subject};
use vigil_engine::loader::{Loaded, Origin};
use vigil_engine::{Index, Policy, Report, ServerVersion, audit_each};

use crate::cli::{ColorChoice, ScanArgs};
use crate::output;

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
    let policy = Policy::default();
    let now = args.now.unwrap_or_else(Timestamp::now);

    let stdout = std::io::stdout();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printer = output::Printer::new(args.output, color, &origins);
    let mut failing_at_threshold = false;
    let mut write_error = None;
    printer.begin(&mut out)?;
    // Reports are printed as they are built: a large dump never holds them all.
    audit_each(&index, &policy, now, |report| {
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
