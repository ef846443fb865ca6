//! Objects as Vigil reads them: [`KubeObject`] (derived from the registry in [`crate::input::kinds`]), the
//! [`CustomObject`] form of kinds without a k8s-openapi type, Vigil's own [`VigilObject`]s, and what is
//! stripped before an object is stored.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use vigil_crds::{ClusterSecurityException, SecurityException, SecurityPolicy};

use crate::input::kinds::{CONNAISSEUR_GROUP, CUSTOM_SOURCES};
pub use crate::input::kinds::{CustomKind, KubeObject};

/// An object of a kind that has no k8s-openapi type (Istio, trivy-operator, Kyverno, Sigstore, CRDs).
/// Only metadata and the parts checks read are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomObject {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: serde_json::Value,
    /// trivy-operator keeps its results under `report`, not `spec`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub report: serde_json::Value,
}

impl CustomObject {
    /// Keeps only what checks read of a custom kind. A trivy-operator VulnerabilityReport lists every
    /// vulnerability (often hundreds of KiB); checks read its summary counts and which image it scanned.
    pub(crate) fn strip_for(&mut self, kind: crate::input::kinds::CustomKind) {
        if kind == crate::input::kinds::CustomKind::VulnerabilityReport
            && let Some(report) = self.report.as_object_mut()
        {
            report.retain(|key, _| matches!(key.as_str(), "summary" | "artifact" | "registry"));
        }
    }
}

impl From<CustomObject> for KubeObject {
    fn from(object: CustomObject) -> Self {
        let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        // Only objects of kinds `custom_kind` knows are ever stored; anything else is an image policy.
        let kind = custom_kind(group, &object.kind).unwrap_or(CustomKind::ImagePolicy);
        KubeObject::Custom(kind, Box::new(object))
    }
}

/// `(group, kind)` of a parsed document; the group is empty for the core API.
pub fn group_kind(value: &serde_json::Value) -> (String, String) {
    let api_version = value.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    let group = match api_version.rsplit_once('/') {
        Some((group, _version)) => group,
        None => "",
    };
    (group.to_string(), kind.to_string())
}

/// The custom kind Vigil reads for `(group, kind)`, if any.
pub fn custom_kind(group: &str, kind: &str) -> Option<CustomKind> {
    if group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition" {
        return Some(CustomKind::CustomResourceDefinition);
    }
    if group == CONNAISSEUR_GROUP {
        return Some(CustomKind::ImagePolicy);
    }
    CUSTOM_SOURCES.iter().find(|s| s.group == group && s.kind == kind).map(|s| s.store)
}

/// The custom store that holds objects of the source kind `kind` (as written in manifests), if any.
/// Several groups may use the same kind name (`Policy`): they feed the same store.
pub fn custom_kind_of(kind: &str) -> Option<CustomKind> {
    CUSTOM_SOURCES.iter().find(|s| s.kind == kind).map(|s| s.store)
}

/// Custom kinds are namespaced unless their name says otherwise (`ClusterPolicy`, `ClusterImagePolicy`)
/// or they are CRDs.
pub fn custom_is_namespaced(kind: CustomKind, source_kind: &str) -> bool {
    kind != CustomKind::CustomResourceDefinition && !source_kind.starts_with("Cluster")
}

/// A Vigil policy object (`vigil.dev`) found among manifests or in `--policy`/`--exceptions` files.
// A handful per scan: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum VigilObject {
    Policy(SecurityPolicy),
    Exception(SecurityException),
    ClusterException(ClusterSecurityException),
}

impl From<SecurityPolicy> for VigilObject {
    fn from(object: SecurityPolicy) -> Self {
        VigilObject::Policy(object)
    }
}

impl From<SecurityException> for VigilObject {
    fn from(object: SecurityException) -> Self {
        VigilObject::Exception(object)
    }
}

impl From<ClusterSecurityException> for VigilObject {
    fn from(object: ClusterSecurityException) -> Self {
        VigilObject::ClusterException(object)
    }
}

impl VigilObject {
    /// Converts a parsed `vigil.dev` document. `Ok(None)`: another Vigil kind (a report).
    pub fn from_value(value: serde_json::Value) -> Result<Option<VigilObject>, serde_json::Error> {
        let (_, kind) = group_kind(&value);
        Ok(Some(match kind.as_str() {
            "SecurityPolicy" => VigilObject::Policy(serde_json::from_value(value)?),
            "SecurityException" => VigilObject::Exception(serde_json::from_value(value)?),
            "ClusterSecurityException" => VigilObject::ClusterException(serde_json::from_value(value)?),
            _ => return Ok(None),
        }))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            VigilObject::Policy(_) => "SecurityPolicy",
            VigilObject::Exception(_) => "SecurityException",
            VigilObject::ClusterException(_) => "ClusterSecurityException",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            VigilObject::Policy(o) => &o.metadata,
            VigilObject::Exception(o) => &o.metadata,
            VigilObject::ClusterException(o) => &o.metadata,
        }
    }
}

/// Annotations no check reads that can be large: dropped before an object is stored.
const BULKY_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

impl KubeObject {
    /// Drops what no check reads (managedFields, last-applied-configuration, workload status), so the
    /// index stays small. Both front doors call this before storing an object.
    pub fn strip(&mut self) {
        let meta = self.metadata_mut();
        meta.managed_fields = None;
        // No check reads them, and they change on every write (status updates included): kept, a status-only
        // update would look like a change and re-judge its subjects.
        meta.resource_version = None;
        meta.generation = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            for key in BULKY_ANNOTATIONS {
                annotations.remove(*key);
            }
            if annotations.is_empty() {
                meta.annotations = None;
            }
        }
        self.strip_kind();
    }
}

#[cfg(test)]
mod strip_tests {
    use super::*;

    #[test]
    fn a_vulnerability_report_keeps_only_what_checks_read() {
        let value = serde_json::json!({
            "apiVersion": "aquasecurity.github.io/v1alpha1",
            "kind": "VulnerabilityReport",
            "metadata": {"name": "r", "namespace": "shop", "resourceVersion": "7"},
            "report": {
                "artifact": {"repository": "library/nginx", "tag": "1.27"},
                "registry": {"server": "index.docker.io"},
                "summary": {"criticalCount": 2, "highCount": 1},
                "vulnerabilities": [{"vulnerabilityID": "CVE-1", "title": "x".repeat(1000)}]
            }
        });
        let mut object = KubeObject::from_value(value).unwrap().unwrap();
        object.strip();
        let KubeObject::Custom(_, report) = object else { panic!("a custom object") };
        let keys: Vec<&String> = report.report.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["artifact", "registry", "summary"]);
        assert_eq!(report.metadata.resource_version, None);
    }
}
