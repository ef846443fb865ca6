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
    for field in ["id", "risk", "severity", "subjects", "seedItem", "title", "scope"] {
        assert!(!first[field].is_null(), "missing {field}");
    }
    let scope = |id: &str| json.as_array().unwrap().iter().find(|c| c["id"] == id).map(|c| c["scope"].clone());
    assert_eq!(scope("image-signature-enforced"), Some("whole-cluster".into()));
    assert_eq!(scope("privileged-container"), Some("manifests".into()));
    assert!(table.lines().any(|l| l.starts_with("image-signature-enforced") && l.contains("whole-cluster")));
}

/// The report of a subject in `vigil scan -o json` output.
fn json_report<'a>(list: &'a serde_json::Value, kind: &str, name: &str) -> &'a serde_json::Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["spec"]["subject"]["kind"] == kind && i["spec"]["subject"]["name"] == name)
        .unwrap_or_else(|| panic!("no report for {kind} {name}"))
}

#[test]
fn policy_and_exception_files_judge_the_scan() {
    let dir = "operator/tests/policy";
    let out = vigil(&[
        "scan",
        &format!("{dir}/shop.yaml"),
        "--policy",
        &format!("{dir}/policy.yaml"),
        "--exceptions",
        &format!("{dir}/exceptions.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let storefront = json_report(&list, "Deployment", "storefront");
    assert_eq!(storefront["status"]["policy"], "prod");
    let findings = storefront["status"]["findings"].as_array().unwrap();
    let by_check = |id: &'static str| findings.iter().filter(move |f| f["checkId"] == id);
    for f in by_check("privileged-container").chain(by_check("team-label")) {
        assert_eq!((f["result"].as_str(), f["waivedBy"].as_str()), (Some("Waived"), Some("shop/legacy-agent")), "{f}");
    }
    assert!(by_check("team-label").count() == 1, "the custom check ran");
    assert!(by_check("image-pull-policy-always").all(|f| f["risk"] == 5 && f["severity"] == "Medium"));
    // The cluster report is judged by the default: `prod` selects only env=prod namespaces.
    assert_eq!(json_report(&list, "Cluster", "cluster")["status"]["policy"], "default");

    // The same objects among the scanned manifests give the same answers.
    let together = vigil(&[
        "scan",
        &format!("{dir}/shop.yaml"),
        &format!("{dir}/policy.yaml"),
        &format!("{dir}/exceptions.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(together.status.code(), Some(0), "{}", stderr(&together));
    assert!(stdout(&together) == stdout(&out), "policy objects among manifests judge like --policy/--exceptions");

    // After expiresAt the waived findings fail again.
    let later = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["scan", &format!("{dir}/shop.yaml"), "--policy", &format!("{dir}/policy.yaml")])
        .args(["--exceptions", &format!("{dir}/exceptions.yaml"), "-o", "json", "--fail-on", "critical"])
        .current_dir(root())
        .env("VIGIL_NOW", "2027-01-02T00:00:00Z")
        .output()
        .unwrap();
    assert_eq!(later.status.code(), Some(1), "privileged-container fails again: {}", stderr(&later));
}

#[test]
fn table_and_sarif_show_the_policy_and_custom_checks() {
    let dir = "operator/tests/policy";
    let (shop, policy) = (format!("{dir}/shop.yaml"), format!("{dir}/policy.yaml"));
    let table = stdout(&vigil(&["scan", &shop, "--policy", &policy, "--color", "never"]));
    assert!(table.contains("Deployment shop/storefront  score"), "{table}");
    assert!(table.contains("policy prod"), "{table}");
    assert!(table.contains("team-label"), "{table}");
    let sarif: serde_json::Value =
        serde_json::from_slice(&vigil(&["scan", &shop, "--policy", &policy, "-o", "sarif"]).stdout).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "team-label"));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "team-label"));
    // Results are printed as reports stream by; each still points at its rule, custom ones included.
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"], "{result}");
    }
}

#[test]
fn an_invalid_policy_exits_2_with_the_compiler_message() {
    let dir = "operator/tests/policy";
    let out = vigil(&["scan", &format!("{dir}/shop.yaml"), "--policy", &format!("{dir}/bad-policy.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad-policy.yaml: document 1"), "{err}");
    assert!(err.contains("custom check \"broken\": invalid CEL expression"), "{err}");
    assert!(err.contains("Syntax error"), "{err}");

    // Among the manifests, an invalid policy is unusable input too (never silently skipped).
    let among = vigil(&["scan", &format!("{dir}/shop.yaml"), &format!("{dir}/bad-policy.yaml")]);
    assert_eq!(among.status.code(), Some(2));
    assert!(stderr(&among).contains("Syntax error"), "{}", stderr(&among));

    // A --policy file must hold policies.
    let wrong = vigil(&["scan", &format!("{dir}/shop.yaml"), "--policy", &format!("{dir}/shop.yaml")]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("expected SecurityPolicy, found Namespace \"shop\""), "{}", stderr(&wrong));

    let schema = vigil_stdin(
        &["scan", &format!("{dir}/shop.yaml"), "-"],
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec: {priority: high}\n",
    );
    assert_eq!(schema.status.code(), Some(2));
    assert!(
        stderr(&schema).contains("SecurityPolicy \"p\" does not match the SecurityPolicy schema"),
        "{}",
        stderr(&schema)
    );
}

/// Vigil's own installation passes Vigil's own audit: no failing finding on any subject of `config/`
/// (the `cluster` report judges the whole cluster, not these manifests).
#[test]
fn vigils_own_manifests_pass_its_audit() {
    let out = vigil(&["scan", "config", "crds", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut subjects = 0;
    // The cluster report too: plain manifests leave the checks that need the whole cluster NotApplicable.
    for item in list["items"].as_array().unwrap() {
        subjects += 1;
        let failing: Vec<&serde_json::Value> =
            item["status"]["findings"].as_array().into_iter().flatten().filter(|f| f["result"] == "Fail").collect();
        assert!(
            failing.is_empty(),
            "{} {} fails: {failing:?}",
            item["spec"]["subject"]["kind"],
            item["spec"]["subject"]["name"]
        );
    }
    assert!(subjects >= 7, "only {subjects} subjects in config/");
    for threshold in ["critical", "high"] {
        let gate = vigil(&["scan", "config", "--fail-on", threshold]);
        assert_eq!(gate.status.code(), Some(0), "--fail-on {threshold}:\n{}", stdout(&gate));
    }
}

/// A `kubectl get ns,... -A -o yaml` dump: the Namespaces as the API server returns them (with a uid).
const DUMP: &str = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: kube-system, uid: 0b6f1d52-6a43-4b8e-9a52-2f7c1d0e9a11, resourceVersion: \"4\"}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop, uid: 7c0e2a1b-3d4f-4e5a-8b6c-9d0e1f2a3b4c, resourceVersion: \"90\"}\n";

fn cluster_results(out: &Output) -> Vec<(String, String)> {
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let cluster = json_report(&list, "Cluster", "cluster");
    let findings = cluster["status"]["findings"].as_array().cloned().unwrap_or_default();
    findings.iter().map(|f| (f["checkId"].as_str().unwrap().into(), f["result"].as_str().unwrap().into())).collect()
}

#[test]
fn a_whole_cluster_dump_or_the_flag_gets_the_cluster_checks_judged_and_manifests_do_not() {
    let judged = |results: &[(String, String)]| {
        results.iter().any(|(id, result)| id == "image-signature-enforced" && result == "Fail")
    };
    let dump = vigil_stdin(&["scan", "-", "-o", "json"], DUMP);
    assert!(judged(&cluster_results(&dump)), "{}", stdout(&dump));
    // The same Namespaces written by hand (no uid) are manifests...
    let manifests = DUMP.replace(", uid: 0b6f1d52-6a43-4b8e-9a52-2f7c1d0e9a11", "");
    let out = vigil_stdin(&["scan", "-", "-o", "json"], &manifests);
    let results = cluster_results(&out);
    assert!(!judged(&results), "{}", stdout(&out));
    let reason = results.iter().find(|(id, _)| id == "image-signature-enforced").map(|(_, r)| r.as_str());
    assert_eq!(reason, Some("NotApplicable"));
    assert!(stdout(&out).contains("vigil scan --cluster"), "the reason says how to get it judged");
    // ...unless the user says they are the whole cluster.
    let forced = vigil_stdin(&["scan", "-", "-o", "json", "--whole-cluster"], &manifests);
    assert!(judged(&cluster_results(&forced)), "{}", stdout(&forced));
}

#[test]
fn a_cluster_that_cannot_be_reached_exits_2_with_a_message() {
    let dir = std::env::temp_dir().join(format!("vigil-cli-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("config");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster: {server: \"https://127.0.0.1:1\"}\nusers:\n- name: gone\n  user: {token: t}\ncontexts:\n- name: gone\n  context: {cluster: gone, user: gone}\n",
    )
    .unwrap();
    let path = kubeconfig.to_str().unwrap();
    let out = vigil(&["scan", "--cluster", "--kubeconfig", path]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach the Kubernetes API server at https://127.0.0.1:1"), "{}", stderr(&out));
    let out = vigil(&["scan", "--cluster", "--kubeconfig", path, "--context", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("elsewhere"), "{}", stderr(&out));
    // Cluster flags without --cluster, and files with it, are refused.
    let out = vigil(&["scan", "examples", "--namespace", "shop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--namespace applies to a live cluster"), "{}", stderr(&out));
    assert_eq!(vigil(&["scan", "examples", "--cluster"]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn policyreport_output_lists_wg_policy_reports() {
    let out = vigil(&["scan", "examples/insecure-app", "-o", "policyreport", "--policy-report-results", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["apiVersion"] == "wgpolicyk8s.io/v1alpha2"));
    let storefront =
        items.iter().find(|i| i["metadata"]["name"] == "vigil-deployment-storefront").expect("the Deployment's report");
    assert_eq!(storefront["kind"], "PolicyReport");
    assert!(
        storefront["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["policy"] == "privileged-container" && r["result"] == "fail")
    );
    assert!(items.iter().any(|i| i["kind"] == "ClusterPolicyReport"));
}

#[test]
fn openreports_output_lists_scoped_reports_of_failing_results() {
    let out = vigil(&["scan", "examples/insecure-app", "-o", "openreports"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["apiVersion"] == "openreports.io/v1alpha1" && i["source"] == "vigil"));
    let storefront =
        items.iter().find(|i| i["metadata"]["name"] == "vigil-deployment-storefront").expect("the Deployment's report");
    assert_eq!(storefront["kind"], "Report");
    assert_eq!(storefront["scope"]["kind"], "Deployment");
    assert_eq!(storefront["scope"]["name"], "storefront");
    assert_eq!(storefront["configuration"]["limits"]["statusFilter"], serde_json::json!(["fail", "warn", "error"]));
    let results = storefront["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["policy"] == "privileged-container" && r["result"] == "fail"));
    assert!(results.iter().all(|r| r["result"] == "fail" || r["result"] == "error"));
    assert!(storefront["summary"]["pass"].as_u64().unwrap() > 0, "the summary counts passes too");
    assert!(items.iter().any(|i| i["kind"] == "ClusterReport" && i["metadata"]["name"] == "vigil-cluster"));

    // Every result when asked; the same summary.
    let out = vigil(&["scan", "examples/insecure-app", "-o", "openreports", "--policy-report-results", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all: serde_json::Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    let storefront_all = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "vigil-deployment-storefront")
        .unwrap();
    assert!(storefront_all.get("configuration").is_none());
    assert!(storefront_all["results"].as_array().unwrap().iter().any(|r| r["result"] == "pass"));
    assert_eq!(storefront_all["summary"], storefront["summary"]);
}

/// Start tags of an HTML page as (name, attributes), skipping the raw text of `<script>` and `<style>`; a
/// small tokenizer, enough for the page `vigil scan -o html` writes.
fn html_tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        if name_len == 0 || !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let name = rest[..name_len].to_ascii_lowercase();
        rest = &rest[name_len..];
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start();
            if rest.starts_with('>') || rest.starts_with("/>") || rest.is_empty() {
                break;
            }
            let key_len = rest.find(|c: char| c.is_whitespace() || "=>/".contains(c)).unwrap_or(rest.len()).max(1);
            let key = rest[..key_len].to_ascii_lowercase();
            rest = &rest[key_len..];
            let value = match rest.strip_prefix('=') {
                Some(after) => {
                    let (value, after) = match after.chars().next() {
                        Some(quote @ ('"' | '\'')) => {
                            let end = after[1..].find(quote).expect("a closing quote") + 1;
                            (&after[1..end], &after[end + 1..])
                        }
                        _ => after.split_at(after.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(after.len())),
                    };
                    rest = after;
                    value.to_string()
                }
                None => String::new(),
            };
            attributes.push((key, value));
        }
        if name == "script" || name == "style" {
            let end = rest.find(&format!("</{name}>")).expect("a closed raw text element");
            rest = &rest[end..];
        }
        tags.push((name, attributes));
    }
    tags
}

#[test]
fn html_is_one_self_contained_page_that_escapes_the_input() {
    let args = ["scan", "examples", "operator/tests/html/hostile.yaml"];
    let out = vigil(&[&args[..], &["-o", "html"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">") && page.ends_with("</html>\n"));

    // Self-contained: nothing to fetch, and a policy that forbids fetching anything.
    let tags = html_tags(&page);
    for (name, attributes) in &tags {
        assert!(
            !["link", "img", "iframe", "object", "embed", "base", "image", "use"].contains(&name.as_str()),
            "<{name}>"
        );
        for (key, value) in attributes {
            assert!(key != "src" && key != "xlink:href", "<{name} {key}={value:?}> loads something");
            assert!(!key.starts_with("on"), "<{name} {key}={value:?}>: an inline event handler");
            if key == "href" || key == "action" {
                assert!(value.starts_with('#'), "<{name} {key}={value:?}> leaves the page");
            }
            assert!(!value.contains("http://") && !value.contains("https://") || key == "http-equiv", "{value}");
        }
    }
    assert!(!page.contains("@import") && !page.contains("url("), "the stylesheet loads something");
    assert!(page.contains("content=\"default-src 'none'; style-src 'sha256-"), "no Content-Security-Policy");
    assert_eq!(tags.iter().filter(|(name, _)| name == "script").count(), 1, "only the page's own script");
    assert_eq!(tags.iter().filter(|(name, _)| name == "style").count(), 1);

    // Hostile names and messages are text, never markup (no `<img>`, no `on…` attribute: checked above).
    assert!(page.contains("<td class=\"name\">&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
    assert!(page.contains("<td data-key=\"&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\">"));
    assert!(page.contains("container &quot;&lt;/td&gt;&lt;b onmouseover=alert(3)&gt;c&amp;amp;&quot; sets"));
    assert!(page.contains("<g class=\"bar\" data-namespace=\"&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\">"));

    // The score and failing counts of the cluster roll-up, as `-o json` has them.
    let json: serde_json::Value =
        serde_json::from_slice(&vigil(&[&args[..], &["-o", "json"]].concat()).stdout).unwrap();
    let rollup = &json_report(&json, "Cluster", "cluster")["status"]["cluster"];
    let score = rollup["score"].as_u64().unwrap();
    assert!(page.contains(&format!("data-score=\"{score}\"")), "score {score}");
    assert!(
        page.contains(&format!("<text class=\"gauge-text\" x=\"60\" y=\"70\" text-anchor=\"middle\">{score}</text>"))
    );
    for severity in ["critical", "high", "medium", "low"] {
        let count = rollup["failing"][severity].as_u64().unwrap();
        assert!(page.contains(&format!("<div class=\"big\">{count}</div><div>{severity}</div>")), "{severity} {count}");
    }

    // The charts, drawn as SVG.
    assert!(page.contains("<svg id=\"chart-severity\""));
    assert!(page.contains("<svg id=\"chart-namespace\""));
    let fails = |severity: &str| {
        let items = json["items"].as_array().unwrap();
        let findings = items.iter().flat_map(|i| i["status"]["findings"].as_array().into_iter().flatten());
        findings
            .filter(|f| f["result"] == "Fail" && f["severity"].as_str().unwrap().eq_ignore_ascii_case(severity))
            .count()
    };
    let critical = fails("critical");
    assert!(page.contains(&format!("<title>critical: {critical} failing findings</title>")), "{critical}");
    assert!(page.contains("<g class=\"bar\" data-namespace=\"shop\">"));

    // One table row per finding; known ones among them.
    let findings: usize =
        json["items"].as_array().unwrap().iter().map(|i| i["status"]["findings"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(page.matches("<tr data-severity=").count(), findings);
    let row = |text: &[&str]| page.lines().any(|l| l.starts_with("<tr ") && text.iter().all(|t| l.contains(t)));
    assert!(row(&[
        "data-severity=\"critical\" data-result=\"Fail\" data-namespace=\"shop\"",
        "<td>Deployment</td>",
        "<td class=\"name\">storefront</td>",
        "href=\"#check-privileged-container\"",
        "container &quot;web&quot; sets securityContext.privileged: true",
    ]));
    assert!(row(&["data-result=\"NotApplicable\"", "<td>Cluster</td>", "#check-container-runtime-uniform"]));
    // The catalog explains each check in the table.
    assert!(page.contains("<dt id=\"check-privileged-container\"><code>privileged-container</code>"));
}

#[test]
fn html_shows_waivers_and_custom_checks() {
    let dir = "operator/tests/policy";
    let (shop, policy, exceptions) =
        (format!("{dir}/shop.yaml"), format!("{dir}/policy.yaml"), format!("{dir}/exceptions.yaml"));
    let out = vigil(&["scan", &shop, "--policy", &policy, "--exceptions", &exceptions, "-o", "html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    let waived = page.lines().find(|l| l.contains("data-result=\"Waived\"") && l.contains("#check-team-label"));
    assert!(waived.is_some_and(|l| l.contains("(waived by shop/legacy-agent)")), "{waived:?}");
    // A custom check is explained by its policy: title and expression.
    assert!(page.contains("<dt id=\"check-team-label\"><code>team-label</code>"), "{page}");
    assert!(page.contains("Workloads name their team</dt>"));
    assert!(page.contains("(a custom check of SecurityPolicy <code>prod</code>)"));
}
