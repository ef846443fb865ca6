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
    sarif_results: Vec<serde_json::Value>,
    /// What the HTML page needs: one small row per finding.
    html: Option<html::Page>,
}

impl<'a> Printer<'a> {
    /// `policies`: the policies in force, whose custom checks become SARIF rules.
    pub fn new(format: ScanFormat, color: bool, origins: &'a Origins, policies: &PolicySet) -> Self {
        let sarif_rules = sarif::Rules::new(policies);
        let html = (format == ScanFormat::Html).then(|| html::Page::new(policies));
        Printer { format, color, origins, items: 0, rollup: None, sarif_rules, sarif_results: Vec::new(), html }
    }

    pub fn begin(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        // JSON and YAML print a `kind: List` of reports, each exactly as the operator writes it.
        match self.format {
            ScanFormat::Json => write!(out, "{{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [")?,
            ScanFormat::Yaml | ScanFormat::Policyreport => write!(out, "apiVersion: v1\nkind: List\nitems:")?,
            ScanFormat::Table | ScanFormat::Sarif | ScanFormat::Html => {}
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
            ScanFormat::Yaml | ScanFormat::Policyreport => {
                let text = if self.format == ScanFormat::Yaml {
                    serde_saphyr::to_string(report)?
                } else {
                    serde_saphyr::to_string(&vigil_engine::report::policy_report::policy_report(report))?
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
            ScanFormat::Sarif => self.sarif_results.extend(sarif::results(report, self.origins, &self.sarif_rules)),
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
            ScanFormat::Yaml | ScanFormat::Policyreport => {
                writeln!(out, "{}", if self.items == 0 { " []" } else { "" })?
            }
            ScanFormat::Sarif => {
                let results = std::mem::take(&mut self.sarif_results);
                serde_json::to_writer_pretty(&mut *out, &sarif::document(&self.sarif_rules, results))?;
                writeln!(out)?;
            }
            ScanFormat::Html => {
                self.html.as_mut().expect("made for the html format").write(out, skipped, unreadable)?
            }
        }
        Ok(())
    }
}
