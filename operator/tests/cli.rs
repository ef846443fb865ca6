//! End-to-end tests of the `vigil` binary: golden output of the bundled examples, exit codes, formats.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NOW: &str = "2026-11-27T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).current_dir(root()).env("VIGIL_NOW", NOW).output().unwrap()
}

fn vigil_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .current_dir(root())
        .env("VIGIL_NOW", NOW)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn golden_json_of_the_examples() {
    let out = vigil(&["scan", "examples", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let golden = root().join("operator/tests/golden/examples.json");
    if std::env::var_os("VIGIL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, stdout(&out)).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(stdout(&out) == expected, "`vigil scan examples -o json` changed; review and run `make golden`");
}

#[test]
fn json_and_yaml_are_report_lists() {
    let json: serde_json::Value = serde_json::from_slice(&vigil(&["scan", "examples", "-o", "json"]).stdout).unwrap();
    let yaml: serde_json::Value = serde_saphyr::from_str(&stdout(&vigil(&["scan", "examples", "-o", "yaml"]))).unwrap();
    assert_eq!(json, yaml);
    assert_eq!(json["kind"], "List");
    let items = json["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["kind"] == "SecurityReport" && i["spec"]["subject"]["name"] == "storefront"));
    let cluster = items.iter().find(|i| i["kind"] == "ClusterSecurityReport" && i["metadata"]["name"] == "cluster");
    assert!(cluster.is_some_and(|c| c["status"]["cluster"]["reports"].as_u64() > Some(5)));
}

#[test]
fn fail_on_sets_the_exit_code() {
    let insecure = vigil(&["scan", "examples/insecure-app", "--fail-on", "critical", "-o", "json"]);
    assert_eq!(insecure.status.code(), Some(1), "{}", stderr(&insecure));
    let hardened = vigil(&["scan", "examples/hardened-app", "--fail-on", "high"]);
    assert_eq!(hardened.status.code(), Some(0), "the hardened example fails a high check:\n{}", stdout(&hardened));
}

#[test]
fn unusable_input_exits_2_with_a_message() {
    let missing = vigil(&["scan", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/dir"), "{}", stderr(&missing));
    let bad_arg = vigil(&["scan", "examples", "--fail-on", "severe"]);
    assert_eq!(bad_arg.status.code(), Some(2));
    assert!(stderr(&bad_arg).contains("severe"), "{}", stderr(&bad_arg));
    let garbage = vigil_stdin(&["scan", "-"], "key: [unclosed\n");
    assert_eq!(garbage.status.code(), Some(2));
    assert!(stderr(&garbage).contains("-: document 1 (line 1)"), "{}", stderr(&garbage));
}

#[test]
fn a_bad_document_is_reported_and_the_scan_goes_on() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: 7\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec:\n  containers: [{name: c, image: \"nginx:1.27\", securityContext: {privileged: true}}]\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";
    let out = vigil_stdin(&["scan", "-", "--color", "never"], input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("-: document 1 (line 1): Pod \"p\""), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("Pod default/ok"), "{table}");
    assert!(table.contains("privileged-container"), "{table}");
    assert!(table.contains("example.com/v1/Widget (1)"), "{table}");
}

#[test]
fn sarif_has_rules_results_and_locations() {
    let out = vigil(&["scan", "examples/insecure-app", "-o", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), vigil_engine_ids());
    let results = run["results"].as_array().unwrap();
    let privileged = results.iter().find(|r| r["ruleId"] == "privileged-container").expect("a privileged result");
    let location = &privileged["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "examples/insecure-app/storefront.yaml");
    assert_eq!(location["region"]["startLine"], 13, "the Deployment document starts on line 13");
}

fn vigil_engine_ids() -> usize {
    let out = vigil(&["checks", "-o", "json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().len()
}

#[test]
fn checks_lists_the_catalog() {
    let table = stdout(&vigil(&["checks"]));
    assert!(table.lines().next().unwrap().starts_with("ID"));
    assert!(table.contains("privileged-container"));
    let json: serde_json::Value = serde_json::from_slice(&vigil(&["checks", "-o", "json"]).stdout).unwrap();
    let first = &json[0];
    for field in ["id", "risk", "severity", "subjects", "seedItem", "title"] {
        assert!(!first[field].is_null(), "missing {field}");
    }
}
