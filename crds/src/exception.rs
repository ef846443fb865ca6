// kube-derive's `printcolumn(...)` attributes repeat `type_ = ...`, which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

//! `SecurityException` (namespaced: waives findings of subjects in its own namespace only) and
//! `ClusterSecurityException` (waives findings of cluster-scoped subjects: ClusterRoles, bindings, nodes,
//! the cluster report). A matched `Fail` finding becomes `Waived` until `expiresAt`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Waives the failing findings of some checks on the subjects of this namespace that `match` selects.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "SecurityException",
    plural = "securityexceptions",
    shortname = "secx",
    namespaced,
    status = "SecurityExceptionStatus",
    derive = "PartialEq",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(name = "Active", type_ = "string", json_path = ".status.conditions[?(@.type==\"Active\")].status"),
    printcolumn(name = "Waived", type_ = "integer", json_path = ".status.waivedFindings"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityExceptionSpec {
    /// The check ids waived (catalog or custom).
    #[x_kube(validation = Rule::new("size(self) > 0").message("name at least one check"))]
    #[schemars(length(max = 64), inner(length(min = 1, max = 63)))]
    pub checks: Vec<String>,
    /// Which subjects, containers and images; unset fields match everything.
    #[serde(default, rename = "match")]
    pub matches: ExceptionMatch,
    /// Why the risk is accepted.
    #[x_kube(validation = Rule::new(r"self.matches(r'\S')").message("reason must not be empty"))]
    #[schemars(length(max = 2048))]
    pub reason: String,
    /// Who accepted it (a team or an e-mail address).
    #[x_kube(validation = Rule::new(r"self.matches(r'\S')").message("owner must not be empty"))]
    #[schemars(length(max = 256))]
    pub owner: String,
    /// A tracking ticket (URL or id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub ticket: Option<String>,
    /// When the exception stops waiving (RFC 3339); unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}

/// Like [`SecurityException`], for cluster-scoped subjects (ClusterRoles, ClusterRoleBindings, Nodes and
/// the `cluster` report).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "ClusterSecurityException",
    plural = "clustersecurityexceptions",
    shortname = "csecx",
    status = "SecurityExceptionStatus",
    derive = "PartialEq",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(name = "Active", type_ = "string", json_path = ".status.conditions[?(@.type==\"Active\")].status"),
    printcolumn(name = "Waived", type_ = "integer", json_path = ".status.waivedFindings"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecurityExceptionSpec {
    /// The check ids waived (catalog or custom).
    #[x_kube(validation = Rule::new("size(self) > 0").message("name at least one check"))]
    #[schemars(length(max = 64), inner(length(min = 1, max = 63)))]
    pub checks: Vec<String>,
    /// Which subjects, containers and images; unset fields match everything.
    #[serde(default, rename = "match")]
    pub matches: ExceptionMatch,
    /// Why the risk is accepted.
    #[x_kube(validation = Rule::new(r"self.matches(r'\S')").message("reason must not be empty"))]
    #[schemars(length(max = 2048))]
    pub reason: String,
    /// Who accepted it (a team or an e-mail address).
    #[x_kube(validation = Rule::new(r"self.matches(r'\S')").message("owner must not be empty"))]
    #[schemars(length(max = 256))]
    pub owner: String,
    /// A tracking ticket (URL or id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub ticket: Option<String>,
    /// When the exception stops waiving (RFC 3339); unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}

impl From<ClusterSecurityExceptionSpec> for SecurityExceptionSpec {
    fn from(spec: ClusterSecurityExceptionSpec) -> Self {
        // Listing every field keeps the two specs in step: a field added to one fails to compile here.
        let ClusterSecurityExceptionSpec { checks, matches, reason, owner, ticket, expires_at } = spec;
        SecurityExceptionSpec { checks, matches, reason, owner, ticket, expires_at }
    }
}

/// What an exception covers. Every field that is set must match (a list matches when any entry does);
/// `containers` and `images` only match findings about a container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionMatch {
    /// Subject kinds, as in reports (`Deployment`, `CronJob`, `Pod`, `Namespace`, `ClusterRole`, `Node`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub kinds: Vec<String>,
    /// Subject names; `*` matches any run of characters, `?` one character.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub names: Vec<String>,
    /// The subject's own labels (`metadata.labels`; for a workload, not its pod template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Container names (globs); only findings about a matching container are waived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub containers: Vec<String>,
    /// Image references (globs, `*` crosses `/` and `:`), e.g. `registry.example.com/legacy/*`; only
    /// findings about a container running a matching image are waived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub images: Vec<String>,
}

/// What an exception does now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityExceptionStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many findings it waives now.
    #[serde(default)]
    pub waived_findings: u32,
    /// `Active`: True, or False with reason `Expired` or `Invalid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
