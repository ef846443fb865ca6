//! `vigil checks --framework` and `vigil scan --framework`: the binary's framework listings and
//! per-control verdicts, held to the reports `vigil scan -o json` prints for the same input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const NOW: &str = "2026-11-27T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).current_dir(root()).env("VIGIL_NOW", NOW).output().unwrap()
}

fn json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn control<'a>(result: &'a Value, id: &str) -> &'a Value {
    result["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no control {id}"))
}

#[test]
fn checks_lists_a_frameworks_controls_and_the_checks_evidencing_each() {
    let table = String::from_utf8(vigil(&["checks", "--framework", "cis"]).stdout).unwrap();
    assert!(table.starts_with("CIS Kubernetes Benchmark v1.9.0 (cis)"), "{table}");
    let row = table.lines().position(|l| l.starts_with("5.2.2 ")).expect("5.2.2 listed");
    let evidence = table.lines().nth(row + 1).unwrap();
    assert!(evidence.contains("privileged-container"), "{evidence}");
    assert!(table.lines().any(|l| l.starts_with("5.1.7 ") && l.contains("not-observable")), "{table}");

    let catalog: BTreeSet<String> = json(&vigil(&["checks", "-o", "json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    for name in ["pss", "cis", "nsa", "mitre"] {
        let listed = json(&vigil(&["checks", "--framework", name, "-o", "json"]));
        assert_eq!(listed["framework"], name);
        let controls = listed["controls"].as_array().unwrap();
        assert!(!controls.is_empty());
        for c in controls {
            match c["evidence"].as_str().unwrap() {
                "checks" => {
                    let checks = c["checks"].as_array().unwrap();
                    assert!(!checks.is_empty(), "{c}");
                    assert!(checks.iter().all(|id| catalog.contains(id.as_str().unwrap())), "{c}");
                }
                "not-observable" | "not-checked" => assert!(c["reason"].as_str().unwrap().len() > 20, "{c}"),
                other => panic!("unknown evidence {other}"),
            }
        }
    }
    let pss = json(&vigil(&["checks", "--framework", "pss", "-o", "json"]));
    assert_eq!(control(&pss, "restricted/running-as-non-root-user")["since"], "v1.23");
    // `vigil checks -o json` names each check's controls, or why it has none.
    let entries = json(&vigil(&["checks", "-o", "json"]));
    let entry = |id: &str| entries.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    assert!(
        entry("host-pid")["frameworks"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"framework": "cis", "control": "5.2.3"}))
    );
    assert!(entry("owner-annotation")["unmapped"].as_str().is_some());
}

#[test]
fn an_unknown_framework_exits_2_naming_the_known_ones() {
    for args in [&["checks", "--framework", "soc2"][..], &["scan", "examples/", "--framework", "soc2"]] {
        let out = vigil(args);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("known: pss, cis, nsa, mitre"), "{err}");
    }
    let out = vigil(&["scan", "examples/", "--framework", "cis", "-o", "sarif"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o table or -o json"));
}

/// `(kind, namespace, name)` of every report in which `check` fails.
fn failing_in_reports(reports: &Value, check: &str) -> BTreeSet<String> {
    reports["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["status"]["findings"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["checkId"] == check && f["result"] == "Fail"))
        })
        .map(|r| {
            let s = &r["spec"]["subject"];
            match s["namespace"].as_str() {
                Some(ns) if s["kind"] != "Namespace" => {
                    format!("{} {ns}/{}", s["kind"].as_str().unwrap(), s["name"].as_str().unwrap())
                }
                _ => format!("{} {}", s["kind"].as_str().unwrap(), s["name"].as_str().unwrap()),
            }
        })
        .collect()
}

fn failing_in_control(control: &Value) -> BTreeSet<String> {
    control["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s["namespace"].as_str() {
            Some(ns) => format!("{} {ns}/{}", s["kind"].as_str().unwrap(), s["name"].as_str().unwrap()),
            None => format!("{} {}", s["kind"].as_str().unwrap(), s["name"].as_str().unwrap()),
        })
        .collect()
}

#[test]
fn scan_judges_each_control_as_the_reports_say() {
    let reports = json(&vigil(&["scan", "examples/", "-o", "json"]));
    let result = json(&vigil(&["scan", "examples/", "--framework", "cis", "-o", "json"]));
    assert_eq!((result["framework"].as_str(), result["version"].as_str()), (Some("cis"), Some("v1.9.0")));
    // Each control with checks: its failing subjects are exactly those whose reports fail one of them.
    let mut failed = 0;
    for c in result["controls"].as_array().unwrap() {
        let checks: Vec<&str> = c["checks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
        let expected: BTreeSet<String> = checks.iter().flat_map(|id| failing_in_reports(&reports, id)).collect();
        assert_eq!(failing_in_control(c), expected, "{}", c["id"]);
        if !expected.is_empty() {
            assert_eq!(c["verdict"], "Fail", "{c}");
            failed += 1;
        }
    }
    assert_eq!(result["summary"]["failed"], failed);
    let privileged = control(&result, "5.2.2");
    assert!(failing_in_control(privileged).contains("Deployment shop/storefront"), "{privileged}");
    // The examples are plain manifests: image provenance needs the whole cluster, and says so.
    let provenance = control(&result, "5.5.1");
    assert_eq!(provenance["verdict"], "NotEvaluated");
    assert!(provenance["reason"].as_str().unwrap().contains("NotApplicable"), "{provenance}");
    assert_eq!(control(&result, "2")["verdict"], "NotObservable");
    let s = &result["summary"];
    let passed = s["passed"].as_u64().unwrap() as f64;
    let score = (100.0 * passed / (passed + failed as f64)).round() as u64;
    assert_eq!(result["score"].as_u64(), Some(score));

    // The table says the same.
    let table = String::from_utf8(vigil(&["scan", "examples/", "--framework", "cis"]).stdout).unwrap();
    let summary = format!("{} passed, {failed} failed", s["passed"]);
    assert!(table.lines().nth(1).unwrap().starts_with(&summary), "{table}");
    let row = table.lines().position(|l| l.starts_with("5.2.2 ")).unwrap();
    assert!(table.lines().nth(row).unwrap().contains("Fail"));
    assert!(
        table.lines().nth(row + 1).unwrap().contains("Deployment shop/storefront (privileged-container"),
        "{table}"
    );
}

#[test]
fn a_waived_finding_counts_as_passed_and_pss_follows_the_kube_version() {
    let dir = "operator/tests/policy";
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "operator/tests/policy/shop.yaml", "--policy", "operator/tests/policy/policy.yaml"];
        args.extend_from_slice(extra);
        json(&vigil(&args))
    };
    let without = scan(&["--framework", "pss", "-o", "json"]);
    assert_eq!(control(&without, "baseline/privileged-containers")["verdict"], "Fail");
    let exceptions = format!("{dir}/exceptions.yaml");
    let waived = scan(&["--exceptions", &exceptions, "--framework", "pss", "-o", "json"]);
    let privileged = control(&waived, "baseline/privileged-containers");
    assert_eq!(privileged["verdict"], "Pass", "{privileged}");
    assert_eq!(privileged["checks"][0]["waived"], 1);

    let old = scan(&["--kube-version", "1.21", "--framework", "pss", "-o", "json"]);
    assert_eq!(old["version"], "v1.21");
    let ids: Vec<&str> = old["controls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"restricted/capabilities") && ids.contains(&"restricted/seccomp"), "{ids:?}");
}
