//! SARIF 2.1.0 for code-scanning UIs: one rule per catalog check and per custom check, one result per
//! failing or waived finding, located at the subject's file and line where the input came from files.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use serde_json::{Value, json};
use vigil_crds::{FindingResult, Severity};
use vigil_engine::{PolicySet, Report, catalog};

use crate::scan::{Origins, origin_of};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// The rules of a run: one per catalog check, then the policies' custom checks (an id several policies
/// define: the first in precedence). Built once; results refer to rules by index.
pub struct Rules {
    rules: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Rules {
    pub fn new(policies: &PolicySet) -> Rules {
        let mut rules = Rules { rules: Vec::new(), index: HashMap::new() };
        for c in catalog() {
            rules.push(
                c.id,
                json!({
                    "id": c.id,
                    "name": c.id,
                    "shortDescription": {"text": c.title},
                    "fullDescription": {"text": format!("Fails when {}", c.fails_when)},
                    "help": {"text": c.remediation},
                    "defaultConfiguration": {"level": level(c.severity())},
                    "properties": {
                        // GitHub code scanning reads this 0.0-10.0 score to rank security results.
                        "security-severity": format!("{:.1}", c.risk as f64),
                        "tags": ["security", c.category.as_str()],
                    },
                }),
            );
        }
        let in_precedence = policies.policies().iter().chain(std::iter::once(policies.fallback()));
        for check in in_precedence.flat_map(|p| &p.custom_checks) {
            rules.push(
                &check.id,
                json!({
                    "id": check.id,
                    "name": check.id,
                    "shortDescription": {"text": check.title},
                    "fullDescription": {"text": format!("Custom check; passes when {}", check.expression)},
                    "help": {"text": check.message},
                    "defaultConfiguration": {"level": level(Severity::from_risk(check.risk))},
                    "properties": {
                        "security-severity": format!("{:.1}", check.risk as f64),
                        "tags": ["security", "custom"],
                    },
                }),
            );
        }
        rules
    }

    /// Adds a rule unless one with this id is there already.
    fn push(&mut self, id: &str, rule: Value) {
        if !self.index.contains_key(id) {
            self.index.insert(id.to_string(), self.rules.len());
            self.rules.push(rule);
        }
    }
}

/// The characters a path segment of a URI reference may not hold as they are (RFC 3986 `pchar` keeps
/// unreserved, sub-delims, `:` and `@`); `:` is encoded too, so a first segment never reads as a scheme.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The `artifactLocation.uri` of a scanned file: a percent-encoded URI reference, relative to the current
/// folder (the scan root) when the file is under it, else an absolute `file:` URI. `None` for stdin.
pub fn artifact_uri(file: &str, cwd: Option<&Path>) -> Option<String> {
    if file == "-" || file.is_empty() {
        return None;
    }
    let path = Path::new(file);
    let (relative, absolute) = match cwd.and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(inside) => (inside, false),
        None => (path, path.is_absolute()),
    };
    let segments: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(utf8_percent_encode(&s.to_string_lossy(), SEGMENT).to_string()),
            Component::ParentDir => Some("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    let joined = segments.join("/");
    Some(if absolute { format!("file:///{joined}") } else { joined })
}

/// The SARIF results of one report: its Fail and Waived findings.
pub fn results(report: &Report, origins: &Origins, rules: &Rules, cwd: Option<&Path>) -> Vec<Value> {
    let mut results = Vec::new();
    let subject = report.subject();
    let logical = match &subject.namespace {
        Some(ns) if subject.kind != "Namespace" => format!("{}/{ns}/{}", subject.kind, subject.name),
        _ => format!("{}/{}", subject.kind, subject.name),
    };
    let origin = origin_of(origins, subject);
    for f in &report.status().findings {
        if !matches!(f.result, FindingResult::Fail | FindingResult::Waived) {
            continue;
        }
        let Some(&rule_index) = rules.index.get(&f.check_id) else { continue };
        let mut location = json!({"logicalLocations": [{"name": logical, "kind": "resource"}]});
        if let Some((origin, uri)) = origin.and_then(|o| Some((o, artifact_uri(&o.file, cwd)?))) {
            location["physicalLocation"] = json!({
                "artifactLocation": {"uri": uri},
                "region": {"startLine": origin.line},
            });
        }
        let mut result = json!({
            "ruleId": f.check_id,
            "ruleIndex": rule_index,
            "level": level(f.severity),
            "message": {"text": format!("{logical}: {}", f.message)},
            "locations": [location],
            "partialFingerprints": {"vigil/v1": format!("{logical}/{}/{}", f.check_id, f.container.as_deref().unwrap_or(""))},
        });
        if f.result == FindingResult::Waived {
            result["suppressions"] = json!([{
                "kind": "external",
                "justification": format!("waived by {}", f.waived_by.as_deref().unwrap_or("an exception")),
            }]);
        }
        results.push(result);
    }
    results
}

/// Opens the SARIF document, up to its results, which follow one by one ([`write_result`]).
pub fn write_head(out: &mut impl Write, rules: &Rules) -> std::io::Result<()> {
    let tool = json!({"driver": {"name": "vigil", "version": env!("CARGO_PKG_VERSION"), "rules": &rules.rules}});
    write!(
        out,
        "{{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {{\n      \"tool\": "
    )?;
    serde_json::to_writer(&mut *out, &tool)?;
    write!(out, ",\n      \"results\": [")
}

/// One result; `first` says whether it opens the list.
pub fn write_result(out: &mut impl Write, result: &Value, first: bool) -> std::io::Result<()> {
    out.write_all(if first { b"\n        " } else { b",\n        " })?;
    serde_json::to_writer(&mut *out, result)?;
    Ok(())
}

/// Closes the document.
pub fn write_tail(out: &mut impl Write, any: bool) -> std::io::Result<()> {
    writeln!(out, "{}]\n    }}\n  ]\n}}", if any { "\n      " } else { "" })
}
