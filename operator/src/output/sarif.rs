//! SARIF 2.1.0 for code-scanning UIs: one rule per catalog check, one result per failing or waived
//! finding, located at the subject's file and line where the input came from files.

use serde_json::{Value, json};
use vigil_crds::{FindingResult, Severity};
use vigil_engine::{Report, catalog};

use crate::scan::{Origins, origin_of};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// The SARIF results of one report: its Fail and Waived findings.
pub fn results(report: &Report, origins: &Origins) -> Vec<Value> {
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
        let Some(rule_index) = catalog().iter().position(|c| c.id == f.check_id) else { continue };
        let mut location = json!({"logicalLocations": [{"name": logical, "kind": "resource"}]});
        if let Some(origin) = origin {
            location["physicalLocation"] = json!({
                "artifactLocation": {"uri": origin.file.trim_start_matches("./")},
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

/// The SARIF document around all results.
pub fn document(results: Vec<Value>) -> Value {
    let rules: Vec<Value> = catalog()
        .iter()
        .map(|c| {
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
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "vigil",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
