//! Fixture tests for the catalog. Each check has a folder `fixtures/<check-id>/` of YAML snapshots named
//! `<expected>-<what>.yaml`, where `<expected>` is `pass`, `fail`, `na` (NotApplicable) or `error`.
//! Every subject of the check's kinds in the file must get that result, unless `# subject: Kind/name`
//! narrows it. Header comments set the rest:
//!
//! - `# message: text` — some finding of the check must contain the text (repeatable);
//! - `# parameters: {json}` — policy parameters (merged over the defaults);
//! - `# enable: id` — switch on a check that is disabled by default (a fixture's own check always is);
//! - `# kube-version: 1.31` — the API server's version;
//! - `# now: 2026-11-27T00:00:00Z` — the evaluation time (default: that date).

use std::path::{Path, PathBuf};

use vigil_crds::{FindingResult, Parameters};
use vigil_engine::{Index, Policy, Report, ServerVersion, audit_with_policy, catalog};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Fixture {
    path: PathBuf,
    check: String,
    expected: &'static str,
    subject: Option<String>,
    messages: Vec<String>,
    text: String,
}

fn header_values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("# {key}:");
    text.lines().filter_map(|l| l.strip_prefix(&prefix)).map(str::trim).collect()
}

fn load_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures_dir()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let check = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let expected = match name.split('-').next().unwrap() {
                "pass" => "Pass",
                "fail" => "Fail",
                "na" => "NotApplicable",
                "error" => "Error",
                other => {
                    panic!("{}: fixture names start with pass-, fail-, na- or error-, not {other}-", path.display())
                }
            };
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(Fixture {
                subject: header_values(&text, "subject").first().map(|s| s.to_string()),
                messages: header_values(&text, "message").into_iter().map(String::from).collect(),
                path,
                check: check.clone(),
                expected,
                text,
            });
        }
    }
    out
}

fn run(fixture: &Fixture) -> Vec<Report> {
    let mut index = Index::from_yaml(&fixture.text).unwrap_or_else(|e| panic!("{}: {e}", fixture.path.display()));
    let mut policy = Policy::default();
    if let Some(json) = header_values(&fixture.text, "parameters").first() {
        let mut params = serde_json::to_value(Parameters::default()).unwrap();
        let overrides: serde_json::Value = serde_json::from_str(json).expect("parameters header is JSON");
        for (k, v) in overrides.as_object().expect("parameters header is an object") {
            params[k] = v.clone();
        }
        policy.parameters = serde_json::from_value(params).expect("valid parameters");
    }
    policy.enabled.insert(fixture.check.clone());
    for id in header_values(&fixture.text, "enable") {
        policy.enabled.insert(id.to_string());
    }
    if let Some(v) = header_values(&fixture.text, "kube-version").first() {
        index.server_version = ServerVersion::parse(v);
    }
    let now = header_values(&fixture.text, "now")
        .first()
        .map(|t| t.parse().unwrap())
        .unwrap_or("2026-11-27T00:00:00Z".parse().unwrap());
    audit_with_policy(&index, &policy, now)
}

/// The check's result on a report: `None` when the check did not run there.
fn result_of(report: &Report, check: &str) -> Option<&'static str> {
    let status = report.status();
    if status.passed.iter().any(|p| p == check) {
        return Some("Pass");
    }
    let results: Vec<FindingResult> =
        status.findings.iter().filter(|f| f.check_id == check).map(|f| f.result).collect();
    if results.is_empty() {
        return None;
    }
    Some(if results.contains(&FindingResult::Fail) {
        "Fail"
    } else if results.contains(&FindingResult::Error) {
        "Error"
    } else if results.contains(&FindingResult::Waived) {
        "Waived"
    } else {
        "NotApplicable"
    })
}

#[test]
fn every_fixture_gives_its_expected_result() {
    let fixtures = load_fixtures();
    assert!(!fixtures.is_empty());
    let mut failures = Vec::new();
    for fixture in &fixtures {
        assert!(
            vigil_engine::checks::catalog::find(&fixture.check).is_some(),
            "fixture folder {} is not a check id",
            fixture.check
        );
        let reports = run(fixture);
        let relevant: Vec<&Report> = reports
            .iter()
            .filter(|r| result_of(r, &fixture.check).is_some())
            .filter(|r| match &fixture.subject {
                Some(s) => format!("{}/{}", r.subject().kind, r.subject().name) == *s,
                None => true,
            })
            .collect();
        if relevant.is_empty() {
            failures.push(format!("{}: no subject was evaluated by {}", fixture.path.display(), fixture.check));
            continue;
        }
        for report in &relevant {
            let got = result_of(report, &fixture.check).unwrap();
            let messages: Vec<&str> = report
                .status()
                .findings
                .iter()
                .filter(|f| f.check_id == fixture.check)
                .map(|f| f.message.as_str())
                .collect();
            if got != fixture.expected {
                failures.push(format!(
                    "{}: {}/{} expected {} got {got} ({messages:?})",
                    short(&fixture.path),
                    report.subject().kind,
                    report.subject().name,
                    fixture.expected
                ));
            }
            for wanted in &fixture.messages {
                if !messages.iter().any(|m| m.contains(wanted.as_str())) {
                    failures.push(format!("{}: no message contains {wanted:?}: {messages:?}", short(&fixture.path)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} fixture failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_check_has_pass_and_fail_fixtures() {
    let fixtures = load_fixtures();
    let mut missing = Vec::new();
    for check in catalog() {
        for expected in ["Pass", "Fail"] {
            if !fixtures.iter().any(|f| f.check == check.id && f.expected == expected) {
                missing.push(format!("{} has no {expected} fixture", check.id));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

fn short(path: &Path) -> String {
    path.strip_prefix(fixtures_dir()).unwrap_or(path).display().to_string()
}
