// kube-derive's `printcolumn(...)` attributes repeat `type_ = ...`, which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

//! `ComplianceReport` (cluster-scoped): how the cluster stands against one compliance framework, control
//! by control, derived from the SecurityReports. One per framework a SecurityPolicy enables, named after
//! the framework (`pss`, `cis`, `nsa`, `mitre`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A compliance framework Vigil maps its checks to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FrameworkName {
    /// Kubernetes Pod Security Standards (baseline and restricted), per Kubernetes version.
    Pss,
    /// CIS Kubernetes Benchmark.
    Cis,
    /// NSA-CISA Kubernetes Hardening Guide.
    Nsa,
    /// MITRE ATT&CK for Containers.
    Mitre,
}

impl FrameworkName {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameworkName::Pss => "pss",
            FrameworkName::Cis => "cis",
            FrameworkName::Nsa => "nsa",
            FrameworkName::Mitre => "mitre",
        }
    }
}

/// The cluster against one framework.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "ComplianceReport",
    plural = "compliancereports",
    shortname = "compr",
    status = "ComplianceReportStatus",
    printcolumn(name = "Framework", type_ = "string", json_path = ".spec.framework"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.version"),
    printcolumn(name = "Passed", type_ = "integer", json_path = ".status.summary.passed"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.summary.failed"),
    printcolumn(name = "Score", type_ = "integer", json_path = ".status.score"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReportSpec {
    pub framework: FrameworkName,
    /// The framework's full name.
    pub title: String,
}

/// Control by control, from every report's results (waived findings count as passed, as in scores).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReportStatus {
    /// The framework version judged (for Pod Security Standards, the cluster's Kubernetes version).
    pub version: String,
    /// `round(100 * passed / (passed + failed))` over the controls; unset when no control was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub score: Option<u8>,
    pub summary: ComplianceSummary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub controls: Vec<ControlStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<Time>,
}

/// Controls by verdict.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceSummary {
    pub passed: u32,
    pub failed: u32,
    /// Controls whose checks ran on no subject or were all NotApplicable or Error.
    pub not_evaluated: u32,
    /// Controls no Kubernetes API object can show.
    pub not_observable: u32,
    /// Controls the API could show but no Vigil check judges yet.
    pub not_checked: u32,
}

/// A control's verdict.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum ControlVerdict {
    Pass,
    Fail,
    NotEvaluated,
    NotObservable,
    NotChecked,
}

impl ControlVerdict {
    pub const ALL: [ControlVerdict; 5] = [
        ControlVerdict::Pass,
        ControlVerdict::Fail,
        ControlVerdict::NotEvaluated,
        ControlVerdict::NotObservable,
        ControlVerdict::NotChecked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControlVerdict::Pass => "Pass",
            ControlVerdict::Fail => "Fail",
            ControlVerdict::NotEvaluated => "NotEvaluated",
            ControlVerdict::NotObservable => "NotObservable",
            ControlVerdict::NotChecked => "NotChecked",
        }
    }
}

/// One control in the report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlStatus {
    pub id: String,
    pub title: String,
    pub verdict: ControlVerdict,
    /// The checks that evidence it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Subjects failing one of its checks.
    #[serde(default)]
    pub failing_subjects: u32,
    /// The first failing subjects (`Kind namespace/name`, or `Kind name`), at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// Why it was not evaluated, is not observable or not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
