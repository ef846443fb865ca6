//! The kustomize tree under config/ and crds/ is consistent: every entry a kustomization names exists,
//! every manifest beside a kustomization is named by it, and (when a kubectl with kustomize is at hand)
//! `kubectl kustomize config/default` renders the CRDs, the ClusterRole and the Deployment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

fn kustomization_in(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Every kustomization file under config/, and crds/'s.
fn kustomizations() -> Vec<PathBuf> {
    let root = root();
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(root.join("config"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && KUSTOMIZATION_NAMES.contains(&e.file_name().to_str().unwrap_or("")))
        .map(|e| e.into_path())
        .collect();
    found.push(root.join("crds/kustomization.yaml"));
    found.sort();
    found
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// Local paths a kustomization names: resources, components, patch files.
fn references(k: &Value) -> Vec<String> {
    let mut out = strings(&k["resources"]);
    out.extend(strings(&k["components"]));
    out.extend(strings(&k["patchesStrategicMerge"]));
    out.extend(k["patches"].as_array().into_iter().flatten().filter_map(|p| p["path"].as_str().map(str::to_string)));
    out.retain(|r| !r.contains("://") && !r.starts_with("github.com/"));
    out
}

#[test]
fn every_kustomization_entry_exists() {
    let all = kustomizations();
    assert!(all.len() >= 5, "only {} kustomizations found: {all:?}", all.len());
    let mut problems = Vec::new();
    for file in &all {
        let k = yaml(file);
        let dir = file.parent().unwrap();
        let resources = strings(&k["resources"]);
        if resources.is_empty() {
            problems.push(format!("{}: no resources", file.display()));
        }
        for entry in references(&k) {
            let path = dir.join(&entry);
            if path.is_dir() {
                if kustomization_in(&path).is_none() {
                    problems.push(format!("{}: `{entry}` is a directory without a kustomization", file.display()));
                }
            } else if !path.is_file() {
                problems.push(format!("{}: `{entry}` does not exist", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A manifest in a kustomize directory that its kustomization does not name is never installed (as the
/// policy and exception CRDs once were not).
#[test]
fn every_manifest_beside_a_kustomization_is_named_by_it() {
    let mut problems = Vec::new();
    for file in kustomizations() {
        let dir = file.parent().unwrap();
        let named: BTreeSet<PathBuf> =
            references(&yaml(&file)).iter().filter_map(|r| dir.join(r).canonicalize().ok()).collect();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            if !is_yaml || path == file || named.contains(&path.canonicalize().unwrap()) {
                continue;
            }
            problems.push(format!("{} is not named by {}", path.display(), file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The envtest kubectl (the one on PATH may be a gcloud dispatcher without kustomize).
fn kubectl() -> Option<PathBuf> {
    let assets = std::env::var_os("KUBEBUILDER_ASSETS").map(|d| PathBuf::from(d).join("kubectl"));
    assets.into_iter().chain([PathBuf::from("/opt/vigil-envtest/bin/kubectl")]).find(|p| p.is_file())
}

fn documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(["---"]) {
        if line == "---" {
            if !current.trim().is_empty() {
                docs.push(serde_saphyr::from_str(&current).unwrap_or_else(|e| panic!("{e}\n{current}")));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

#[test]
fn default_renders_crds_rbac_and_the_deployment() {
    let Some(kubectl) = kubectl() else {
        let why = "no kubectl at $KUBEBUILDER_ASSETS or /opt/vigil-envtest/bin (.ci/run installs it: bash e2e/install-tools.sh)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "cannot run under CI=true: {why}");
        println!("skipped `kubectl kustomize config/default`: {why}");
        return;
    };
    let out = Command::new(&kubectl).args(["kustomize", "config/default"]).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{} kustomize: {}", kubectl.display(), String::from_utf8_lossy(&out.stderr));
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    // The monitoring namespace parameter reaches the NetworkPolicy; the parameters object is not applied.
    let metrics_policy = docs.iter().find(|d| d["metadata"]["name"] == "vigil-metrics").expect("vigil-metrics");
    assert_eq!(
        metrics_policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert!(!docs.iter().any(|d| d["metadata"]["name"] == "vigil-parameters"), "local-config was rendered");
    let rendered: BTreeSet<(String, String)> = docs
        .iter()
        .map(|d| {
            (d["kind"].as_str().unwrap_or("").to_string(), d["metadata"]["name"].as_str().unwrap_or("").to_string())
        })
        .collect();

    // Every CRD generated under crds/.
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(root().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let doc = yaml(&path);
        if doc["kind"] == "CustomResourceDefinition" {
            crds.push(doc["metadata"]["name"].as_str().unwrap().to_string());
        }
    }
    assert!(crds.len() >= 5, "only {crds:?} under crds/");
    let mut expected: Vec<(&str, &str)> = crds.iter().map(|n| ("CustomResourceDefinition", n.as_str())).collect();
    expected.extend([
        ("Namespace", "vigil-system"),
        ("ServiceAccount", "vigil"),
        ("ClusterRole", "vigil"),
        ("ClusterRoleBinding", "vigil"),
        ("Deployment", "vigil"),
        ("PodDisruptionBudget", "vigil"),
    ]);
    let missing: Vec<_> =
        expected.iter().filter(|(k, n)| !rendered.contains(&(k.to_string(), n.to_string()))).collect();
    assert!(missing.is_empty(), "config/default does not render {missing:?}; it renders {rendered:?}");
}

/// `config/rbac/role.yaml` lets Vigil list and watch every kind of the engine's registry (typed, custom
/// and CRDs): a kind added to the registry without its RBAC rule fails here, not in a cluster.
#[test]
fn the_role_reads_every_kind_of_the_registry() {
    let role = yaml(&root().join("config/rbac/role.yaml"));
    let allows = |group: &str, resource: &str| {
        role["rules"].as_array().into_iter().flatten().any(|rule| {
            strings(&rule["apiGroups"]).iter().any(|g| g == group)
                && strings(&rule["resources"]).iter().any(|r| r == resource)
                && ["list", "watch"].iter().all(|v| strings(&rule["verbs"]).iter().any(|have| have == v))
        })
    };
    macro_rules! resources {
        (typed { $( $variant:ident($ty:ty) = $group:literal in $field:ident, $scope:ident, $(stored $form:ident,)? strip $strip:expr; )* }) => {
            vec![ $( ($group.to_string(), <$ty as k8s_openapi::Resource>::URL_PATH_SEGMENT.to_string()), )* ]
        };
    }
    let mut wanted: Vec<(String, String)> = vigil_engine::for_each_typed_kind!(resources);
    wanted
        .extend(vigil_engine::input::kinds::CUSTOM_SOURCES.iter().map(|s| (s.group.to_string(), s.plural.to_string())));
    wanted.push(("apiextensions.k8s.io".into(), "customresourcedefinitions".into()));
    let missing: Vec<String> = wanted.iter().filter(|(g, r)| !allows(g, r)).map(|(g, r)| format!("{r}.{g}")).collect();
    assert!(missing.is_empty(), "config/rbac/role.yaml cannot list/watch: {missing:?}");
    // And never Secrets.
    assert!(!allows("", "secrets"));
}

/// Every verb config/rbac grants is one the code uses (least privilege): watchers list and watch; reports
/// are server-side applied (patch; create when new) and deleted, policy reports listed too (metadata); statuses are applied; Events are created
/// and patched (series); the Lease is read, created and updated (compare-and-swap).
#[test]
fn the_roles_grant_only_verbs_the_code_uses() {
    let used = |group: &str, resource: &str| -> &'static [&'static str] {
        match (group, resource) {
            ("vigil.dev", "securityreports" | "clustersecurityreports") => {
                &["list", "watch", "create", "patch", "delete"]
            }
            ("vigil.dev", "compliancereports") => &["list", "create", "patch", "delete"],
            ("vigil.dev", r) if r.ends_with("/status") => &["patch"],
            ("openreports.io", "reports" | "clusterreports")
            | ("wgpolicyk8s.io", "policyreports" | "clusterpolicyreports") => &["list", "create", "patch", "delete"],
            ("events.k8s.io", "events") => &["create", "patch"],
            ("coordination.k8s.io", "leases") => &["get", "create", "update"],
            _ => &["list", "watch"],
        }
    };
    let mut extra = Vec::new();
    for file in ["config/rbac/role.yaml", "config/rbac/leader_election_role.yaml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for doc in documents(&text).iter().filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole") {
            for rule in doc["rules"].as_array().into_iter().flatten() {
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        for verb in strings(&rule["verbs"]) {
                            if !used(&group, &resource).contains(&verb.as_str()) {
                                extra.push(format!("{file}: {verb} {resource}.{group}"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(extra.is_empty(), "verbs the code never uses: {extra:?}");
}

/// The install runs one exact image: config/manager pins it by digest (`make pin-image`, the release step;
/// `make image-check` says whether this tree still builds it), the rendered Deployment carries
/// `name:tag@sha256:...`, and Vigil's own `image-digest-pinned` check (off by default) passes on it.
#[test]
fn the_installed_image_is_pinned_by_digest() {
    let k = yaml(&root().join("config/manager/kustomization.yaml"));
    let entry = k["images"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == "ghcr.io/vigil-dev/vigil")
        .expect("config/manager/kustomization.yaml sets the image ghcr.io/vigil-dev/vigil");
    let digest = entry["digest"].as_str().expect("the image entry has a digest");
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{digest}");
    let tag = entry["newTag"].as_str().expect("newTag");
    assert_eq!(tag, env!("CARGO_PKG_VERSION"), "the pinned tag is this version's");

    let Some(kubectl) = kubectl() else {
        let why = "no kubectl at $KUBEBUILDER_ASSETS or /opt/vigil-envtest/bin (.ci/run installs it: bash e2e/install-tools.sh)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "cannot run under CI=true: {why}");
        println!("skipped rendering config/default: {why}");
        return;
    };
    let out = Command::new(&kubectl).args(["kustomize", "config/default"]).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let docs = documents(&rendered);
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment");
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image.as_str(), Some(format!("ghcr.io/vigil-dev/vigil:{tag}@{digest}").as_str()));

    // Vigil's own audit of the rendered install, with the digest check switched on for every namespace.
    let dir = std::env::temp_dir().join(format!("vigil-config-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("install.yaml"), &rendered).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: pinned}\nspec:\n  checks:\n    enabled:\n      ids: [image-digest-pinned]\n",
    )
    .unwrap();
    let scan = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["scan", dir.join("install.yaml").to_str().unwrap(), "--policy", policy.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(scan.status.code(), Some(0), "{}", String::from_utf8_lossy(&scan.stderr));
    let list: Value = serde_json::from_slice(&scan.stdout).unwrap();
    let report = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["spec"]["subject"]["kind"] == "Deployment" && r["spec"]["subject"]["name"] == "vigil")
        .expect("a report for Deployment vigil");
    // A passing check is listed by id in `status.passed`; findings hold the rest.
    let passed = report["status"]["passed"].as_array().into_iter().flatten().any(|id| id == "image-digest-pinned");
    assert!(passed, "image-digest-pinned does not pass on the rendered Deployment: {report}");
}
