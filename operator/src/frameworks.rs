//! `vigil checks --framework` (a framework's controls and the checks evidencing each) and the output of
//! `vigil scan --framework` (per-control verdicts with the failing subjects), as a table or JSON.

use std::io::Write;

use serde::Serialize;
use vigil_crds::{ControlVerdict, FrameworkName};
use vigil_engine::frameworks::evaluate::FrameworkResult;
use vigil_engine::frameworks::{self, Evidence, Framework};

/// `--framework NAME`: a framework the engine maps (clap exits 2 with this message on any other).
pub fn parse_framework(text: &str) -> Result<FrameworkName, String> {
    frameworks::find(&text.trim().to_ascii_lowercase())
        .map(|f| f.name)
        .ok_or_else(|| format!("unknown framework {text:?}; known: {}", frameworks::known_names().join(", ")))
}

/// One control as `vigil checks --framework -o json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ControlEntry {
    id: &'static str,
    title: &'static str,
    group: &'static str,
    /// The first Kubernetes minor version holding it (Pod Security Standards only).
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// `checks`, `not-observable` or `not-checked`.
    evidence: &'static str,
    checks: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FrameworkEntry {
    framework: &'static str,
    title: &'static str,
    version: String,
    source: &'static str,
    note: &'static str,
    controls: Vec<ControlEntry>,
}

/// The version `vigil checks` names: a scan judges Pod Security Standards by the cluster's version.
fn listed_version(framework: &Framework) -> String {
    match framework.name {
        FrameworkName::Pss => {
            format!("{} (the newest Vigil knows; a scan judges by the cluster's version)", framework.version)
        }
        _ => framework.version.to_string(),
    }
}

/// `vigil checks --framework NAME`.
pub fn write_controls(framework: &'static Framework, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        let entry = FrameworkEntry {
            framework: framework.name.as_str(),
            title: framework.title,
            version: listed_version(framework),
            source: framework.source,
            note: framework.note,
            controls: framework
                .controls
                .iter()
                .map(|c| ControlEntry {
                    id: c.id,
                    title: c.title,
                    group: c.group,
                    since: (c.since_minor > 0).then(|| format!("v1.{}", c.since_minor)),
                    evidence: c.evidence.kind(),
                    checks: c.evidence.checks(),
                    reason: c.evidence.reason(),
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &entry)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{} {} ({})", framework.title, listed_version(framework), framework.name.as_str())?;
    writeln!(out, "{}", framework.note)?;
    writeln!(out)?;
    let width = framework.controls.iter().map(|c| c.id.len()).max().unwrap_or(2).max(7);
    writeln!(out, "{:<width$}  {:<15}  TITLE / EVIDENCE", "CONTROL", "EVIDENCE")?;
    for c in framework.controls {
        let since = if c.since_minor > 0 { format!(" (from v1.{})", c.since_minor) } else { String::new() };
        writeln!(out, "{:<width$}  {:<15}  {}{since}", c.id, c.evidence.kind(), c.title)?;
        let detail = match c.evidence {
            Evidence::Checks(ids) => ids.join(", "),
            Evidence::NotObservable(why) => format!("no API object shows it: {why}"),
            Evidence::NotChecked(why) => format!("no check judges it yet: {why}"),
        };
        writeln!(out, "{:<width$}  {:<15}  {detail}", "", "")?;
    }
    Ok(())
}

/// `vigil scan --framework NAME`.
pub fn write_result(result: &FrameworkResult, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, result)?;
        writeln!(out)?;
        return Ok(());
    }
    let s = &result.summary;
    let score = result.score.map_or_else(|| "none (no control evaluated)".to_string(), |s| s.to_string());
    writeln!(out, "{} {} ({})", result.title, result.version, result.framework)?;
    writeln!(
        out,
        "{} passed, {} failed, {} not evaluated, {} not observable, {} not checked; score {score}",
        s.passed, s.failed, s.not_evaluated, s.not_observable, s.not_checked
    )?;
    writeln!(out)?;
    let width = result.controls.iter().map(|c| c.id.len()).max().unwrap_or(2).max(7);
    writeln!(out, "{:<width$}  {:<13}  TITLE", "CONTROL", "VERDICT")?;
    for c in &result.controls {
        writeln!(out, "{:<width$}  {:<13}  {}", c.id, c.verdict.as_str(), c.title)?;
        if c.verdict == ControlVerdict::Fail {
            for subject in &c.failing {
                writeln!(out, "{:<width$}  {:<13}  - {} ({})", "", "", subject.display(), subject.checks.join(", "))?;
            }
        } else if let Some(reason) = &c.reason {
            writeln!(out, "{:<width$}  {:<13}  {reason}", "", "")?;
        }
    }
    Ok(())
}
