//! The wg-policy `PolicyReport` / `ClusterPolicyReport` (wgpolicyk8s.io/v1alpha2) view of a report, so
//! Policy Reporter and its UI show Vigil's results beside other tools'. One PolicyReport per subject,
//! scoped to it (like Kyverno's per-resource reports). Pure: the operator writes it, `vigil scan -o
//! policyreport` prints it.

use serde_json::{Value, json};
use vigil_crds::FindingResult;

use crate::checks::catalog;
use crate::report::{Report, labels};

pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";

/// The PolicyReport (namespaced subjects) or ClusterPolicyReport (cluster-scoped) of a report.
pub fn policy_report(report: &Report) -> Value {
    let subject = report.subject();
    let status = report.status();
    let meta = report.metadata();
    let namespaced = meta.namespace.is_some();
    let timestamp = status.evaluated_at.as_ref().map(|t| t.0).unwrap_or_default();
    let category = |id: &str| catalog::find(id).map(|c| c.category.as_str()).unwrap_or("custom");
    let mut results = Vec::new();
    let (mut pass, mut fail, mut error, mut skip) = (0, 0, 0, 0);
    for f in &status.findings {
        let result = match f.result {
            FindingResult::Fail => {
                fail += 1;
                "fail"
            }
            FindingResult::Waived | FindingResult::NotApplicable => {
                skip += 1;
                "skip"
            }
            FindingResult::Error => {
                error += 1;
                "error"
            }
        };
        let mut properties = serde_json::Map::new();
        if let Some(c) = &f.container {
            properties.insert("container".into(), c.clone().into());
        }
        if let Some(by) = &f.waived_by {
            properties.insert("waivedBy".into(), by.clone().into());
        }
        properties.insert("risk".into(), f.risk.to_string().into());
        results.push(json!({
            "source": "vigil",
            "policy": f.check_id,
            "category": category(&f.check_id),
            "severity": f.severity.as_str(),
            "result": result,
            "message": f.message,
            "scored": true,
            "timestamp": {"seconds": timestamp.as_second(), "nanos": 0},
            "properties": properties,
        }));
    }
    for id in &status.passed {
        pass += 1;
        results.push(json!({
            "source": "vigil",
            "policy": id,
            "category": category(id),
            "result": "pass",
            "scored": true,
            "timestamp": {"seconds": timestamp.as_second(), "nanos": 0},
        }));
    }
    let mut scope = json!({"apiVersion": subject.api_version, "kind": subject.kind, "name": subject.name});
    if let Some(ns) = subject.namespace.as_ref().filter(|_| subject.kind != "Namespace") {
        scope["namespace"] = ns.clone().into();
    }
    if let Some(uid) = &subject.uid {
        scope["uid"] = uid.clone().into();
    }
    let mut metadata = json!({
        "name": format!("vigil-{}", meta.name.as_deref().unwrap_or("")),
        "labels": {labels::MANAGED_BY: "vigil"},
    });
    if let Some(ns) = &meta.namespace {
        metadata["namespace"] = ns.clone().into();
    }
    if let Some(owners) = &meta.owner_references {
        metadata["ownerReferences"] = serde_json::to_value(owners).unwrap_or_default();
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": if namespaced { "PolicyReport" } else { "ClusterPolicyReport" },
        "metadata": metadata,
        "scope": scope,
        "summary": {"pass": pass, "fail": fail, "warn": 0, "error": error, "skip": skip},
        "results": results,
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
        let pr = policy_report(pod);
        assert_eq!(pr["kind"], "PolicyReport");
        assert_eq!(pr["metadata"]["name"], "vigil-pod-web");
        assert_eq!(pr["metadata"]["namespace"], "shop");
        assert_eq!(pr["scope"]["uid"], "u1");
        let privileged =
            pr["results"].as_array().unwrap().iter().find(|r| r["policy"] == "privileged-container").unwrap();
        assert_eq!(privileged["result"], "fail");
        assert_eq!(privileged["severity"], "critical");
        assert_eq!(privileged["properties"]["container"], "app");
        let summary = &pr["summary"];
        let total = pr["results"].as_array().unwrap().len() as u64;
        let counted: u64 = ["pass", "fail", "warn", "error", "skip"].iter().map(|k| summary[k].as_u64().unwrap()).sum();
        assert_eq!(counted, total);
        let cluster = reports.iter().find(|r| r.subject().kind == "Cluster").unwrap();
        assert_eq!(policy_report(cluster)["kind"], "ClusterPolicyReport");
    }
}
