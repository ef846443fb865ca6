//! ComplianceReports on a real control plane: a SecurityPolicy that enables frameworks gets one
//! cluster-scoped ComplianceReport per framework, whose per-control counts are what the SecurityReports
//! and ClusterSecurityReports say; disabling a framework deletes its report.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, vigil_resource};

const WAIT: Duration = Duration::from_secs(45);

/// Every report in the cluster, namespaced and cluster-scoped.
async fn all_reports(cluster: &TestCluster) -> anyhow::Result<Vec<DynamicObject>> {
    let mut reports = cluster
        .api(&vigil_resource("SecurityReport", "securityreports"), None)
        .list(&ListParams::default())
        .await?
        .items;
    reports.extend(
        cluster
            .api(&vigil_resource("ClusterSecurityReport", "clustersecurityreports"), None)
            .list(&ListParams::default())
            .await?
            .items,
    );
    Ok(reports)
}

/// Reports in which one of `checks` fails.
fn failing(reports: &[DynamicObject], checks: &[&str]) -> usize {
    reports
        .iter()
        .filter(|r| {
            r.data["status"]["findings"].as_array().is_some_and(|f| {
                f.iter().any(|f| f["result"] == "Fail" && checks.contains(&f["checkId"].as_str().unwrap_or("")))
            })
        })
        .count()
}

/// Differences between a ComplianceReport's per-control counts and the reports; empty when they agree.
fn disagreements(compliance: &DynamicObject, reports: &[DynamicObject]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for control in compliance.data["status"]["controls"].as_array().into_iter().flatten() {
        let checks: Vec<&str> = control["checks"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let expected = failing(reports, &checks);
        let got = control["failingSubjects"].as_u64().unwrap_or(0) as usize;
        if got != expected {
            out.push(format!("{}: {got} failing subjects, the reports say {expected}", control["id"]));
        }
        let verdict = control["verdict"].as_str().unwrap_or("");
        if (verdict == "Fail") != (expected > 0) {
            out.push(format!("{}: verdict {verdict} with {expected} failing subjects", control["id"]));
        }
        match verdict {
            "Pass" => passed += 1,
            "Fail" => failed += 1,
            _ => {}
        }
    }
    let summary = &compliance.data["status"]["summary"];
    if summary["passed"] != passed || summary["failed"] != failed {
        out.push(format!("summary {summary} but the controls say {passed} passed, {failed} failed"));
    }
    let score = ((100.0 * passed as f64) / ((passed + failed) as f64)).round() as u64;
    if compliance.data["status"]["score"].as_u64() != Some(score) {
        out.push(format!(
            "score {} but {passed} of {} controls passed",
            compliance.data["status"]["score"],
            passed + failed
        ));
    }
    out
}

fn policy(frameworks: &str) -> String {
    format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: compliance}}\nspec:\n  frameworks: [{frameworks}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_reports_follow_the_reports_and_the_enabled_frameworks() -> anyhow::Result<()> {
    let Some(cluster) = TestCluster::start().await? else { return Ok(()) };
    let token = install_vigil(&cluster).await?;
    let ns = cluster.namespace("e2e-compliance").await?;
    let mut vigil = Vigil::start(&cluster, &token, "replica-a", &[])?;
    vigil.wait_ready(WAIT).await?;
    cluster.apply_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: privileged, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: true}}}}]\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: host-pid, namespace: {ns}}}\nspec:\n  hostPID: true\n  containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
    )).await?;
    let compliance = cluster.api(&vigil_resource("ComplianceReport", "compliancereports"), None);
    // No framework is enabled by default: no ComplianceReport.
    eventually(WAIT, "the pods' reports", || async {
        let reports = all_reports(&cluster).await.ok()?;
        (failing(&reports, &["privileged-container"]) > 0 && failing(&reports, &["host-pid"]) > 0).then_some(())
    })
    .await?;
    assert!(compliance.list(&ListParams::default()).await?.items.is_empty(), "a ComplianceReport without a policy");

    cluster.apply_yaml(&policy("cis, pss")).await?;
    for name in ["cis", "pss"] {
        let last = std::sync::Mutex::new(Vec::new());
        let report = eventually(WAIT, &format!("ComplianceReport {name} to agree with the reports"), || async {
            let report = compliance.get_opt(name).await.ok().flatten()?;
            let reports = all_reports(&cluster).await.ok()?;
            let differences = disagreements(&report, &reports);
            let agree = differences.is_empty();
            *last.lock().unwrap() = differences;
            agree.then_some(report)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}: {:?}\n{}", last.lock().unwrap(), vigil.log()))?;
        assert_eq!(report.data["spec"]["framework"], name);
        let control = |id: &str| {
            report.data["status"]["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap()
        };
        let (privileged, pid) = match name {
            "cis" => (control("5.2.2"), control("5.2.3")),
            _ => (control("baseline/privileged-containers"), control("baseline/host-namespaces")),
        };
        let listed = |c: &Value| -> BTreeSet<String> {
            c["failing"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
        };
        assert!(listed(&privileged).contains(&format!("Pod {ns}/privileged")), "{privileged}");
        assert!(listed(&pid).contains(&format!("Pod {ns}/host-pid")), "{pid}");
        // The API server runs v1.32: Pod Security Standards are judged by that version.
        if name == "pss" {
            assert_eq!(report.data["status"]["version"], "v1.32");
        }
    }

    // The printer columns.
    let out = cluster.kubectl(&["get", "compliancereports"])?;
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "FRAMEWORK", "VERSION", "PASSED", "FAILED", "SCORE", "AGE"], "{table}");
    assert!(table.lines().any(|l| l.starts_with("cis ") && l.contains("v1.9.0")), "{table}");

    // Metrics by framework and control.
    eventually(WAIT, "the compliance metrics", || async {
        let failing_subjects =
            vigil.metric("vigil_compliance_failing_subjects{framework=\"cis\",control=\"5.2.2\"}").await;
        (failing_subjects >= 1.0 && vigil.metric("vigil_compliance_score{framework=\"pss\"}").await > 0.0).then_some(())
    })
    .await?;

    // A restart on an unchanged cluster rewrites no ComplianceReport: the fingerprints say nothing changed.
    let versions = || async {
        let mut out = Vec::new();
        for name in ["cis", "pss"] {
            out.push(compliance.get(name).await.ok()?.metadata.resource_version?);
        }
        Some(out)
    };
    let before_restart = versions().await.expect("both reports");
    vigil.stop();
    vigil = Vigil::start(&cluster, &token, "replica-b", &[])?;
    vigil.wait_ready(WAIT).await?;
    eventually(WAIT, "the new leader to judge the frameworks", || async {
        (vigil.metric("vigil_compliance_score{framework=\"cis\"}").await > 0.0).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(versions().await.expect("both reports"), before_restart, "a restart rewrote a ComplianceReport");

    // A change to the cluster reaches the ComplianceReport: the privileged pod goes.
    let before = compliance.get("cis").await?.data["status"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "5.2.2")
        .map(|c| c["failingSubjects"].as_u64().unwrap_or(0))
        .unwrap();
    cluster
        .api(&ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()), Some(&ns))
        .delete("privileged", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
        .await?;
    eventually(WAIT, "5.2.2 to count one failing subject fewer", || async {
        let report = compliance.get("cis").await.ok()?;
        let now = report.data["status"]["controls"].as_array()?.iter().find(|c| c["id"] == "5.2.2")?["failingSubjects"]
            .as_u64()?;
        (now + 1 == before).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;

    // Disabling a framework deletes its report; the other stays. Deleting the policy deletes the last.
    cluster.apply_yaml(&policy("pss")).await?;
    eventually(WAIT, "ComplianceReport cis to be deleted", || async {
        compliance.get_opt("cis").await.ok().filter(Option::is_none)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", vigil.log()))?;
    assert!(compliance.get_opt("pss").await?.is_some());
    assert_eq!(vigil.metric("vigil_compliance_failing_subjects{framework=\"cis\"").await, 0.0);
    cluster
        .api(&vigil_resource("SecurityPolicy", "securitypolicies"), None)
        .delete("compliance", &DeleteParams::default())
        .await?;
    eventually(WAIT, "ComplianceReport pss to be deleted", || async {
        compliance.get_opt("pss").await.ok().filter(Option::is_none)
    })
    .await?;
    Ok(())
}
