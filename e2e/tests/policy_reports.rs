//! Policy reports (`--policy-reports`) against the upstream CRD schemas (`e2e/testdata/`: OpenReports
//! `openreports.io/v1alpha1` Report / ClusterReport, wg-policy `wgpolicyk8s.io/v1alpha2` PolicyReport /
//! ClusterPolicyReport): what Vigil writes is valid under them (strict server-side field validation),
//! is scoped to its subject with the failing results and the summary, follows the CRDs' presence (not
//! a write's 404), and goes with its subject.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, PatchParams, ValidationDirective};
use kube::discovery::ApiResource;
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, repo_root, vigil_bin};

const WAIT: Duration = Duration::from_secs(30);

macro_rules! cluster_or_skip {
    () => {
        match TestCluster::start().await? {
            Some(cluster) => cluster,
            None => return Ok(()),
        }
    };
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn open_reports() -> ApiResource {
    resource("openreports.io", "v1alpha1", "Report", "reports")
}

fn open_cluster_reports() -> ApiResource {
    resource("openreports.io", "v1alpha1", "ClusterReport", "clusterreports")
}

fn policy_reports() -> ApiResource {
    resource("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports")
}

/// The API resource of a policy-report object by its kind.
fn resource_of(kind: &str) -> ApiResource {
    match kind {
        "Report" => open_reports(),
        "ClusterReport" => open_cluster_reports(),
        "PolicyReport" => policy_reports(),
        "ClusterPolicyReport" => resource("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport", "clusterpolicyreports"),
        other => panic!("not a policy-report kind: {other}"),
    }
}

/// Installs the upstream CRDs of `files` (in e2e/testdata) and waits until they are served.
async fn install_crds(cluster: &TestCluster, files: &[&str]) -> anyhow::Result<()> {
    for file in files {
        let text = std::fs::read_to_string(repo_root().join("e2e/testdata").join(file))?;
        cluster.apply_yaml(&text).await?;
    }
    let names: Vec<String> = files.iter().map(|f| f.trim_end_matches(".yaml").to_string()).collect();
    eventually(WAIT, "the CRDs established", || async {
        let mut all = true;
        for name in &names {
            let (plural, group) = name.split_once('_').map(|(g, p)| (p, g)).unwrap_or_default();
            let crd = format!("{plural}.{group}");
            let out = cluster.kubectl(&["wait", "--for", "condition=established", "--timeout=2s", "crd", &crd]).ok()?;
            all &= out.status.success();
        }
        all.then_some(())
    })
    .await
}

const OPEN_CRDS: [&str; 2] = ["openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"];
const WG_CRDS: [&str; 2] = ["wgpolicyk8s.io_policyreports.yaml", "wgpolicyk8s.io_clusterpolicyreports.yaml"];

const PRIVILEGED_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: NS}\nspec:\n  containers: [{name: app, image: \"nginx:1.27\", securityContext: {privileged: true}}]\n";

/// What a Vigil policy report says of a privileged Pod, in either format.
fn assert_privileged_pod_report(report: &DynamicObject, ns: &str, uid: &str) {
    let data = &report.data;
    assert_eq!(
        data["scope"],
        serde_json::json!({"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": ns, "uid": uid}),
        "{data:#}"
    );
    let results = data["results"].as_array().expect("results");
    let privileged = results.iter().find(|r| r["policy"] == "privileged-container").expect("privileged-container");
    assert_eq!(privileged["result"], "fail");
    assert_eq!(privileged["severity"], "critical");
    assert_eq!(privileged["source"], "vigil");
    assert_eq!(privileged["category"], "pod-security");
    assert_eq!(privileged["properties"]["container"], "app");
    assert!(privileged["timestamp"]["seconds"].as_i64().unwrap() > 0);
    assert!(results.iter().all(|r| r["result"] == "fail" || r["result"] == "error"), "failing results only");
    let summary = &data["summary"];
    let fails = results.iter().filter(|r| r["result"] == "fail").count() as u64;
    assert_eq!(summary["fail"].as_u64(), Some(fails), "{summary}");
    assert!(summary["pass"].as_u64().unwrap() > 0, "passes are counted: {summary}");
    let owner = &report.metadata.owner_references.as_ref().expect("an owner reference")[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Pod", uid));
}

/// `vigil scan examples -o openreports|policyreport --policy-report-results all`: every object is valid
/// under the upstream schema, with strict field validation (an unknown field or a value outside an enum
/// is refused, not pruned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_pass_strict_server_side_validation_of_the_upstream_schemas() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    install_crds(&cluster, &[OPEN_CRDS, WG_CRDS].concat()).await?;
    let mut validated = 0;
    for format in ["openreports", "policyreport"] {
        let out = std::process::Command::new(vigil_bin())
            .args(["scan", "examples", "-o", format, "--policy-report-results", "all"])
            .current_dir(repo_root())
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: serde_json::Value = serde_saphyr::from_str(&String::from_utf8(out.stdout)?)?;
        for item in list["items"].as_array().expect("items") {
            if let Some(ns) = item["metadata"]["namespace"].as_str() {
                let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
                let _ = Api::<Namespace>::all(cluster.client.clone()).create(&Default::default(), &namespace).await;
            }
            let mut item = item.clone();
            // The examples' subjects do not exist here: owner references to them would be refused by
            // nothing, but keep the check about the schema.
            item["metadata"].as_object_mut().unwrap().remove("ownerReferences");
            let kind = item["kind"].as_str().unwrap().to_string();
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
            let api = cluster.api(&resource_of(&kind), item["metadata"]["namespace"].as_str());
            let params = PatchParams::apply("vigil-e2e").force().dry_run().validation(ValidationDirective::Strict);
            api.patch(&name, &params, &kube::api::Patch::Apply(&item))
                .await
                .map_err(|e| anyhow::anyhow!("{kind} {name} refused: {e}"))?;
            validated += 1;
        }
    }
    assert!(validated > 20, "validated only {validated} objects");
    Ok(())
}

/// `--policy-reports both`: a Report and a PolicyReport per subject, scoped to it, with the failing
/// results and the summary; the cluster's ClusterReport; and both go when the subject does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_follow_their_subject() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    install_crds(&cluster, &[OPEN_CRDS, WG_CRDS].concat()).await?;
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-or-both").await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &["--policy-reports", "both"])?;
    vigil.wait_ready(WAIT).await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &ns)).await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let uid = pods.get("p").await?.metadata.uid.unwrap_or_default();
    let open = cluster.api(&open_reports(), Some(&ns));
    let wg = cluster.api(&policy_reports(), Some(&ns));
    let fail = |e: anyhow::Error| anyhow::anyhow!("{e}\n{}", vigil.log());
    let report = eventually(WAIT, "the Report", || async { open.get_opt("vigil-pod-p").await.ok().flatten() })
        .await
        .map_err(fail)?;
    assert_eq!(report.data["source"], "vigil");
    assert_eq!(report.data["configuration"]["limits"]["statusFilter"], serde_json::json!(["fail", "warn", "error"]));
    assert_privileged_pod_report(&report, &ns, &uid);
    let policy_report =
        eventually(WAIT, "the PolicyReport", || async { wg.get_opt("vigil-pod-p").await.ok().flatten() })
            .await
            .map_err(fail)?;
    assert_privileged_pod_report(&policy_report, &ns, &uid);
    assert_eq!(report.data["results"], policy_report.data["results"]);
    let clusters = cluster.api(&open_cluster_reports(), None);
    let rollup = eventually(WAIT, "the cluster's ClusterReport", || async {
        clusters.get_opt("vigil-cluster").await.ok().flatten()
    })
    .await
    .map_err(fail)?;
    assert_eq!(rollup.data["scope"]["kind"], "Cluster");

    // The Namespace's own report lives in it, its scope a cluster-scoped reference.
    let namespace_report = eventually(WAIT, "the Namespace's Report", || async {
        open.get_opt(&format!("vigil-namespace-{ns}")).await.ok().flatten()
    })
    .await
    .map_err(fail)?;
    assert_eq!(namespace_report.data["scope"]["kind"], "Namespace");
    assert!(namespace_report.data["scope"].get("namespace").is_none());

    pods.delete("p", &DeleteParams::default().grace_period(0)).await?;
    eventually(WAIT, "the Pod's Report and PolicyReport deleted", || async {
        let gone = open.get_opt("vigil-pod-p").await.ok()?.is_none() && wg.get_opt("vigil-pod-p").await.ok()?.is_none();
        gone.then_some(())
    })
    .await
    .map_err(fail)?;
    Ok(())
}

/// The default (`openreports`) with no CRD at start: nothing is written and nothing is switched off;
/// installed later, every subject gets its Report. A wg-policy CRD alone is not written to. Deleting a
/// namespace with subjects (writes and deletes then meet 404s and refusals) leaves the output on; the
/// CRD removed stops the writes, installed again starts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_appear_when_the_crds_are_installed_later_and_stay_on() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-or-late").await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &ns)).await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    let fail = |e: anyhow::Error| anyhow::anyhow!("{e}\n{}", vigil.log());
    let security_reports =
        cluster.api(&resource("vigil.dev", "v1alpha1", "SecurityReport", "securityreports"), Some(&ns));
    eventually(WAIT, "the SecurityReport", || async { security_reports.get_opt("pod-p").await.ok().flatten() })
        .await
        .map_err(fail)?;

    // Only the wg-policy CRD: not the chosen format, nothing written to it.
    install_crds(&cluster, &WG_CRDS).await?;
    // The OpenReports CRDs installed later: the existing subject gets its Report without any change to it.
    install_crds(&cluster, &OPEN_CRDS).await?;
    let open = cluster.api(&open_reports(), Some(&ns));
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let uid = pods.get("p").await?.metadata.uid.unwrap_or_default();
    let report = eventually(WAIT, "the Report", || async { open.get_opt("vigil-pod-p").await.ok().flatten() })
        .await
        .map_err(fail)?;
    assert_privileged_pod_report(&report, &ns, &uid);
    let wg = cluster.api(&policy_reports(), Some(&ns));
    assert!(
        wg.get_opt("vigil-pod-p").await?.is_none(),
        "a wg-policy report was written under --policy-reports openreports"
    );

    // A namespace with subjects deleted (its objects and reports go; Vigil's writes and deletes there meet
    // 404s and refusals), then a new subject elsewhere: its Report still appears.
    let doomed = cluster.namespace("e2e-or-doomed").await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &doomed)).await?;
    let doomed_reports = cluster.api(&open_reports(), Some(&doomed));
    eventually(WAIT, "the doomed namespace's Report", || async {
        doomed_reports.get_opt("vigil-pod-p").await.ok().flatten()
    })
    .await
    .map_err(fail)?;
    Api::<Namespace>::all(cluster.client.clone()).delete(&doomed, &DeleteParams::default()).await?;
    eventually(Duration::from_secs(60), "the doomed namespace gone", || async {
        Api::<Namespace>::all(cluster.client.clone()).get_opt(&doomed).await.ok()?.is_none().then_some(())
    })
    .await
    .map_err(fail)?;
    let later = cluster.namespace("e2e-or-later").await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &later)).await?;
    let later_reports = cluster.api(&open_reports(), Some(&later));
    eventually(WAIT, "a new subject's Report after the 404s", || async {
        later_reports.get_opt("vigil-pod-p").await.ok().flatten()
    })
    .await
    .map_err(fail)?;

    // The Report CRD removed: writes stop (no error loop); installed again: the Reports come back.
    cluster.kubectl(&["delete", "crd", "reports.openreports.io", "--wait=true"])?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    install_crds(&cluster, &OPEN_CRDS[..1]).await?;
    eventually(WAIT, "the Report written again after the CRD came back", || async {
        open.get_opt("vigil-pod-p").await.ok().flatten()
    })
    .await
    .map_err(fail)?;
    assert!(vigil.log().contains("policy report CRD removed"), "{}", vigil.log());
    Ok(())
}

/// `--policy-reports wgpolicyk8s` (the old switch's meaning): PolicyReports only, with both CRDs installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wgpolicyk8s_mode_writes_policy_reports_only() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    install_crds(&cluster, &[OPEN_CRDS, WG_CRDS].concat()).await?;
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-wgpolicy").await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &["--policy-reports", "wgpolicyk8s"])?;
    vigil.wait_ready(WAIT).await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &ns)).await?;
    let uid = Api::<Pod>::namespaced(cluster.client.clone(), &ns).get("p").await?.metadata.uid.unwrap_or_default();
    let wg = cluster.api(&policy_reports(), Some(&ns));
    let report = eventually(WAIT, "the PolicyReport", || async { wg.get_opt("vigil-pod-p").await.ok().flatten() })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert_privileged_pod_report(&report, &ns, &uid);
    assert!(report.data.get("source").is_none(), "no report-level source in wgpolicyk8s.io/v1alpha2");
    assert!(cluster.api(&open_reports(), Some(&ns)).get_opt("vigil-pod-p").await?.is_none());
    Ok(())
}

/// The policy reports carry their content's fingerprint: a restarted operator on an unchanged cluster
/// writes none of them, and one deleted behind Vigil's back is written again within a full pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_writes_no_policy_report_and_a_deleted_one_is_written_again() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!();
    install_crds(&cluster, &OPEN_CRDS).await?;
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-or-restart").await?;
    cluster.apply_yaml(&PRIVILEGED_POD.replace("NS", &ns)).await?;
    let fast = ["--full-pass-interval", "3s"];
    let mut first = Vigil::start(&cluster, &token, "replica-a", &fast)?;
    first.wait_ready(WAIT).await?;
    let open = cluster.api(&open_reports(), Some(&ns));
    // The first operator done: the Report kind served, then two full passes (every subject written).
    settle(&first).await?;
    let before = open.get("vigil-pod-p").await?;
    first.stop();

    let second = Vigil::start(&cluster, &token, "replica-b", &fast)?;
    second.wait_ready(WAIT).await?;
    let fail = |e: anyhow::Error| anyhow::anyhow!("{e}\n{}", second.log());
    settle(&second).await?;
    let written = "vigil_report_writes_total{outcome=\"policy_report_applied\"";
    assert_eq!(second.metric(written).await, 0.0, "{}", second.log());
    let after = open.get("vigil-pod-p").await?;
    assert_eq!(before.metadata.resource_version, after.metadata.resource_version);

    // Deleted by someone else: back within a full pass.
    open.delete("vigil-pod-p", &DeleteParams::default()).await?;
    let healed =
        eventually(WAIT, "the Report written again", || async { open.get_opt("vigil-pod-p").await.ok().flatten() })
            .await
            .map_err(fail)?;
    assert_ne!(healed.metadata.uid, after.metadata.uid);
    // Counted once the write has returned (a moment after the object exists); only that one.
    eventually(WAIT, "the heal counted", || async { (second.metric(written).await >= 1.0).then_some(()) })
        .await
        .map_err(fail)?;
    assert_eq!(second.metric(written).await, 1.0);
    Ok(())
}

/// Waits until the operator serves the Report kind and has made two full passes since: every subject
/// has been looked at with it.
async fn settle(vigil: &Vigil) -> anyhow::Result<()> {
    let fail = |e: anyhow::Error| anyhow::anyhow!("{e}\n{}", vigil.log());
    eventually(WAIT, "the Report kind served", || async {
        vigil.log().contains("policy report CRD installed").then_some(())
    })
    .await
    .map_err(fail)?;
    let passes = vigil.metric("vigil_full_passes").await;
    eventually(WAIT, "two more full passes", || async {
        (vigil.metric("vigil_full_passes").await >= passes + 2.0).then_some(())
    })
    .await
    .map_err(fail)?;
    Ok(())
}
