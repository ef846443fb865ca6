// kube-derive's `printcolumn(...)` attributes repeat `type_ = ...`, which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

//! `SecurityReport` (namespaced) and `ClusterSecurityReport` (cluster-scoped): the results of one subject.
//!
//! Reports stay small on purpose: titles and remediation text live in the catalog (`vigil checks`,
//! `docs/checks.md`), a report carries ids, results and one short message per finding.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The object a report is about.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Set for namespaced subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Empty when the subject came from a manifest that has none (`vigil scan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// Results of the checks that apply to one namespaced subject (workload, Namespace, Service, Ingress,
/// Role, RoleBinding).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "SecurityReport",
    plural = "securityreports",
    shortname = "secr",
    namespaced,
    status = "ReportStatus",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.subject.kind"),
    printcolumn(name = "Subject", type_ = "string", json_path = ".spec.subject.name"),
    printcolumn(name = "Score", type_ = "integer", json_path = ".status.score"),
    printcolumn(name = "Critical", type_ = "integer", json_path = ".status.summary.critical"),
    printcolumn(name = "High", type_ = "integer", json_path = ".status.summary.high"),
    printcolumn(name = "Medium", type_ = "integer", json_path = ".status.summary.medium"),
    printcolumn(name = "Low", type_ = "integer", json_path = ".status.summary.low"),
    printcolumn(name = "PSS-Ready", type_ = "string", json_path = ".status.podSecurity.readyLevel", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityReportSpec {
    pub subject: Subject,
}

/// Results for a cluster-scoped subject (ClusterRole, ClusterRoleBinding, Node) and the one report named
/// `cluster`, which also carries the cluster-wide roll-up.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "ClusterSecurityReport",
    plural = "clustersecurityreports",
    shortname = "csecr",
    status = "ReportStatus",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.subject.kind"),
    printcolumn(name = "Subject", type_ = "string", json_path = ".spec.subject.name"),
    printcolumn(name = "Score", type_ = "integer", json_path = ".status.score"),
    printcolumn(name = "Critical", type_ = "integer", json_path = ".status.summary.critical"),
    printcolumn(name = "High", type_ = "integer", json_path = ".status.summary.high"),
    printcolumn(name = "Medium", type_ = "integer", json_path = ".status.summary.medium"),
    printcolumn(name = "Low", type_ = "integer", json_path = ".status.summary.low"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecurityReportSpec {
    pub subject: Subject,
}

/// What a report says about its subject.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportStatus {
    /// `round(100 * (1 - failed_risk / evaluated_risk))` over the checks evaluated (Pass, Fail, Waived).
    #[schemars(range(min = 0, max = 100))]
    pub score: u8,
    pub summary: Summary,
    /// Every result that is not Pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Ids of the checks that passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<Time>,
    /// The policy the subject was judged by (`default` for the built-in one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The cluster-wide roll-up; only on the ClusterSecurityReport named `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterRollup>,
    /// Pod Security readiness of the namespace's workloads; only on a Namespace's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurityReadiness>,
    /// Kubernetes conditions; `Compliant` is always present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Failing checks by severity (what the printer columns show), and checks by result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub pass: u32,
    pub fail: u32,
    pub waived: u32,
    pub not_applicable: u32,
    pub error: u32,
}

/// One result that is not Pass.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check_id: String,
    pub result: FindingResult,
    pub severity: Severity,
    #[schemars(range(min = 0, max = 10))]
    pub risk: u8,
    /// Names the container and field at fault, or the reason for NotApplicable and Error.
    pub message: String,
    /// The container at fault, for container-level checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The exception that waives this finding (`namespace/name`, or `name` for cluster exceptions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived_by: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum FindingResult {
    Fail,
    Waived,
    NotApplicable,
    Error,
}

/// Severity follows risk: 9-10 Critical, 7-8 High, 4-6 Medium, 0-3 Low.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn from_risk(risk: u8) -> Self {
        match risk {
            9.. => Severity::Critical,
            7..=8 => Severity::High,
            4..=6 => Severity::Medium,
            _ => Severity::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            other => Err(format!("unknown severity {other:?}: expected critical, high, medium or low")),
        }
    }
}

/// The strictest Pod Security Standards level a namespace can enforce without rejecting any of its
/// current workloads, and what blocks the next level.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityReadiness {
    /// The strictest level every current workload passes (`privileged` when one fails `baseline`).
    pub ready_level: crate::PodSecurityLevel,
    /// The Pod Security Standards version judged (`v1.32`): the API server's, or the newest Vigil knows.
    pub version: String,
    /// Why the version is not the API server's own, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_note: Option<String>,
    /// The namespace's `pod-security.kubernetes.io/enforce` label, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced: Option<String>,
    /// Workloads judged (top-level owners of pod templates, and bare Pods).
    pub workloads: u32,
    /// The next stricter level, absent when `readyLevel` is `restricted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_level: Option<crate::PodSecurityLevel>,
    /// How many workloads fail the next level.
    #[serde(default)]
    pub blocking_workloads: u32,
    /// Those workloads and the controls they fail (the first 20 by kind and name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<PodSecurityBlocker>,
}

/// A workload that the next Pod Security level would reject.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityBlocker {
    pub kind: String,
    pub name: String,
    pub violations: Vec<PodSecurityViolation>,
}

/// One Pod Security Standards control a workload fails, in the words Pod Security Admission uses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityViolation {
    /// The pod-security-admission check id (`allowPrivilegeEscalation`, `capabilities_restricted`, ...).
    pub control: String,
    /// The reason Pod Security Admission gives (`allowPrivilegeEscalation != false`).
    pub reason: String,
    /// Which containers and fields (`container "app" must set securityContext.allowPrivilegeEscalation=false`).
    pub detail: String,
}

/// The cluster-wide roll-up carried by the `cluster` report.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRollup {
    /// Score over every report's evaluated checks.
    #[schemars(range(min = 0, max = 100))]
    pub score: u8,
    /// Failing findings across all reports, by severity.
    pub failing: Summary,
    /// How many reports the roll-up covers.
    pub reports: u32,
    /// The lowest-scoring namespaces, worst first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worst_namespaces: Vec<NamespaceScore>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceScore {
    pub namespace: String,
    #[schemars(range(min = 0, max = 100))]
    pub score: u8,
    pub critical: u32,
    pub high: u32,
}
