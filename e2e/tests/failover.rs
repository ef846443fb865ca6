//! The controller under faults, on a real control plane: a frozen leader, a killed leader, reports edited
//! or deleted behind Vigil's back, another install's reports, and an API server that does not serve a
//! kind Vigil reads. Every write Vigil makes is in the API server's audit log with the replica's name in
//! its User-Agent (`vigil/<version> (<identity>)`), which is how "the old leader wrote nothing more" is
//! checked.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, vigil_resource};

const WAIT: Duration = Duration::from_secs(40);
/// Short election timings, so the scenarios take seconds: lease 4 s, renew deadline 3 s, retry 1 s.
const FAST_ELECTION: [&str; 6] = ["--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s"];
const LEASE: Duration = Duration::from_secs(4);
const RETRY: Duration = Duration::from_secs(1);

fn reports() -> ApiResource {
    vigil_resource("SecurityReport", "securityreports")
}

fn cluster_reports() -> ApiResource {
    vigil_resource("ClusterSecurityReport", "clustersecurityreports")
}

macro_rules! cluster_or_skip {
    ($start:expr) => {
        match $start.await? {
            Some(cluster) => cluster,
            None => return Ok(()),
        }
    };
}

fn pod(ns: &str, name: &str, privileged: bool) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: {privileged}}}}}]\n"
    )
}

/// Names of the SecurityReports in `ns`.
async fn report_names(cluster: &TestCluster, ns: &str) -> anyhow::Result<BTreeSet<String>> {
    let list = cluster.api(&reports(), Some(ns)).list(&ListParams::default()).await?;
    Ok(list.items.into_iter().filter_map(|r| r.metadata.name).collect())
}

async fn lease_holder(cluster: &TestCluster) -> Option<String> {
    let lease =
        Api::<Lease>::namespaced(cluster.client.clone(), "vigil-system").get_opt("vigil-leader").await.ok()??;
    lease.spec?.holder_identity
}

/// Audit events of writes whose User-Agent names `identity`.
fn writes_by(cluster: &TestCluster, identity: &str) -> Vec<serde_json::Value> {
    let tag = format!("({identity})");
    cluster
        .audit_events()
        .into_iter()
        .filter(|e| e["userAgent"].as_str().is_some_and(|a| a.contains(&tag)))
        .filter(|e| e["responseStatus"]["code"].as_i64().is_some_and(|c| c < 300))
        .collect()
}

fn received(event: &serde_json::Value) -> jiff::Timestamp {
    event["requestReceivedTimestamp"].as_str().and_then(|t| t.parse().ok()).expect("an audit timestamp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_within_a_lease_and_writes_nothing_after_it_thaws() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!(TestCluster::start());
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-freeze").await?;
    cluster.apply_yaml(&pod(&ns, "before", true)).await?;
    let a = Vigil::start(&cluster, &token, "replica-a", &FAST_ELECTION)?;
    a.wait_ready(WAIT).await?;
    eventually(WAIT, "replica-a to lead", || async { (a.metric("vigil_leader").await == 1.0).then_some(()) }).await?;
    let b = Vigil::start(&cluster, &token, "replica-b", &FAST_ELECTION)?;
    b.wait_ready(WAIT).await?;
    eventually(WAIT, "the first report", || async {
        report_names(&cluster, &ns).await.ok().filter(|n| n.contains("pod-before"))
    })
    .await?;
    assert!(!writes_by(&cluster, "replica-a").is_empty(), "the audit log does not show replica-a's writes");

    // Freeze the leader: the standby takes over within one lease duration (plus the retry periods in
    // which it notices), judged on its own clock.
    a.signal("STOP")?;
    let frozen = Instant::now();
    eventually(WAIT, "replica-b to take over", || async {
        (lease_holder(&cluster).await.as_deref() == Some("replica-b")).then_some(())
    })
    .await?;
    let takeover = jiff::Timestamp::now();
    let took = frozen.elapsed();
    assert!(took <= LEASE + RETRY * 3, "the standby took {took:?} to take over a {LEASE:?} lease");
    eventually(WAIT, "replica-b to lead", || async { (b.metric("vigil_leader").await == 1.0).then_some(()) }).await?;

    // Work arrives while the old leader is frozen, and more after it thaws: only replica-b handles it.
    cluster.apply_yaml(&pod(&ns, "while-frozen", true)).await?;
    eventually(WAIT, "the new leader's report", || async {
        report_names(&cluster, &ns).await.ok().filter(|n| n.contains("pod-while-frozen"))
    })
    .await?;
    a.signal("CONT")?;
    cluster.apply_yaml(&pod(&ns, "after-thaw", true)).await?;
    eventually(WAIT, "the report after the thaw", || async {
        report_names(&cluster, &ns).await.ok().filter(|n| n.contains("pod-after-thaw"))
    })
    .await?;
    eventually(WAIT, "replica-a to stand by", || async { (a.metric("vigil_leader").await == 0.0).then_some(()) })
        .await?;
    // Let a thawed writer that would still write have its chance.
    tokio::time::sleep(LEASE).await;

    let late: Vec<String> = writes_by(&cluster, "replica-a")
        .iter()
        .filter(|e| received(e) >= takeover)
        .map(|e| format!("{} {} {}", e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"]))
        .collect();
    assert!(late.is_empty(), "the old leader wrote after the takeover: {late:?}");
    assert!(writes_by(&cluster, "replica-b").iter().any(|e| e["objectRef"]["resource"] == "securityreports"));
    assert_eq!(lease_holder(&cluster).await.as_deref(), Some("replica-b"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_pass_loses_no_report_and_leaves_none_stale() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!(TestCluster::start());
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-kill").await?;
    let pods: String = (0..120u32).map(|i| pod(&ns, &format!("p{i}"), i.is_multiple_of(2))).collect();
    cluster.apply_yaml(&pods).await?;
    // A slow writer, so the first full pass takes seconds and the kill lands in the middle of it.
    let slow: Vec<&str> = FAST_ELECTION.iter().copied().chain(["--write-rate", "20"]).collect();
    let a = Vigil::start(&cluster, &token, "replica-a", &slow)?;
    let b = Vigil::start(&cluster, &token, "replica-b", &slow)?;
    a.wait_ready(WAIT).await?;
    b.wait_ready(WAIT).await?;
    // Whichever replica won the Lease leads (both started at once): the other is the standby.
    let a_leads = eventually(WAIT, "one replica to lead", || async {
        match lease_holder(&cluster).await.as_deref() {
            Some("replica-a") => (a.metric("vigil_leader").await == 1.0).then_some(true),
            Some("replica-b") => (b.metric("vigil_leader").await == 1.0).then_some(false),
            _ => None,
        }
    })
    .await?;
    let (leader, standby) = if a_leads { (&a, &b) } else { (&b, &a) };
    eventually(WAIT, "the first pass to be under way", || async {
        let n = report_names(&cluster, &ns).await.ok()?.len();
        (n >= 20).then_some(n)
    })
    .await?;
    leader.signal("KILL")?;
    let written_at_kill = report_names(&cluster, &ns).await?.len();
    assert!(written_at_kill < 121, "the pass finished before the kill ({written_at_kill} reports)");

    // While no one leads: some subjects go, some come.
    for i in 0..5 {
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(cluster.client.clone(), &ns)
            .delete(&format!("p{i}"), &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
            .await?;
    }
    let newcomers: String = (0..5).map(|i| pod(&ns, &format!("new{i}"), true)).collect();
    cluster.apply_yaml(&newcomers).await?;

    // The standby takes over and converges to exactly one report per subject: none lost, none stale.
    let mut expected: BTreeSet<String> = (5..120).map(|i| format!("pod-p{i}")).collect();
    expected.extend((0..5).map(|i| format!("pod-new{i}")));
    expected.insert(format!("namespace-{ns}"));
    let converged = eventually(Duration::from_secs(90), "the standby to converge", || async {
        let names = report_names(&cluster, &ns).await.ok()?;
        (names == expected).then_some(names)
    })
    .await;
    if converged.is_err() {
        let names = report_names(&cluster, &ns).await?;
        let missing: Vec<_> = expected.difference(&names).collect();
        let stale: Vec<_> = names.difference(&expected).collect();
        anyhow::bail!("missing {missing:?}, stale {stale:?}\n{}", standby.log());
    }
    assert_eq!(standby.metric("vigil_leader").await, 1.0);
    // Each report says what its Pod is (privileged pods fail, the others do not).
    let listed = cluster.api(&reports(), Some(&ns)).list(&ListParams::default()).await?;
    for report in listed.items.iter().filter(|r| r.metadata.name.as_deref().is_some_and(|n| n.starts_with("pod-p"))) {
        let name = report.metadata.name.clone().unwrap_or_default();
        let index: usize = name.trim_start_matches("pod-p").parse()?;
        let fails = report.data["status"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["checkId"] == "privileged-container" && f["result"] == "Fail");
        assert_eq!(
            fails,
            index.is_multiple_of(2),
            "{name} says privileged-container {}",
            if fails { "fails" } else { "passes" }
        );
    }
    drop((a, b));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_and_deleted_reports_are_healed_and_other_installs_are_left_alone() -> anyhow::Result<()> {
    let cluster = cluster_or_skip!(TestCluster::start());
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-drift").await?;
    cluster.apply_yaml(&pod(&ns, "web", true)).await?;
    // Another install's report about a Pod that does not exist: not ours, never touched.
    cluster
        .apply_yaml(&format!(
            "apiVersion: vigil.dev/v1alpha1\nkind: SecurityReport\nmetadata:\n  name: pod-elsewhere\n  namespace: {ns}\n  labels: {{app.kubernetes.io/managed-by: vigil, vigil.dev/instance: other}}\nspec:\n  subject: {{apiVersion: v1, kind: Pod, name: elsewhere, namespace: {ns}}}\n"
        ))
        .await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &FAST_ELECTION)?;
    vigil.wait_ready(WAIT).await?;
    let api = cluster.api(&reports(), Some(&ns));
    let fails = |r: &DynamicObject| {
        r.data["status"]["findings"].as_array().into_iter().flatten().any(|f| f["checkId"] == "privileged-container")
    };
    eventually(WAIT, "the Pod's report", || async { api.get_opt("pod-web").await.ok().flatten().filter(|r| fails(r)) })
        .await?;

    // Someone rewrites the report to look clean: Vigil writes the truth again.
    let forged = serde_json::json!({"status": {"findings": [], "passed": ["privileged-container"], "score": 100}});
    api.patch("pod-web", &PatchParams::default(), &Patch::Merge(&forged)).await?;
    eventually(WAIT, "the edited report to be healed", || async {
        api.get_opt("pod-web").await.ok().flatten().filter(|r| fails(r))
    })
    .await?;
    // Someone deletes it: Vigil writes it again.
    api.delete("pod-web", &DeleteParams::default()).await?;
    eventually(WAIT, "the deleted report to be written again", || async {
        api.get_opt("pod-web").await.ok().flatten().filter(|r| fails(r))
    })
    .await?;
    assert!(vigil.metric("vigil_report_writes_total{outcome=\"healed\"").await >= 2.0);

    // A full pass (its orphan sweep included) leaves the other install's report alone.
    let passes = vigil.metric("vigil_full_passes_total").await;
    cluster
        .apply_yaml("apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: trigger}\nspec: {}\n")
        .await?;
    eventually(WAIT, "another full pass", || async {
        (vigil.metric("vigil_full_passes_total").await > passes).then_some(())
    })
    .await?;
    assert!(api.get_opt("pod-elsewhere").await?.is_some(), "Vigil deleted another install's report");
    // Our reports carry our instance.
    let ours = api.get("pod-web").await?;
    assert_eq!(ours.metadata.labels.unwrap_or_default().get("vigil.dev/instance").map(String::as_str), Some("vigil"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_validating_admission_policies_is_judged_and_says_so() -> anyhow::Result<()> {
    // As a cluster before 1.30: admissionregistration.k8s.io/v1 serves no ValidatingAdmissionPolicy.
    let off = "--runtime-config=admissionregistration.k8s.io/v1/validatingadmissionpolicies=false,admissionregistration.k8s.io/v1/validatingadmissionpolicybindings=false";
    // The API server's own admission plugin for them needs them served (it waits for their informers).
    let plugin = "--disable-admission-plugins=ServiceAccount,ValidatingAdmissionPolicy";
    let cluster = cluster_or_skip!(TestCluster::start_with(&[off, plugin]));
    let token = install_vigil(&cluster).await?;
    let vigil = Vigil::start(&cluster, &token, "replica-a", &FAST_ELECTION)?;
    vigil.wait_ready(WAIT).await?;
    let api = cluster.api(&cluster_reports(), None);
    let report =
        eventually(WAIT, "the cluster report", || async { api.get_opt("cluster").await.ok().flatten() }).await?;
    let finding = report.data["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["checkId"] == "admission-policy-enforced")
        .cloned()
        .unwrap_or_default();
    // None can exist: judged as empty (no policy engine here, so it fails), saying why there are none.
    assert_eq!(finding["result"], "Fail", "{finding}");
    assert!(
        finding["message"].as_str().unwrap_or("").contains("does not serve ValidatingAdmissionPolicy"),
        "{finding}"
    );
    Ok(())
}
