//! The kinds Vigil reads, as one typed enum, and the conversion from a parsed document.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, Pod, ReplicationController, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use vigil_crds::{ClusterSecurityException, SecurityException, SecurityPolicy};

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

/// The kinds of custom objects Vigil reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CustomKind {
    /// security.istio.io PeerAuthentication
    PeerAuthentication,
    /// security.istio.io AuthorizationPolicy
    AuthorizationPolicy,
    /// aquasecurity.github.io VulnerabilityReport
    VulnerabilityReport,
    /// An admission policy that may verify image signatures: Kyverno (Cluster)Policy, Sigstore
    /// ClusterImagePolicy, Connaisseur/Ratify configurations.
    ImagePolicy,
    /// apiextensions.k8s.io CustomResourceDefinition (only its name is kept: which CRDs are installed).
    CustomResourceDefinition,
}

macro_rules! kube_objects {
    ($( $variant:ident($ty:ty) = $group:literal / $kind:literal ),* $(,)?) => {
        /// One object of a kind Vigil reads. Boxed: the typed objects differ a lot in size, and an unboxed
        /// enum would make every ServiceAccount as large as a Pod while it waits for its store.
        #[derive(Clone, Debug, PartialEq)]
        pub enum KubeObject {
            $( $variant(Box<$ty>), )*
            Custom(CustomKind, Box<CustomObject>),
        }

        impl KubeObject {
            /// The object's kind as written in manifests.
            pub fn kind(&self) -> &str {
                match self {
                    $( KubeObject::$variant(_) => $kind, )*
                    KubeObject::Custom(_, o) => &o.kind,
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $( KubeObject::$variant(o) => &o.metadata, )*
                    KubeObject::Custom(_, o) => &o.metadata,
                }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $( KubeObject::$variant(o) => &mut o.metadata, )*
                    KubeObject::Custom(_, o) => &mut o.metadata,
                }
            }

            /// Converts a parsed document. `Ok(None)`: a kind Vigil does not read.
            ///
            /// (See also the `From` impls: each typed object converts into its variant.)
            pub fn from_value(value: serde_json::Value) -> Result<Option<KubeObject>, serde_json::Error> {
                let (group, kind) = group_kind(&value);
                let object = match (group.as_str(), kind.as_str()) {
                    $( ($group, $kind) => KubeObject::$variant(Box::new(serde_json::from_value(value)?)), )*
                    (g, k) => match custom_kind(g, k) {
                        Some(ck) => KubeObject::Custom(ck, Box::new(serde_json::from_value(value)?)),
                        None => return Ok(None),
                    },
                };
                Ok(Some(object))
            }
        }
    };
}

macro_rules! from_typed {
    ($( $variant:ident($ty:ty) ),* $(,)?) => {
        $( impl From<$ty> for KubeObject {
            fn from(object: $ty) -> Self {
                KubeObject::$variant(Box::new(object))
            }
        } )*
    };
}

from_typed! {
    Pod(Pod), Deployment(Deployment), StatefulSet(StatefulSet), DaemonSet(DaemonSet), ReplicaSet(ReplicaSet),
    Job(Job), CronJob(CronJob), ReplicationController(ReplicationController), Namespace(Namespace),
    NetworkPolicy(NetworkPolicy), ResourceQuota(ResourceQuota), LimitRange(LimitRange),
    ServiceAccount(ServiceAccount), Service(Service), Ingress(Ingress), Role(Role), ClusterRole(ClusterRole),
    RoleBinding(RoleBinding), ClusterRoleBinding(ClusterRoleBinding), Node(Node),
    ValidatingWebhookConfiguration(ValidatingWebhookConfiguration),
    ValidatingAdmissionPolicy(ValidatingAdmissionPolicy),
    ValidatingAdmissionPolicyBinding(ValidatingAdmissionPolicyBinding),
}

impl From<CustomObject> for KubeObject {
    fn from(object: CustomObject) -> Self {
        let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        // Only objects of kinds `custom_kind` knows are ever stored; anything else is an image policy.
        let kind = custom_kind(group, &object.kind).unwrap_or(CustomKind::ImagePolicy);
        KubeObject::Custom(kind, Box::new(object))
    }
}

kube_objects! {
    Pod(Pod) = "" / "Pod",
    Deployment(Deployment) = "apps" / "Deployment",
    StatefulSet(StatefulSet) = "apps" / "StatefulSet",
    DaemonSet(DaemonSet) = "apps" / "DaemonSet",
    ReplicaSet(ReplicaSet) = "apps" / "ReplicaSet",
    Job(Job) = "batch" / "Job",
    CronJob(CronJob) = "batch" / "CronJob",
    ReplicationController(ReplicationController) = "" / "ReplicationController",
    Namespace(Namespace) = "" / "Namespace",
    NetworkPolicy(NetworkPolicy) = "networking.k8s.io" / "NetworkPolicy",
    ResourceQuota(ResourceQuota) = "" / "ResourceQuota",
    LimitRange(LimitRange) = "" / "LimitRange",
    ServiceAccount(ServiceAccount) = "" / "ServiceAccount",
    Service(Service) = "" / "Service",
    Ingress(Ingress) = "networking.k8s.io" / "Ingress",
    Role(Role) = "rbac.authorization.k8s.io" / "Role",
    ClusterRole(ClusterRole) = "rbac.authorization.k8s.io" / "ClusterRole",
    RoleBinding(RoleBinding) = "rbac.authorization.k8s.io" / "RoleBinding",
    ClusterRoleBinding(ClusterRoleBinding) = "rbac.authorization.k8s.io" / "ClusterRoleBinding",
    Node(Node) = "" / "Node",
    ValidatingWebhookConfiguration(ValidatingWebhookConfiguration) = "admissionregistration.k8s.io" / "ValidatingWebhookConfiguration",
    ValidatingAdmissionPolicy(ValidatingAdmissionPolicy) = "admissionregistration.k8s.io" / "ValidatingAdmissionPolicy",
    ValidatingAdmissionPolicyBinding(ValidatingAdmissionPolicyBinding) = "admissionregistration.k8s.io" / "ValidatingAdmissionPolicyBinding",
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
    Some(match (group, kind) {
        ("security.istio.io", "PeerAuthentication") => CustomKind::PeerAuthentication,
        ("security.istio.io", "AuthorizationPolicy") => CustomKind::AuthorizationPolicy,
        ("aquasecurity.github.io", "VulnerabilityReport") => CustomKind::VulnerabilityReport,
        ("kyverno.io", "ClusterPolicy" | "Policy")
        | ("policy.sigstore.dev", "ClusterImagePolicy" | "ImagePolicy")
        | ("connaisseur.policy", _)
        | ("config.ratify.deislabs.io", "Verifier" | "Policy") => CustomKind::ImagePolicy,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => CustomKind::CustomResourceDefinition,
        _ => return None,
    })
}

impl KubeObject {
    /// False for cluster-scoped kinds.
    pub fn is_namespaced(&self) -> bool {
        !matches!(
            self,
            KubeObject::Namespace(_)
                | KubeObject::ClusterRole(_)
                | KubeObject::ClusterRoleBinding(_)
                | KubeObject::Node(_)
                | KubeObject::ValidatingWebhookConfiguration(_)
                | KubeObject::ValidatingAdmissionPolicy(_)
                | KubeObject::ValidatingAdmissionPolicyBinding(_)
        ) && !matches!(self, KubeObject::Custom(_, o) if o.kind.starts_with("Cluster") || o.kind == "CustomResourceDefinition")
    }
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
        if let Some(annotations) = meta.annotations.as_mut() {
            for key in BULKY_ANNOTATIONS {
                annotations.remove(*key);
            }
            if annotations.is_empty() {
                meta.annotations = None;
            }
        }
        match self {
            KubeObject::Pod(o) => o.status = None,
            KubeObject::Deployment(o) => o.status = None,
            KubeObject::StatefulSet(o) => o.status = None,
            KubeObject::DaemonSet(o) => o.status = None,
            KubeObject::ReplicaSet(o) => o.status = None,
            KubeObject::Job(o) => o.status = None,
            KubeObject::CronJob(o) => o.status = None,
            KubeObject::ReplicationController(o) => o.status = None,
            KubeObject::Namespace(o) => o.status = None,
            KubeObject::Service(o) => o.status = None,
            KubeObject::Ingress(o) => o.status = None,
            KubeObject::Node(o) => {
                // Checks read only `status.nodeInfo`; images and conditions are most of a Node's bytes.
                if let Some(status) = o.status.as_mut() {
                    *status = k8s_openapi::api::core::v1::NodeStatus {
                        node_info: status.node_info.take(),
                        ..Default::default()
                    };
                }
            }
            _ => {}
        }
    }
}
