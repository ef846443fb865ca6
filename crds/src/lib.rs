//! Vigil's custom resources, API group `vigil.dev`, version `v1alpha1`.
//!
//! The CRD YAML under `crds/` is generated from these types (`make crds`);
//! `tests/drift.rs` fails when the two disagree.

pub mod compliance;
pub mod exception;
pub mod policy;
pub mod report;
pub mod security_policy;

pub use compliance::{
    ComplianceReport, ComplianceReportSpec, ComplianceReportStatus, ComplianceSummary, ControlStatus, ControlVerdict,
    FrameworkName,
};
pub use exception::{
    ClusterSecurityException, ClusterSecurityExceptionSpec, ExceptionMatch, SecurityException, SecurityExceptionSpec,
    SecurityExceptionStatus,
};
pub use policy::{
    EnvironmentRegistries, MeshRequirement, Parameters, PodSecurityLevel, RegistryPolicy, VulnerabilityThreshold,
};
pub use report::{
    ClusterRollup, ClusterSecurityReport, ClusterSecurityReportSpec, Finding, FindingResult, NamespaceScore,
    PodSecurityBlocker, PodSecurityReadiness, PodSecurityViolation, ReportStatus, SecurityReport, SecurityReportSpec,
    Severity, Subject, Summary,
};

pub use security_policy::{
    CheckCategory, CheckSelection, CheckSet, CustomCheckSpec, RiskOverride, SecurityPolicy, SecurityPolicySpec,
    SecurityPolicyStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every Vigil kind.
pub const GROUP: &str = "vigil.dev";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Vigil object.
pub const API_VERSION: &str = "vigil.dev/v1alpha1";

/// Every CRD Vigil ships, with the file name it is written to under `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("securityreports.yaml", without_status_subresource(SecurityReport::crd())),
        ("clustersecurityreports.yaml", without_status_subresource(ClusterSecurityReport::crd())),
        ("compliancereports.yaml", without_status_subresource(ComplianceReport::crd())),
        // Policies and exceptions keep their status subresource: Vigil writes only their status, users
        // write their spec.
        ("securitypolicies.yaml", SecurityPolicy::crd()),
        ("securityexceptions.yaml", SecurityException::crd()),
        ("clustersecurityexceptions.yaml", ClusterSecurityException::crd()),
    ]
}

/// Reports are output only, written whole by Vigil: without a status subresource one server-side apply
/// writes spec and status together, instead of two writes per change.
fn without_status_subresource(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        version.subresources = None;
    }
    crd
}

/// Renders a CRD as the YAML written under `crds/` (stable key order, trailing newline).
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    let value = serde_json::to_value(crd).expect("a CRD always serializes");
    let mut out = String::from("# Generated from crds/src by `make crds`; do not edit.\n");
    out.push_str(&serde_saphyr::to_string(&value).expect("JSON values always serialize as YAML"));
    out
}
