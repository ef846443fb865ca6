//! Differential test of API defaulting: the corpus (the examples and every engine fixture) is applied to a
//! real API server, the operator reports on the objects as the server stored them (defaulted), and
//! `vigil scan` judges the raw manifests. Both must give the same result for every check of every subject:
//! a difference is a defaulting rule (or a cluster fact) the engine lacks.
//!
//! Each fixture file goes to namespaces of its own (`f<n>-<namespace>`), so that its objects meet only each
//! other. Cluster-scoped objects other than Namespaces are left out (they would be shared by the whole
//! corpus), as are Vigil's own kinds (a SecurityPolicy would change the operator's judgement of everything);
//! documents the API server rejects (unknown kinds, invalid objects) are counted and left out of the scan too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, vigil_resource};

const WAIT: Duration = Duration::from_secs(40);

/// At least this many documents must be accepted, or the corpus is not exercising the defaulting.
const MIN_ACCEPTED: usize = 150;
/// At least this many (subject, check) results must be compared.
const MIN_COMPARED: usize = 1000;

fn reports() -> ApiResource {
    vigil_resource("SecurityReport", "securityreports")
}

/// Every YAML file of the corpus, sorted: the examples, then the engine fixtures.
fn corpus_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["examples", "engine/tests/fixtures"] {
        let mut found = Vec::new();
        walk(&root.join(dir), &mut found);
        found.sort();
        files.extend(found);
    }
    files
}

/// The document with its namespaces renamed to `<prefix>-<namespace>` (an unset namespace is `default`):
/// its own, a Namespace's name, and binding subjects'.
fn renamed(mut doc: serde_json::Value, prefix: &str, namespaced: bool) -> serde_json::Value {
    let map = |ns: &str| format!("{prefix}-{ns}");
    if doc["kind"] == "Namespace" {
        let name = doc["metadata"]["name"].as_str().unwrap_or("default").to_string();
        doc["metadata"]["name"] = map(&name).into();
    } else if namespaced {
        let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        doc["metadata"]["namespace"] = map(&ns).into();
    }
    if let Some(subjects) = doc.get_mut("subjects").and_then(|s| s.as_array_mut()) {
        for subject in subjects {
            if let Some(ns) = subject["namespace"].as_str().map(str::to_string) {
                subject["namespace"] = map(&ns).into();
            }
        }
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_scan_of_raw_manifests_matches_the_operator_on_defaulted_objects() -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(cluster) = TestCluster::start().await? else { return Ok(()) };
    if std::env::var("VIGIL_E2E_CLUSTER").is_ok() {
        return Ok(()); // an existing cluster holds more than the corpus
    }
    let token = install_vigil(&cluster).await?;
    let root = vigil_e2e::repo_root();
    let discovery = Discovery::new(cluster.client.clone()).run().await?;
    let version = cluster.client.apiserver_version().await?.git_version;

    let (mut accepted, mut rejected, mut left_out) = (Vec::new(), Vec::new(), 0usize);
    let mut namespaces = std::collections::BTreeSet::new();
    for (n, file) in corpus_files(&root).iter().enumerate() {
        let prefix = format!("f{n}");
        let text = std::fs::read_to_string(file)?;
        let Ok(docs) = serde_saphyr::from_multiple::<serde_json::Value>(&text) else {
            rejected.push(format!("{}: not YAML the harness reads", file.display()));
            continue;
        };
        let mut file_docs = Vec::new();
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            let api_version = doc["apiVersion"].as_str().unwrap_or("").to_string();
            let kind = doc["kind"].as_str().unwrap_or("").to_string();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
            if group == "vigil.dev" {
                left_out += 1;
                continue;
            }
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &kind);
            let Some((resource, caps)) = discovery.resolve_gvk(&gvk) else {
                rejected.push(format!("{}: unknown kind {api_version} {kind}", file.display()));
                continue;
            };
            let namespaced = caps.scope == Scope::Namespaced;
            if !namespaced && kind != "Namespace" {
                left_out += 1;
                continue;
            }
            file_docs.push((renamed(doc, &prefix, namespaced), resource, namespaced));
        }
        // The namespaces first, created as the file declares them or bare.
        let mut file_namespaces: Vec<String> = file_docs
            .iter()
            .map(|(d, _, namespaced)| {
                let field = if *namespaced { &d["metadata"]["namespace"] } else { &d["metadata"]["name"] };
                field.as_str().unwrap_or("").to_string()
            })
            .collect();
        file_namespaces.sort();
        file_namespaces.dedup();
        for ns in &file_namespaces {
            if !file_docs.iter().any(|(d, _, _)| d["kind"] == "Namespace" && d["metadata"]["name"] == ns.as_str()) {
                let bare = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let resource =
                    discovery.resolve_gvk(&kube::api::GroupVersionKind::gvk("", "v1", "Namespace")).unwrap().0;
                file_docs.insert(0, (bare, resource, false));
            }
        }
        file_docs.sort_by_key(|(d, _, _)| d["kind"] != "Namespace");
        for (doc, resource, namespaced) in file_docs {
            let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
            let api: Api<DynamicObject> = if namespaced {
                Api::namespaced_with(cluster.client.clone(), doc["metadata"]["namespace"].as_str().unwrap(), &resource)
            } else {
                Api::all_with(cluster.client.clone(), &resource)
            };
            match api.patch(&name, &PatchParams::apply("vigil-differential").force(), &Patch::Apply(&doc)).await {
                Ok(_) => {
                    namespaces.extend(file_namespaces.iter().cloned());
                    accepted.push(doc);
                }
                Err(e) => rejected.push(format!("{}: {} {name}: {e}", file.display(), doc["kind"])),
            }
        }
    }
    println!("differential: applied in {:.0?}", started.elapsed());
    println!("differential: {} documents accepted, {} rejected, {left_out} left out", accepted.len(), rejected.len());
    assert!(accepted.len() >= MIN_ACCEPTED, "only {} documents accepted:\n{}", accepted.len(), rejected.join("\n"));

    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    eventually(WAIT, "a full pass", || async { (vigil.metric("vigil_full_passes").await >= 1.0).then_some(()) })
        .await?;

    let manifests: Vec<String> = accepted.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    let file = std::env::temp_dir().join(format!("vigil-e2e-differential-{}.yaml", std::process::id()));
    // A YAML stream of JSON documents (a leading comment keeps the loader from reading the file as one JSON).
    std::fs::write(&file, format!("# the corpus as applied\n{}\n", manifests.join("\n---\n")))?;
    let out = std::process::Command::new(vigil_e2e::vigil_bin())
        // `--whole-cluster`: the operator judges the whole cluster, so the scan must too, or every check that
        // needs it would be NotApplicable on the scan's side and compare as nothing.
        .args(["scan", "-o", "json", "--whole-cluster", "--kube-version", &version])
        .arg(&file)
        .output()?;
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow::anyhow!("scan output: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;

    let (mut differences, mut compared, mut subjects, mut collected) = (Vec::new(), 0usize, 0usize, 0usize);
    for item in scanned["items"].as_array().unwrap() {
        let Some(ns) = item["metadata"]["namespace"].as_str() else { continue };
        if item["kind"] != "SecurityReport" || !namespaces.contains(ns) {
            continue;
        }
        let name = item["metadata"]["name"].as_str().unwrap();
        let namespaced = Api::<DynamicObject>::namespaced_with(cluster.client.clone(), ns, &reports());
        let live = eventually(Duration::from_secs(10), "the live report", || async {
            namespaced.get_opt(name).await.ok().flatten()
        })
        .await;
        let Ok(live) = live else {
            // The controller-manager's garbage collector deletes an object whose owner does not exist (a
            // static Pod's ownerReference to a Node this cluster lacks): a cluster fact, not defaulting.
            // Only a subject the cluster no longer has is skipped; a subject that exists needs its report.
            let subject = &item["spec"]["subject"];
            let kind = subject["kind"].as_str().unwrap_or("");
            let subject_name = subject["name"].as_str().unwrap_or("");
            let get = cluster.kubectl(&["get", kind, subject_name, "-n", ns, "-o", "name"])?;
            if !get.status.success() && String::from_utf8_lossy(&get.stderr).contains("NotFound") {
                collected += 1;
            } else {
                differences.push(format!("{ns}/{name}: no live report"));
            }
            continue;
        };
        subjects += 1;
        let (scan, operator) = (vigil_e2e::check_results(item), vigil_e2e::check_results(&live.data));
        let checks: std::collections::BTreeSet<&String> = scan.keys().chain(operator.keys()).collect();
        // No check needs excluding: the operator judges the same namespaces, and the cluster-only facts
        // (Pending pods, the built-in RBAC, the server version given to the scan) give the same verdicts.
        for check in checks {
            compared += 1;
            let (s, o) = (scan.get(check), operator.get(check));
            if s != o {
                differences.push(format!(
                    "{ns}/{name} {check}: scan {} / operator {}",
                    s.map_or("-", String::as_str),
                    o.map_or("-", String::as_str)
                ));
            }
        }
    }
    println!(
        "differential: {subjects} subjects, {compared} check results compared, {collected} subjects garbage-collected, \
         in {:.0?}",
        started.elapsed()
    );
    assert!(collected <= 2, "{collected} subjects vanished from the cluster");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    assert!(compared >= MIN_COMPARED, "compared only {compared} check results");
    Ok(())
}
