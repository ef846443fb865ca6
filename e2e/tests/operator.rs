//! Vigil against a real control plane. Each test starts its own API server and controller-manager (or
//! uses the cluster named by VIGIL_E2E_CLUSTER=1) and works in its own namespace; see the harness
//! (`vigil_e2e`) for what happens when the tools are missing. There is no scheduler or kubelet: Pods
//! stay Pending, and the assertions hold anyway.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, vigil_resource};

const WAIT: Duration = Duration::from_secs(30);

fn reports() -> ApiResource {
    vigil_resource("SecurityReport", "securityreports")
}

async fn report(cluster: &TestCluster, ns: &str, name: &str) -> Option<DynamicObject> {
    cluster.api(&reports(), Some(ns)).get_opt(name).await.ok().flatten()
}

fn findings(report: &DynamicObject, check: &str) -> Vec<String> {
    report.data["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["checkId"] == check)
        .map(|f| f["result"].as_str().unwrap_or("").to_string())
        .collect()
}

fn passed(report: &DynamicObject, check: &str) -> bool {
    report.data["status"]["passed"].as_array().is_some_and(|p| p.iter().any(|c| c == check))
}

macro_rules! cluster_or_skip {
    () => {
        match TestCluster::start().await? {
            Some(cluster) => cluster,
            None => return Ok(()),
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_follow_the_cluster() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-life").await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;

    // A privileged bare Pod gets a SecurityReport with privileged-container Fail within seconds.
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: bad, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: true}}}}]\n"
    )).await?;
    let r = eventually(WAIT, "the Pod's report", || report(&cluster, &ns, "pod-bad"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert_eq!(findings(&r, "privileged-container"), vec!["Fail"]);
    assert_eq!(r.metadata.owner_references.as_ref().map(|o| o[0].name.as_str()), Some("bad"));

    // A new pod spec (a Deployment's template changes) updates its report.
    let deployment = |privileged: bool| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: {privileged}}}}}]\n"
        )
    };
    cluster.apply_yaml(&deployment(true)).await?;
    eventually(WAIT, "the Deployment's report to fail privileged-container", || async {
        report(&cluster, &ns, "deployment-web").await.filter(|r| findings(r, "privileged-container") == ["Fail"])
    })
    .await?;
    cluster.apply_yaml(&deployment(false)).await?;
    eventually(WAIT, "the Deployment's report to pass privileged-container", || async {
        report(&cluster, &ns, "deployment-web").await.filter(|r| passed(r, "privileged-container"))
    })
    .await?;
    // The recovery of a critical check is announced once, as an Event on the subject.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(cluster.client.clone(), &ns);
    let recovered = eventually(WAIT, "a CheckRecovered Event", || async {
        events.list(&ListParams::default()).await.ok()?.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("CheckRecovered")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")
        })
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert!(recovered.note.unwrap_or_default().contains("privileged-container"));

    // A default-deny NetworkPolicy flips the namespace check.
    let ns_report = format!("namespace-{ns}");
    eventually(WAIT, "the namespace report to fail default-deny", || async {
        report(&cluster, &ns, &ns_report).await.filter(|r| findings(r, "network-policy-default-deny") == ["Fail"])
    })
    .await?;
    cluster.apply_yaml(&format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: {ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
    )).await?;
    eventually(WAIT, "the namespace report to pass default-deny", || async {
        report(&cluster, &ns, &ns_report).await.filter(|r| passed(r, "network-policy-default-deny"))
    })
    .await?;

    // `kubectl get securityreports` shows the printer columns.
    let out = cluster.kubectl(&["get", "securityreports", "-n", &ns])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "KIND", "SUBJECT", "SCORE", "CRITICAL", "HIGH", "MEDIUM", "LOW", "AGE"], "{text}");
    assert!(text.lines().any(|l| l.starts_with("pod-bad ") && l.contains(" Pod ")), "{text}");

    // Deleting the subject removes its report (the garbage collector follows the ownerReference; Vigil's
    // own cleanup would too).
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(cluster.client.clone(), &ns)
        .delete("bad", &DeleteParams::default())
        .await?;
    eventually(WAIT, "the Pod's report to go", || async {
        report(&cluster, &ns, "pod-bad").await.is_none().then_some(())
    })
    .await?;
    Ok(())
}

/// What the controller-manager does in a real cluster: a Deployment's ReplicaSet and Pods really exist,
/// yet the Deployment alone gets a report; deleting it, or the whole namespace, leaves no report behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_level_reports_and_deletion_through_the_controller_manager() -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-owners").await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    cluster.apply_yaml(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: true}}}}]\n"
    )).await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    eventually(Duration::from_secs(60), "the controller-manager to create 3 Pods", || async {
        (pods.list(&ListParams::default()).await.ok()?.items.len() == 3).then_some(())
    })
    .await?;
    let replica_sets = Api::<ReplicaSet>::namespaced(cluster.client.clone(), &ns).list(&ListParams::default()).await?;
    assert_eq!(replica_sets.items.len(), 1);
    let r = eventually(WAIT, "the Deployment's report", || async {
        report(&cluster, &ns, "deployment-web").await.filter(|r| findings(r, "privileged-container") == ["Fail"])
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert_eq!(r.data["spec"]["subject"]["kind"], "Deployment", "{:?}", r.data["spec"]);
    // A full pass has seen the Pods and the ReplicaSet: still one workload report, the owner's.
    let passes = vigil.metric("vigil_full_passes").await;
    eventually(Duration::from_secs(45), "a full pass after the Pods exist", || async {
        (vigil.metric("vigil_full_passes").await > passes).then_some(())
    })
    .await?;
    let names = |list: kube::core::ObjectList<DynamicObject>| {
        let mut names: Vec<String> = list.items.into_iter().filter_map(|r| r.metadata.name).collect();
        names.sort();
        names
    };
    let in_namespace = names(cluster.api(&reports(), Some(&ns)).list(&ListParams::default()).await?);
    assert_eq!(in_namespace, vec!["deployment-web".to_string(), format!("namespace-{ns}")], "{}", vigil.log());

    // Deleting the Deployment (background propagation: the garbage collector removes the ReplicaSet, the
    // Pods, and the report that the Deployment owns).
    Api::<Deployment>::namespaced(cluster.client.clone(), &ns).delete("web", &DeleteParams::background()).await?;
    eventually(Duration::from_secs(60), "the Deployment's report and Pods to go", || async {
        let gone = report(&cluster, &ns, "deployment-web").await.is_none();
        (gone && pods.list(&ListParams::default()).await.ok()?.items.is_empty()).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;

    // Deleting the namespace removes every report in it, the namespace's own included, and Vigil does
    // not recreate them while the namespace is terminating.
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
    )).await?;
    eventually(WAIT, "the Pod's report", || report(&cluster, &ns, "pod-p")).await?;
    Api::<Namespace>::all(cluster.client.clone()).delete(&ns, &DeleteParams::default()).await?;
    eventually(Duration::from_secs(90), "the namespace to be deleted", || async {
        Api::<Namespace>::all(cluster.client.clone()).get_opt(&ns).await.ok()?.is_none().then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    let left = names(cluster.api(&reports(), Some(&ns)).list(&ListParams::default()).await?);
    assert!(left.is_empty(), "reports left in the deleted namespace: {left:?}");
    // The cluster keeps no report of the namespace elsewhere either.
    let all = cluster.api(&reports(), None).list(&ListParams::default()).await?;
    let mentions: Vec<String> = all
        .items
        .iter()
        .filter(|r| {
            r.metadata.namespace.as_deref() == Some(ns.as_str()) || r.data["spec"]["subject"]["name"] == ns.as_str()
        })
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    assert!(mentions.is_empty(), "reports about the deleted namespace: {mentions:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_write_nothing_and_api_server_restarts_are_survived() -> anyhow::Result<()> {
    let mut cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-restart").await?;
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
    )).await?;
    let mut first = Vigil::start(&cluster, &token, "replica-a", &[])?;
    first.wait_ready(WAIT).await?;
    let before = eventually(WAIT, "the Pod's report", || report(&cluster, &ns, "pod-p")).await?;
    eventually(WAIT, "a full pass", || async { (first.metric("vigil_full_passes").await >= 1.0).then_some(()) })
        .await?;
    first.stop();

    // A restarted operator finds every report already right: zero writes.
    let second = Vigil::start(&cluster, &token, "replica-b", &[])?;
    second.wait_ready(WAIT).await?;
    eventually(WAIT, "a full pass after the restart", || async {
        (second.metric("vigil_full_passes").await >= 1.0).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", second.log()))?;
    assert_eq!(second.metric("vigil_report_writes_total{outcome=\"applied\"").await, 0.0, "{}", second.log());
    let after = report(&cluster, &ns, "pod-p").await.expect("the report");
    assert_eq!(before.metadata.resource_version, after.metadata.resource_version);

    // The API server restarts mid-run: Vigil backs off, resumes, and sees changes made afterwards.
    if std::env::var("VIGIL_E2E_CLUSTER").is_err() {
        cluster.restart_apiserver().await?;
        cluster.apply_yaml(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: later, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: true}}}}]\n"
        )).await?;
        let r = eventually(Duration::from_secs(60), "a report after the API server restart", || {
            report(&cluster, &ns, "pod-later")
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", second.log()))?;
        assert_eq!(findings(&r, "privileged-container"), vec!["Fail"]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_stays_standby() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let leader = Vigil::start(&cluster, &token, "replica-a", &[])?;
    leader.wait_ready(WAIT).await?;
    eventually(WAIT, "replica-a to lead", || async { (leader.metric("vigil_leader").await == 1.0).then_some(()) })
        .await?;
    let standby = Vigil::start(&cluster, &token, "replica-b", &[])?;
    standby.wait_ready(WAIT).await?;
    let ns = cluster.namespace("e2e-standby").await?;
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
    )).await?;
    eventually(WAIT, "the Pod's report", || report(&cluster, &ns, "pod-p")).await?;
    // The standby is ready, not leading, and wrote nothing.
    assert_eq!(standby.metric("vigil_leader").await, 0.0);
    assert_eq!(standby.metric("vigil_report_writes_total{outcome=\"applied\"").await, 0.0);
    let lease = Api::<Lease>::namespaced(cluster.client.clone(), "vigil-system").get("vigil-leader").await?;
    assert_eq!(lease.spec.and_then(|s| s.holder_identity).as_deref(), Some("replica-a"));
    let all = cluster.api(&reports(), None).list(&ListParams::default()).await?;
    assert!(!all.items.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_exceptions_take_effect_and_exceptions_expire() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-policy").await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: true}}}}]\n"
    )).await?;
    eventually(WAIT, "privileged-container to fail", || async {
        report(&cluster, &ns, "pod-p").await.filter(|r| findings(r, "privileged-container") == ["Fail"])
    })
    .await?;

    // A SecurityPolicy that switches the check off for this namespace re-evaluates the report.
    cluster.apply_yaml(&format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: lenient}}\nspec:\n  priority: 10\n  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}\n  checks:\n    disabled: {{ids: [privileged-container]}}\n"
    )).await?;
    let r = eventually(WAIT, "the policy to switch privileged-container off", || async {
        report(&cluster, &ns, "pod-p")
            .await
            .filter(|r| findings(r, "privileged-container").is_empty() && !passed(r, "privileged-container"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert_eq!(r.data["status"]["policy"], "lenient");
    let policy = cluster.api(&vigil_resource("SecurityPolicy", "securitypolicies"), None);
    eventually(WAIT, "the policy's Accepted condition", || async {
        policy.get("lenient").await.ok().filter(|p| p.data["status"]["conditions"][0]["status"] == "True")
    })
    .await?;
    policy.delete("lenient", &DeleteParams::default()).await?;
    eventually(WAIT, "privileged-container to fail again", || async {
        report(&cluster, &ns, "pod-p").await.filter(|r| findings(r, "privileged-container") == ["Fail"])
    })
    .await?;

    // A time-boxed SecurityException waives the finding, then expires on time.
    let expires_text =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(12)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let expires: jiff::Timestamp = expires_text.parse()?;
    cluster.apply_yaml(&format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {{name: debug-pod, namespace: {ns}}}\nspec:\n  checks: [privileged-container]\n  match: {{kinds: [Pod], names: [\"p*\"]}}\n  reason: debugging a kernel module\n  owner: sre@example.com\n  expiresAt: \"{}\"\n",
        expires_text
    )).await?;
    let r = eventually(WAIT, "the exception to waive the finding", || async {
        report(&cluster, &ns, "pod-p").await.filter(|r| findings(r, "privileged-container") == ["Waived"])
    })
    .await?;
    let waived = r.data["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checkId"] == "privileged-container")
        .unwrap()
        .clone();
    assert_eq!(waived["waivedBy"], format!("{ns}/debug-pod"));
    let exceptions = cluster.api(&vigil_resource("SecurityException", "securityexceptions"), Some(&ns));
    eventually(WAIT, "the exception status to count the waiver", || async {
        exceptions.get("debug-pod").await.ok().filter(|e| e.data["status"]["waivedFindings"] == 1)
    })
    .await?;
    eventually(WAIT, "the finding to fail again at expiry", || async {
        report(&cluster, &ns, "pod-p").await.filter(|r| findings(r, "privileged-container") == ["Fail"])
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert!(jiff::Timestamp::now() >= expires);
    eventually(WAIT, "the exception status to say Expired", || async {
        exceptions.get("debug-pod").await.ok().filter(|e| e.data["status"]["conditions"][0]["reason"] == "Expired")
    })
    .await?;

    // An exception naming a check that does not exist (a typo) waives nothing and says why, as `vigil scan`
    // refuses it.
    cluster.apply_yaml(&format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {{name: typo, namespace: {ns}}}\nspec:\n  checks: [privileged-containers]\n  match: {{kinds: [Pod]}}\n  reason: r\n  owner: sre@example.com\n"
    )).await?;
    let typo = eventually(WAIT, "the typo exception to be Invalid", || async {
        exceptions.get("typo").await.ok().filter(|e| e.data["status"]["conditions"][0]["reason"] == "Invalid")
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    let message = typo.data["status"]["conditions"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("unknown check \"privileged-containers\""), "{message}");
    assert_eq!(findings(&report(&cluster, &ns, "pod-p").await.unwrap(), "privileged-container"), ["Fail"]);
    Ok(())
}

/// The same manifests give the same reports through `vigil scan` and through the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_operator_agree_on_the_examples() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    if std::env::var("VIGIL_E2E_CLUSTER").is_ok() {
        return Ok(()); // an existing cluster holds more than the examples
    }
    let token = install_vigil(&cluster).await?;
    let documents = vigil_e2e::example_documents()?;
    let manifests = documents.join("\n---\n");
    cluster.apply_yaml(&manifests).await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    eventually(WAIT, "a full pass", || async { (vigil.metric("vigil_full_passes").await >= 1.0).then_some(()) })
        .await?;

    let file = std::env::temp_dir().join(format!("vigil-e2e-examples-{}.yaml", std::process::id()));
    std::fs::write(&file, &manifests)?;
    // `--whole-cluster`: the operator judges the whole cluster, so the scan must too (plain manifests would
    // leave the checks that need the whole cluster NotApplicable, with another message).
    let out = std::process::Command::new(vigil_e2e::vigil_bin())
        .args(["scan", "-o", "json", "--whole-cluster"])
        .arg(&file)
        .output()?;
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut compared = 0;
    for item in scanned["items"].as_array().unwrap() {
        if item["kind"] != "SecurityReport" {
            continue; // cluster-scoped reports see the API server's built-in RBAC and version
        }
        let ns = item["metadata"]["namespace"].as_str().unwrap();
        let name = item["metadata"]["name"].as_str().unwrap();
        let live = report(&cluster, ns, name).await.unwrap_or_else(|| panic!("no live report {ns}/{name}"));
        let key = |v: &serde_json::Value| {
            let mut findings: Vec<String> = v["status"]["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} {} {}", f["checkId"], f["result"], f["message"]))
                .collect();
            findings.sort();
            (findings, v["status"]["passed"].clone(), v["status"]["score"].clone())
        };
        assert_eq!(key(item), key(&live.data), "{ns}/{name} differs between scan and operator");
        compared += 1;
    }
    assert!(compared >= 10, "compared only {compared} reports");
    Ok(())
}

/// The engine's RBAC bootstrap data (`engine/data/rbac-defaults-v1.32.json`) is what a v1.32 API server
/// creates: same objects, labels, rules, aggregation, roleRefs and subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_defaults_match_the_api_server() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    if std::env::var("VIGIL_E2E_CLUSTER").is_ok() {
        return Ok(()); // another version's defaults
    }
    // What matters of one object; an aggregated role's rules are the controller-manager's to fill.
    let essence = |kind: &str, item: &serde_json::Value| {
        let meta = &item["metadata"];
        let mut value = serde_json::json!({
            "labels": meta["labels"], "aggregationRule": item["aggregationRule"],
            "roleRef": item["roleRef"], "subjects": item["subjects"],
        });
        if item["aggregationRule"].is_null() {
            value["rules"] = item["rules"].clone();
        }
        let key =
            format!("{kind} {}/{}", meta["namespace"].as_str().unwrap_or(""), meta["name"].as_str().unwrap_or(""));
        (key, value)
    };
    let text = std::fs::read_to_string(vigil_e2e::repo_root().join("engine/data/rbac-defaults-v1.32.json"))?;
    let data: serde_json::Value = serde_json::from_str(&text)?;
    let expected: std::collections::BTreeMap<String, serde_json::Value> =
        data["items"].as_array().unwrap().iter().map(|item| essence(item["kind"].as_str().unwrap(), item)).collect();
    let mut live = std::collections::BTreeMap::new();
    for kind in ["clusterroles", "clusterrolebindings", "roles", "rolebindings"] {
        let out =
            cluster.kubectl(&["get", kind, "-A", "-l", "kubernetes.io/bootstrapping=rbac-defaults", "-o", "json"])?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        for item in list["items"].as_array().unwrap() {
            let kind = match kind {
                "clusterroles" => "ClusterRole",
                "clusterrolebindings" => "ClusterRoleBinding",
                "roles" => "Role",
                _ => "RoleBinding",
            };
            let (key, mut value) = essence(kind, item);
            // The data keeps `rules` and `subjects` only when present.
            for field in ["rules", "subjects"] {
                if value[field].as_array().is_some_and(|a| a.is_empty()) {
                    value[field] = serde_json::Value::Null;
                }
            }
            live.insert(key, value);
        }
    }
    let missing: Vec<&String> = live.keys().filter(|k| !expected.contains_key(*k)).collect();
    let extra: Vec<&String> = expected.keys().filter(|k| !live.contains_key(*k)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "not in the data: {missing:?}; not on the server: {extra:?}");
    for (key, value) in &live {
        assert_eq!(value, &expected[key], "{key} differs from engine/data");
    }
    Ok(())
}
