//! The human-readable `vigil scan` output: grouped by subject, worst first within a subject.

use std::collections::BTreeMap;
use std::io::Write;

use vigil_crds::{ClusterRollup, FindingResult, PodSecurityReadiness, Severity};
use vigil_engine::Report;
use vigil_engine::input::text::escape;

struct Paint {
    on: bool,
}

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn severity(&self, s: Severity, text: &str) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.paint(code, text)
    }
}

/// Prints one report: a title line with the score and failing counts, then its findings, worst first.
pub fn write_report(out: &mut impl Write, report: &Report, color: bool) -> std::io::Result<()> {
    let p = Paint { on: color };
    let subject = report.subject();
    let status = report.status();
    let title = match &subject.namespace {
        Some(ns) if subject.kind != "Namespace" => {
            format!("{} {}/{}", escape(&subject.kind), escape(ns), escape(&subject.name))
        }
        _ => format!("{} {}", escape(&subject.kind), escape(&subject.name)),
    };
    let s = &status.summary;
    // Name the policy only when one other than the built-in judged the subject.
    let policy = match status.policy.as_deref() {
        Some(name) if name != vigil_engine::policy::DEFAULT_POLICY_NAME => format!("  policy {}", escape(name)),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}  score {}{policy}  failing: {} critical, {} high, {} medium, {} low",
        p.paint("1", &title),
        status.score,
        s.critical,
        s.high,
        s.medium,
        s.low
    )?;
    let mut findings: Vec<_> = status.findings.iter().collect();
    findings.sort_by_key(|f| (rank(f.result), std::cmp::Reverse(f.severity), f.check_id.clone()));
    for f in findings {
        let (label, sev) = match f.result {
            FindingResult::Fail => {
                (p.severity(f.severity, "FAIL  "), p.severity(f.severity, &format!("{:<8}", f.severity.as_str())))
            }
            FindingResult::Waived => (p.paint("32", "WAIVED"), format!("{:<8}", f.severity.as_str())),
            FindingResult::Error => (p.paint("35", "ERROR "), " ".repeat(8)),
            FindingResult::NotApplicable => (p.paint("2", "N/A   "), " ".repeat(8)),
        };
        let mut message = escape(&f.message).into_owned();
        if let Some(by) = &f.waived_by {
            message.push_str(&format!(" (waived by {})", escape(by)));
        }
        writeln!(out, "  {label} {sev} {:<32} {message}", escape(&f.check_id))?;
    }
    if !status.passed.is_empty() {
        writeln!(out, "  {} {} checks passed", p.paint("32", "PASS  "), status.passed.len())?;
    }
    if let Some(readiness) = &status.pod_security {
        write_pod_security(out, &p, readiness)?;
    }
    writeln!(out)
}

/// Blockers shown per namespace in the table (the report lists more; `-o json` shows them).
const TABLE_BLOCKERS: usize = 5;

/// A Namespace's Pod Security readiness: the level it can enforce today and what blocks the next one.
fn write_pod_security(out: &mut impl Write, p: &Paint, readiness: &PodSecurityReadiness) -> std::io::Result<()> {
    let line = vigil_engine::pod_security::readiness::describe(readiness);
    writeln!(out, "  {} {}", p.paint("1", "PSS   "), escape(&line))?;
    for blocker in readiness.blockers.iter().take(TABLE_BLOCKERS) {
        let reasons: Vec<String> = blocker.violations.iter().map(|v| escape(&v.reason).into_owned()).collect();
        writeln!(out, "         {} {}: {}", escape(&blocker.kind), escape(&blocker.name), reasons.join(", "))?;
    }
    let shown = readiness.blockers.len().min(TABLE_BLOCKERS) as u32;
    if readiness.blocking_workloads > shown {
        writeln!(out, "         and {} more (see -o json)", readiness.blocking_workloads - shown)?;
    }
    Ok(())
}

/// The closing lines: the cluster roll-up (from the `cluster` report), skipped kinds, unreadable documents.
pub fn write_footer(
    out: &mut impl Write,
    cluster: Option<&ClusterRollup>,
    skipped: &BTreeMap<String, usize>,
    unreadable: usize,
    color: bool,
) -> std::io::Result<()> {
    let p = Paint { on: color };
    if let Some(cluster) = cluster {
        let f = &cluster.failing;
        writeln!(
            out,
            "{} {} reports, overall score {}; failing checks: {} critical, {} high, {} medium, {} low",
            p.paint("1", "Summary:"),
            cluster.reports,
            cluster.score,
            f.critical,
            f.high,
            f.medium,
            f.low
        )?;
    }
    if !skipped.is_empty() {
        let kinds: Vec<String> = skipped.iter().map(|(k, n)| format!("{} ({n})", escape(k))).collect();
        writeln!(out, "Skipped kinds Vigil does not audit: {}", kinds.join(", "))?;
    }
    if unreadable > 0 {
        writeln!(out, "{unreadable} document(s) could not be read (see the messages above)")?;
    }
    Ok(())
}

fn rank(result: FindingResult) -> u8 {
    match result {
        FindingResult::Fail => 0,
        FindingResult::Error => 1,
        FindingResult::Waived => 2,
        FindingResult::NotApplicable => 3,
    }
}
