// kube-derive's `printcolumn(...)` attributes repeat `type_ = ...`, which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

//! `SecurityPolicy` (cluster-scoped): which checks run where, at what risk, with which parameters, plus a
//! team's own checks in CEL. Several may exist; each namespace is judged by the one that wins for it (see
//! `docs/policy.md`). The engine compiles a policy into its own `Policy` and rejects it whole when anything
//! is wrong; the CRD's validation rules reject what they can at apply time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::Parameters;
use crate::report::Severity;

/// A policy: where it applies, which checks run, their parameters, and custom checks.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "SecurityPolicy",
    plural = "securitypolicies",
    shortname = "secpol",
    status = "SecurityPolicyStatus",
    derive = "PartialEq",
    validation = Rule::new("self.metadata.name != 'default'").message("the name `default` is reserved for the built-in policy"),
    printcolumn(name = "Priority", type_ = "integer", json_path = ".spec.priority"),
    printcolumn(name = "Accepted", type_ = "string", json_path = ".status.conditions[?(@.type==\"Accepted\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Accepted\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicySpec {
    /// When several policies select a namespace, the highest priority wins, then the name that sorts first.
    #[serde(default)]
    pub priority: i32,
    /// The namespaces this policy judges, by their labels (every namespace carries
    /// `kubernetes.io/metadata.name`). Unset or empty: every namespace, and then the policy may also judge
    /// cluster-scoped subjects (ClusterRoles, bindings, nodes, the cluster report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Which checks run and at what risk.
    #[serde(default)]
    pub checks: CheckSelection,
    /// The checks' parameters; unset fields take the catalog's defaults.
    #[serde(default)]
    pub parameters: Parameters,
    /// The team's own checks, in CEL, evaluated on every workload this policy judges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub custom_checks: Vec<CustomCheckSpec>,
    /// Compliance frameworks the operator reports on: one cluster-scoped `ComplianceReport` per framework
    /// any valid SecurityPolicy names (`pss`, `cis`, `nsa`, `mitre`). Unset or empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub frameworks: Vec<crate::compliance::FrameworkName>,
}

/// Switches checks on or off by id, category or severity, and overrides risks. An id decides over a
/// category or severity; among categories and severities, off decides over on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.enabled) || !has(self.disabled) || !has(self.enabled.ids) || !has(self.disabled.ids) || !self.enabled.ids.exists(id, id in self.disabled.ids)").message("a check id is both enabled and disabled"),
    validation = Rule::new("!has(self.enabled) || !has(self.disabled) || !has(self.enabled.categories) || !has(self.disabled.categories) || !self.enabled.categories.exists(c, c in self.disabled.categories)").message("a category is both enabled and disabled"),
    validation = Rule::new("!has(self.enabled) || !has(self.disabled) || !has(self.enabled.severities) || !has(self.disabled.severities) || !self.enabled.severities.exists(s, s in self.disabled.severities)").message("a severity is both enabled and disabled")
)]
pub struct CheckSelection {
    /// Checks switched on (also those the catalog disables by default).
    #[serde(default, skip_serializing_if = "CheckSet::is_empty")]
    pub enabled: CheckSet,
    /// Checks switched off.
    #[serde(default, skip_serializing_if = "CheckSet::is_empty")]
    pub disabled: CheckSet,
    /// Risk (0-10) per check id, replacing the catalog's; severity follows risk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub risk_overrides: Vec<RiskOverride>,
}

/// Checks named by id, by category, or by severity (the risk this policy gives them).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckSet {
    /// Check ids (catalog or this policy's custom checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub categories: Vec<CheckCategory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub severities: Vec<Severity>,
}

impl CheckSet {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.categories.is_empty() && self.severities.is_empty()
    }
}

/// The catalog's categories (`vigil checks` lists each check's).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckCategory {
    PodSecurity,
    Images,
    Network,
    Rbac,
    Resources,
    Governance,
    Mesh,
    Cluster,
}

impl CheckCategory {
    pub const ALL: [CheckCategory; 8] = [
        CheckCategory::PodSecurity,
        CheckCategory::Images,
        CheckCategory::Network,
        CheckCategory::Rbac,
        CheckCategory::Resources,
        CheckCategory::Governance,
        CheckCategory::Mesh,
        CheckCategory::Cluster,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckCategory::PodSecurity => "pod-security",
            CheckCategory::Images => "images",
            CheckCategory::Network => "network",
            CheckCategory::Rbac => "rbac",
            CheckCategory::Resources => "resources",
            CheckCategory::Governance => "governance",
            CheckCategory::Mesh => "mesh",
            CheckCategory::Cluster => "cluster",
        }
    }

    pub fn parse(text: &str) -> Option<CheckCategory> {
        CheckCategory::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A check's risk under this policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RiskOverride {
    #[schemars(length(max = 63))]
    pub id: String,
    #[x_kube(validation = Rule::new("self <= 10").message("risk is 0 to 10"))]
    pub risk: u8,
}

/// A check of the team's own: a CEL expression over `object` (the workload), `template` (its pod template)
/// and `namespace` (the Namespace object, or null). True passes; false fails with `message`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomCheckSpec {
    /// Kebab-case, unique, and not a catalog id; what exceptions and reports name.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub id: String,
    /// One line: what the check wants.
    #[schemars(length(max = 256))]
    pub title: String,
    /// 0-10; severity follows risk, and the score weighs the check by it.
    #[x_kube(validation = Rule::new("self <= 10").message("risk is 0 to 10"))]
    pub risk: u8,
    /// CEL; true means the workload passes.
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    /// The finding's message when the expression is false.
    #[schemars(length(min = 1, max = 1024))]
    pub message: String,
}

/// Whether the policy is in force. An invalid policy is never applied in part: the operator keeps
/// judging by the last accepted version.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicyStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: True, or False with the reason (UnknownCheck, InvalidExpression, ConflictingSettings, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
