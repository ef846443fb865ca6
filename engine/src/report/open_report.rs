//! The OpenReports view of a report: `Report` (namespaced subjects) or `ClusterReport` (cluster-scoped),
//! `openreports.io/v1alpha1`, the successor of the wg-policy PolicyReport that Kyverno (opt-in since
//! 1.15), Kubewarden and Policy Reporter (since 3.2) read. Schema: github.com/openreports/reports-api,
//! `config/crd/openreports.io_reports.yaml` and `openreports.io_clusterreports.yaml` (v0.2.x).
//!
//! One report per subject, named `vigil-<report>`, `scope` an ObjectReference to the subject, `source:
//! vigil`. The results are [`super::policy_results`]'s, the same as the wg-policy view's. When only
//! failing results are carried, `configuration.limits.statusFilter` says so (the schema's contract
//! between report producers and consumers: "the Report contains only those reports with statuses
//! specified in this list"), and `summary` still counts every result. Pure: the operator writes it,
//! `vigil scan -o openreports` prints it.

use serde_json::{Value, json};

use crate::report::Report;
use crate::report::policy_results::{ResultFilter, SOURCE, shared};

pub const GROUP: &str = "openreports.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "openreports.io/v1alpha1";

/// The Report (namespaced subjects) or ClusterReport (cluster-scoped) of a report.
pub fn open_report(report: &Report, filter: ResultFilter) -> Value {
    let namespaced = report.metadata().namespace.is_some();
    let view = shared(report, filter);
    let mut object = json!({
        "apiVersion": API_VERSION,
        "kind": if namespaced { "Report" } else { "ClusterReport" },
        "metadata": view.metadata,
        "source": SOURCE,
        "scope": view.scope,
        "summary": view.summary,
        "results": view.results,
    });
    if filter != ResultFilter::All {
        object["configuration"] = json!({"limits": {"statusFilter": filter.statuses()}});
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::policy_report::policy_report;
    use crate::{Index, Policy, audit_with_policy};

    fn reports(yaml: &str) -> Vec<Report> {
        let index = Index::from_yaml(yaml).unwrap();
        audit_with_policy(&index, &Policy::default(), "2026-11-27T10:20:30.5Z".parse().unwrap())
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, uid: u1}\nspec:\n  containers:\n  - {name: app, image: \"nginx:1.27\", securityContext: {privileged: true}}\n  - {name: side, image: \"busybox:1.36\", securityContext: {privileged: true}}\n";

    fn results(report: &Value) -> &Vec<Value> {
        report["results"].as_array().unwrap()
    }

    #[test]
    fn a_namespaced_subject_gets_a_scoped_report_of_failing_results() {
        let all = reports(POD);
        let pod = all.iter().find(|r| r.subject().kind == "Pod").unwrap();
        let report = open_report(pod, ResultFilter::Failing);
        assert_eq!(report["apiVersion"], "openreports.io/v1alpha1");
        assert_eq!(report["kind"], "Report");
        assert_eq!(report["source"], "vigil");
        assert_eq!(report["metadata"]["name"], "vigil-pod-web");
        assert_eq!(report["metadata"]["namespace"], "shop");
        assert_eq!(report["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(report["metadata"]["labels"]["app.kubernetes.io/managed-by"], "vigil");
        assert_eq!(
            report["scope"],
            json!({"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "shop", "uid": "u1"})
        );
        assert_eq!(report["configuration"]["limits"]["statusFilter"], json!(["fail", "warn", "error"]));
        // Only failing results, one per container at fault, each with what Policy Reporter shows.
        assert!(results(&report).iter().all(|r| r["result"] == "fail" || r["result"] == "error"), "{report:#}");
        let privileged: Vec<&Value> =
            results(&report).iter().filter(|r| r["policy"] == "privileged-container").collect();
        assert_eq!(privileged.len(), 2);
        let app = privileged.iter().find(|r| r["properties"]["container"] == "app").unwrap();
        assert_eq!(app["severity"], "critical");
        assert_eq!(app["category"], "pod-security");
        assert_eq!(app["source"], "vigil");
        assert_eq!(app["scored"], true);
        assert_eq!(app["properties"]["risk"], "10");
        assert_eq!(app["properties"]["securityPolicy"], "default");
        assert_eq!(app["timestamp"], json!({"seconds": 1_795_774_830i64, "nanos": 500_000_000}));
        assert!(app["message"].as_str().unwrap().contains("app"), "{app}");
        // The summary counts every result, also those not carried.
        let status = pod.status();
        let summary = &report["summary"];
        assert_eq!(summary["pass"], status.passed.len());
        assert_eq!(
            summary["fail"],
            status.findings.iter().filter(|f| f.result == vigil_crds::FindingResult::Fail).count()
        );
        assert_eq!(
            summary["fail"].as_u64().unwrap() + summary["error"].as_u64().unwrap(),
            results(&report).len() as u64
        );
        assert!(summary["pass"].as_u64().unwrap() > 0);
    }

    #[test]
    fn all_results_carry_passes_and_skips_and_match_the_summary() {
        let all = reports(POD);
        let pod = all.iter().find(|r| r.subject().kind == "Pod").unwrap();
        let report = open_report(pod, ResultFilter::All);
        assert!(report.get("configuration").is_none());
        let counted: u64 =
            ["pass", "fail", "warn", "error", "skip"].iter().map(|k| report["summary"][k].as_u64().unwrap()).sum();
        assert_eq!(counted, results(&report).len() as u64);
        let pass = results(&report).iter().find(|r| r["result"] == "pass").expect("a pass result");
        assert!(pass["policy"].is_string() && pass["scored"] == true);
        // Every value is one the schema's enums allow.
        for r in results(&report) {
            assert!(["pass", "fail", "warn", "error", "skip"].contains(&r["result"].as_str().unwrap()), "{r}");
            if let Some(severity) = r["severity"].as_str() {
                assert!(["critical", "high", "medium", "low", "info"].contains(&severity), "{r}");
            }
            assert!(r["properties"].as_object().into_iter().flatten().all(|(_, v)| v.is_string()), "{r}");
        }
    }

    #[test]
    fn cluster_scoped_subjects_get_cluster_reports_and_namespaces_have_no_namespace_in_scope() {
        let all = reports(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, uid: n1}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:x\", uid: c1}\nrules: [{apiGroups: [\"*\"], resources: [\"*\"], verbs: [\"*\"]}]\n",
        );
        let role = all.iter().find(|r| r.subject().kind == "ClusterRole").unwrap();
        let report = open_report(role, ResultFilter::Failing);
        assert_eq!(report["kind"], "ClusterReport");
        assert!(report["metadata"].get("namespace").is_none());
        assert_eq!(report["scope"]["name"], "system:x");
        assert!(report["metadata"]["name"].as_str().unwrap().starts_with("vigil-clusterrole-system-x-"));
        let namespace = all.iter().find(|r| r.subject().kind == "Namespace").unwrap();
        let report = open_report(namespace, ResultFilter::Failing);
        assert_eq!(report["kind"], "Report");
        assert_eq!(report["metadata"]["namespace"], "shop");
        assert!(report["scope"].get("namespace").is_none(), "{}", report["scope"]);
        let cluster = all.iter().find(|r| r.subject().kind == "Cluster").unwrap();
        assert_eq!(open_report(cluster, ResultFilter::Failing)["kind"], "ClusterReport");
    }

    #[test]
    fn waived_not_applicable_and_error_findings_map_to_skip_and_error() {
        use vigil_crds::{Finding, FindingResult, Severity};
        let mut all = reports(POD);
        let pod = all.iter_mut().find(|r| r.subject().kind == "Pod").unwrap();
        let Report::Namespaced(r) = pod else { panic!("a namespaced report") };
        let status = r.status.as_mut().unwrap();
        let finding = |id: &str, result, waived_by: Option<&str>| Finding {
            check_id: id.into(),
            result,
            severity: Severity::High,
            risk: 7,
            message: format!("{id} says so"),
            container: None,
            waived_by: waived_by.map(str::to_string),
        };
        status.findings = vec![
            finding("a", FindingResult::Waived, Some("shop/legacy")),
            finding("b", FindingResult::NotApplicable, None),
            finding("c", FindingResult::Error, None),
        ];
        status.passed = vec![];
        let failing = open_report(pod, ResultFilter::Failing);
        assert_eq!(results(&failing).len(), 1);
        assert_eq!(results(&failing)[0]["result"], "error");
        assert_eq!(results(&failing)[0]["scored"], false);
        assert_eq!(failing["summary"], json!({"pass": 0, "fail": 0, "warn": 0, "error": 1, "skip": 2}));
        let all = open_report(pod, ResultFilter::All);
        let waived = results(&all).iter().find(|r| r["policy"] == "a").unwrap();
        assert_eq!((waived["result"].as_str(), waived["scored"].as_bool()), (Some("skip"), Some(true)));
        assert_eq!(waived["properties"]["waivedBy"], "shop/legacy");
        let not_applicable = results(&all).iter().find(|r| r["policy"] == "b").unwrap();
        assert_eq!(
            (not_applicable["result"].as_str(), not_applicable["scored"].as_bool()),
            (Some("skip"), Some(false))
        );
    }

    #[test]
    fn both_formats_carry_the_same_results() {
        let all = reports(POD);
        for report in &all {
            for filter in [ResultFilter::Failing, ResultFilter::All] {
                let open = open_report(report, filter);
                let wg = policy_report(report, filter);
                assert_eq!(open["results"], wg["results"]);
                assert_eq!(open["summary"], wg["summary"]);
                assert_eq!(open["scope"], wg["scope"]);
                assert_eq!(open["metadata"], wg["metadata"]);
            }
        }
    }
}
