//! Printers for `vigil scan` and `vigil checks`.

pub mod html;
pub mod sarif;
pub mod table;

use std::collections::BTreeMap;
use std::io::Write;

use vigil_crds::ClusterRollup;
use vigil_engine::{PolicySet, Report};

use crate::cli::ScanFormat;
use crate::scan::Origins;

/// Writes one message to stderr, input-derived control characters escaped (newlines kept: each field that
/// input could fill is escaped where the message is made). Never fails: with stderr closed there is no one
/// left to tell.
pub fn warn(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", vigil_engine::input::text::escape_keeping_lines(message));
}

/// A failed write to stdout, as one clear error (a full disk, a closed pipe: `main` tells them apart).
pub fn output_error(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context("cannot write the output")
}

/// Stdout for a printer: once the reader has gone (`vigil scan ... | head`), the rest is discarded quietly
/// so the scan still ends with its usual status; any other write error (a full disk) is returned.
pub struct Output<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> Output<W> {
    pub fn new(inner: W) -> Self {
        Output { inner, closed: false }
    }

    fn absorb<T>(&mut self, result: std::io::Result<T>, done: T) -> std::io::Result<T> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

/// Prints reports one at a time in the chosen format.
pub struct Printer<'a> {
    format: ScanFormat,
    color: bool,
    origins: &'a Origins,
    items: usize,
    /// The roll-up, from the `cluster` report, for the table's summary line.
    rollup: Option<ClusterRollup>,
    /// The SARIF rules (catalog and custom checks) that results refer to.
    sarif_rules: sarif::Rules,
    /// SARIF results written so far.
    sarif_results: usize,
    /// The scan root SARIF URIs are relative to.
    cwd: Option<std::path::PathBuf>,
    /// What the HTML page needs: one small row per finding.
    html: Option<html::Page>,
    /// Which results policy reports carry (`--policy-report-results`).
    results: vigil_engine::report::ResultFilter,
}

impl<'a> Printer<'a> {
    /// `policies`: the policies in force, whose custom checks become SARIF rules.
    pub fn new(format: ScanFormat, color: bool, origins: &'a Origins, policies: &PolicySet) -> Self {
        let sarif_rules = sarif::Rules::new(policies);
        let html = (format == ScanFormat::Html).then(|| html::Page::new(policies));
        let cwd = std::env::current_dir().ok();
        let results = Default::default();
        Printer { format, color, origins, items: 0, rollup: None, sarif_rules, sarif_results: 0, cwd, html, results }
    }

    /// Which results policy reports carry (default: failing ones).
    pub fn with_results(mut self, results: vigil_engine::report::ResultFilter) -> Self {
        self.results = results;
        self
    }

    pub fn begin(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        // JSON and YAML print a `kind: List` of reports, each exactly as the operator writes it.
        match self.format {
            ScanFormat::Json => write!(out, "{{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [")?,
            ScanFormat::Yaml | ScanFormat::Policyreport | ScanFormat::Openreports => {
                write!(out, "apiVersion: v1\nkind: List\nitems:")?
            }
            ScanFormat::Sarif => sarif::write_head(out, &self.sarif_rules)?,
            ScanFormat::Table | ScanFormat::Html => {}
        }
        Ok(())
    }

    pub fn report(&mut self, out: &mut impl Write, report: &Report) -> anyhow::Result<()> {
        let first = self.items == 0;
        self.items += 1;
        match self.format {
            ScanFormat::Table => {
                table::write_report(out, report, self.color)?;
                if let Some(rollup) = &report.status().cluster {
                    self.rollup = Some(rollup.clone());
                }
            }
            ScanFormat::Json => {
                out.write_all(if first { b"\n" } else { b",\n" })?;
                let mut ser = serde_json::Serializer::pretty(&mut *out);
                serde::Serialize::serialize(report, &mut ser)?;
            }
            ScanFormat::Yaml | ScanFormat::Policyreport | ScanFormat::Openreports => {
                use vigil_engine::report::{open_report::open_report, policy_report::policy_report};
                let text = match self.format {
                    ScanFormat::Policyreport => serde_saphyr::to_string(&policy_report(report, self.results))?,
                    ScanFormat::Openreports => serde_saphyr::to_string(&open_report(report, self.results))?,
                    _ => serde_saphyr::to_string(report)?,
                };
                for (i, line) in text.lines().enumerate() {
                    let prefix = if i == 0 {
                        "- "
                    } else if line.is_empty() {
                        ""
                    } else {
                        "  "
                    };
                    write!(out, "\n{prefix}{line}")?;
                }
            }
            ScanFormat::Sarif => {
                for result in sarif::results(report, self.origins, &self.sarif_rules, self.cwd.as_deref()) {
                    sarif::write_result(out, &result, self.sarif_results == 0)?;
                    self.sarif_results += 1;
                }
            }
            ScanFormat::Html => self.html.as_mut().expect("made for the html format").add(report),
        }
        Ok(())
    }

    pub fn end(
        &mut self,
        out: &mut impl Write,
        skipped: &BTreeMap<String, usize>,
        unreadable: usize,
    ) -> anyhow::Result<()> {
        match self.format {
            ScanFormat::Table => table::write_footer(out, self.rollup.as_ref(), skipped, unreadable, self.color)?,
            ScanFormat::Json => writeln!(out, "{}]\n}}", if self.items == 0 { "" } else { "\n  " })?,
            ScanFormat::Yaml | ScanFormat::Policyreport | ScanFormat::Openreports => {
                writeln!(out, "{}", if self.items == 0 { " []" } else { "" })?
            }
            ScanFormat::Sarif => sarif::write_tail(out, self.sarif_results > 0)?,
            ScanFormat::Html => {
                self.html.as_mut().expect("made for the html format").write(out, skipped, unreadable)?
            }
        }
        Ok(())
    }
}
