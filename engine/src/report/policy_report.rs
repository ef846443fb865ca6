//! The wg-policy `PolicyReport` / `ClusterPolicyReport` (wgpolicyk8s.io/v1alpha2) view of a report, the
//! legacy format Policy Reporter (before 3.2) and older Kyverno read. One PolicyReport per subject, scoped
//! to it (like Kyverno's per-resource reports); the results are [`super::policy_results`]'s, shared with
//! the OpenReports view. Pure: the operator writes it, `vigil scan -o policyreport` prints it.

use serde_json::{Value, json};

use crate::report::Report;
use crate::report::policy_results::{ResultFilter, shared};

pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";

/// The PolicyReport (namespaced subjects) or ClusterPolicyReport (cluster-scoped) of a report. The
/// v1alpha2 schema has no report-level `source` or `configuration`: each result names its source.
pub fn policy_report(report: &Report, filter: ResultFilter) -> Value {
    let namespaced = report.metadata().namespace.is_some();
    let view = shared(report, filter);
    json!({
        "apiVersion": API_VERSION,
        "kind": if namespaced { "PolicyReport" } else { "ClusterPolicyReport" },
        "metadata": view.metadata,
        "scope": view.scope,
        "summary": view.summary,
        "results": view.results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Index, Policy, audit_with_policy};

    #[test]
    fn a_report_becomes_a_scoped_policy_report() {
        let index = Index::from_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, uid: u1}\nspec:\n  containers: [{name: app, image: \"nginx:1.27\", securityContext: {privileged: true}}]\n",
        )
        .unwrap();
        let reports = audit_with_policy(&index, &Policy::default(), "2026-11-27T00:00:00Z".parse().unwrap());
        let pod = reports.iter().find(|r| r.subject().kind == "Pod").unwrap();
        let pr = policy_report(pod, ResultFilter::All);
        assert_eq!(pr["kind"], "PolicyReport");
        assert_eq!(pr["metadata"]["name"], "vigil-pod-web");
        assert_eq!(pr["metadata"]["namespace"], "shop");
        assert_eq!(pr["scope"]["uid"], "u1");
        let privileged =
            pr["results"].as_array().unwrap().iter().find(|r| r["policy"] == "privileged-container").unwrap();
        assert_eq!(privileged["result"], "fail");
        assert_eq!(privileged["severity"], "critical");
        assert_eq!(privileged["properties"]["container"], "app");
        assert!(pr.get("source").is_none() && pr.get("configuration").is_none(), "not in the v1alpha2 schema");
        let summary = &pr["summary"];
        let total = pr["results"].as_array().unwrap().len() as u64;
        let counted: u64 = ["pass", "fail", "warn", "error", "skip"].iter().map(|k| summary[k].as_u64().unwrap()).sum();
        assert_eq!(counted, total);
        let cluster = reports.iter().find(|r| r.subject().kind == "Cluster").unwrap();
        assert_eq!(policy_report(cluster, ResultFilter::All)["kind"], "ClusterPolicyReport");
    }
}
