//! The knobs of Vigil's checks. Shared by the engine's `Policy` (defaults = the catalog's) and by the
//! `SecurityPolicy` custom resource, so a policy read from a file and one read from the cluster are the
//! same type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::Severity;

/// Every parameter the check catalog names. Missing fields take the catalog's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// Image tags treated as mutable (`image-tag-mutable`).
    pub mutable_tags: Vec<String>,
    /// Capabilities a container may add (`capabilities-added`).
    pub allowed_capabilities: Vec<String>,
    /// Registry allow-lists per environment (`image-registry-allowed`); unset means not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries: Option<RegistryPolicy>,
    /// The Pod Security Admission level every namespace must enforce at least (`pod-security-admission`).
    pub pod_security_level: PodSecurityLevel,
    /// Which service mesh is required (`mesh-mtls-strict`).
    pub mesh: MeshRequirement,
    /// Annotation that must hold the owner's e-mail address (`owner-annotation`).
    pub owner_annotation: String,
    /// RuntimeClass names that count as sandboxed (`sandboxed-runtime`).
    pub sandbox_runtime_classes: Vec<String>,
    /// Substrings of a node's `osImage` that count as a hardened OS (`node-os-hardened`).
    pub hardened_os: Vec<String>,
    /// Host path prefixes that may be mounted read-only (`host-path-mount`).
    pub allowed_host_paths: Vec<String>,
    /// Namespaces left out of namespace and workload checks.
    pub system_namespaces: Vec<String>,
    /// Also require default-deny and coverage for Egress (`network-policy-*`).
    pub egress_required: bool,
    /// Lowest vulnerability severity that fails `image-vulnerabilities` (Critical or High).
    pub vulnerability_threshold: VulnerabilityThreshold,
    /// A failing finding at or above this severity makes the report's `Compliant` condition False.
    pub alert_severity: Severity,
    /// Also audit built-in `system:` roles and bindings.
    pub include_system_rbac: bool,
}

impl Default for Parameters {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Parameters {
            mutable_tags: strings(&["latest", "dev", "master", "main"]),
            allowed_capabilities: strings(&["NET_BIND_SERVICE"]),
            registries: None,
            pod_security_level: PodSecurityLevel::Baseline,
            mesh: MeshRequirement::None,
            owner_annotation: "owner".into(),
            sandbox_runtime_classes: strings(&["gvisor", "runsc", "kata", "kata-qemu", "kata-fc", "kata-clh"]),
            hardened_os: strings(&[
                "Container-Optimized OS",
                "Bottlerocket",
                "Flatcar",
                "Talos",
                "Fedora CoreOS",
                "Red Hat Enterprise Linux CoreOS",
            ]),
            allowed_host_paths: Vec::new(),
            system_namespaces: strings(&["kube-system", "kube-public", "kube-node-lease"]),
            egress_required: false,
            vulnerability_threshold: VulnerabilityThreshold::Critical,
            alert_severity: Severity::High,
            include_system_rbac: false,
        }
    }
}

/// Registries allowed per environment. A namespace's environment is the value of its label
/// `environmentLabel` (e.g. `env=prod`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryPolicy {
    /// Namespace label whose value names the environment.
    pub environment_label: String,
    /// Allowed registry prefixes per environment.
    #[serde(default)]
    pub environments: Vec<EnvironmentRegistries>,
    /// Allowed prefixes for namespaces without the label or with an unlisted value; empty allows nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_registries: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentRegistries {
    /// Label value, e.g. `prod`.
    pub name: String,
    /// Registry prefixes, e.g. `registry.example.com/prod/`.
    pub registries: Vec<String>,
}

/// Pod Security Standards levels, weakest first.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Privileged,
    #[default]
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "privileged" => Some(Self::Privileged),
            "baseline" => Some(Self::Baseline),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

/// Which service mesh a namespace must be in. `None`: none is required, and mesh checks are
/// NotApplicable unless a mesh's CRDs are installed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeshRequirement {
    #[default]
    None,
    Istio,
    Linkerd,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum VulnerabilityThreshold {
    #[default]
    Critical,
    High,
}
