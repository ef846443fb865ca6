//! The one read model of the cluster both front doors fill: typed objects keyed by namespace and name,
//! plus the lookups checks need. `vigil scan` fills it from files, the operator from watch streams.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

use crate::object::{CustomKind, CustomObject, KubeObject};

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// Objects of one kind, ordered by namespace then name, so a namespace's objects are one range.
#[derive(Debug)]
pub struct Store<T> {
    map: BTreeMap<ObjectKey, Arc<T>>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store { map: BTreeMap::new() }
    }
}

impl<T> Store<T> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<T>> {
        self.map.get(&(namespace.to_string(), name.to_string()))
    }

    /// The objects in one namespace (cluster-scoped objects: `""`).
    pub fn in_namespace<'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a Arc<T>> + 'a {
        let start = (namespace.to_string(), String::new());
        let ns = namespace.to_string();
        self.map.range(start..).take_while(move |((n, _), _)| *n == ns).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, key: ObjectKey, object: T) -> Option<Arc<T>> {
        self.map.insert(key, Arc::new(object))
    }

    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<Arc<T>> {
        self.map.remove(&(namespace.to_string(), name.to_string()))
    }
}

/// The API server's version, as `/version` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub git_version: String,
}

impl ServerVersion {
    /// Parses `1.31`, `v1.31.2`, `v1.31.2-eks-1234` and the like.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let (major, minor) = parse_major_minor(text)?;
        Some(ServerVersion { major, minor, git_version: text.to_string() })
    }
}

/// `(major, minor)` of a Kubernetes version string such as `v1.31.2+k3s1`.
pub fn parse_major_minor(text: &str) -> Option<(u32, u32)> {
    let text = text.trim().trim_start_matches('v');
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_text: String = parts.next()?.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((major, minor_text.parse().ok()?))
}

/// Typed stores per kind plus what Vigil knows about the cluster itself.
#[derive(Debug, Default)]
pub struct Index {
    pub pods: Store<Pod>,
    pub deployments: Store<Deployment>,
    pub stateful_sets: Store<StatefulSet>,
    pub daemon_sets: Store<DaemonSet>,
    pub replica_sets: Store<ReplicaSet>,
    pub jobs: Store<Job>,
    pub cron_jobs: Store<CronJob>,
    pub replication_controllers: Store<ReplicationController>,
    pub namespaces: Store<Namespace>,
    pub network_policies: Store<NetworkPolicy>,
    pub resource_quotas: Store<ResourceQuota>,
    pub limit_ranges: Store<LimitRange>,
    pub service_accounts: Store<ServiceAccount>,
    pub services: Store<Service>,
    pub ingresses: Store<Ingress>,
    pub roles: Store<Role>,
    pub cluster_roles: Store<ClusterRole>,
    pub role_bindings: Store<RoleBinding>,
    pub cluster_role_bindings: Store<ClusterRoleBinding>,
    pub nodes: Store<Node>,
    pub validating_webhooks: Store<ValidatingWebhookConfiguration>,
    pub admission_policies: Store<ValidatingAdmissionPolicy>,
    pub admission_policy_bindings: Store<ValidatingAdmissionPolicyBinding>,
    pub peer_authentications: Store<CustomObject>,
    pub authorization_policies: Store<CustomObject>,
    pub vulnerability_reports: Store<CustomObject>,
    pub image_policies: Store<CustomObject>,
    /// Names of installed CRDs (`peerauthentications.security.istio.io`, ...). The operator fills this from
    /// discovery; `vigil scan` from CRD objects and from custom objects found in its input.
    pub installed_crds: BTreeSet<String>,
    /// `None` when unknown (a scan of manifests without `--kube-version`).
    pub server_version: Option<ServerVersion>,
    /// Kinds the operator may not list (missing RBAC), with the reason: checks that read them say `Error`.
    pub unavailable: BTreeMap<String, String>,
}

/// CRD names that tell a mesh or scanner is installed.
pub mod crd_names {
    pub const ISTIO_PEER_AUTHENTICATION: &str = "peerauthentications.security.istio.io";
    pub const ISTIO_AUTHORIZATION_POLICY: &str = "authorizationpolicies.security.istio.io";
    pub const LINKERD_SERVER: &str = "servers.policy.linkerd.io";
    pub const TRIVY_VULNERABILITY_REPORT: &str = "vulnerabilityreports.aquasecurity.github.io";
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an object. Cluster-scoped kinds ignore any namespace.
    pub fn insert(&mut self, object: KubeObject) {
        let meta = object.metadata();
        let name = meta.name.clone().unwrap_or_default();
        let ns = meta.namespace.clone().unwrap_or_default();
        let namespaced = (ns, name.clone());
        let cluster = (String::new(), name);
        match object {
            KubeObject::Pod(o) => drop(self.pods.insert(namespaced, *o)),
            KubeObject::Deployment(o) => drop(self.deployments.insert(namespaced, *o)),
            KubeObject::StatefulSet(o) => drop(self.stateful_sets.insert(namespaced, *o)),
            KubeObject::DaemonSet(o) => drop(self.daemon_sets.insert(namespaced, *o)),
            KubeObject::ReplicaSet(o) => drop(self.replica_sets.insert(namespaced, *o)),
            KubeObject::Job(o) => drop(self.jobs.insert(namespaced, *o)),
            KubeObject::CronJob(o) => drop(self.cron_jobs.insert(namespaced, *o)),
            KubeObject::ReplicationController(o) => drop(self.replication_controllers.insert(namespaced, *o)),
            KubeObject::Namespace(o) => drop(self.namespaces.insert(cluster, *o)),
            KubeObject::NetworkPolicy(o) => drop(self.network_policies.insert(namespaced, *o)),
            KubeObject::ResourceQuota(o) => drop(self.resource_quotas.insert(namespaced, *o)),
            KubeObject::LimitRange(o) => drop(self.limit_ranges.insert(namespaced, *o)),
            KubeObject::ServiceAccount(o) => drop(self.service_accounts.insert(namespaced, *o)),
            KubeObject::Service(o) => drop(self.services.insert(namespaced, *o)),
            KubeObject::Ingress(o) => drop(self.ingresses.insert(namespaced, *o)),
            KubeObject::Role(o) => drop(self.roles.insert(namespaced, *o)),
            KubeObject::ClusterRole(o) => drop(self.cluster_roles.insert(cluster, *o)),
            KubeObject::RoleBinding(o) => drop(self.role_bindings.insert(namespaced, *o)),
            KubeObject::ClusterRoleBinding(o) => drop(self.cluster_role_bindings.insert(cluster, *o)),
            KubeObject::Node(o) => drop(self.nodes.insert(cluster, *o)),
            KubeObject::ValidatingWebhookConfiguration(o) => drop(self.validating_webhooks.insert(cluster, *o)),
            KubeObject::ValidatingAdmissionPolicy(o) => drop(self.admission_policies.insert(cluster, *o)),
            KubeObject::ValidatingAdmissionPolicyBinding(o) => drop(self.admission_policy_bindings.insert(cluster, *o)),
            KubeObject::Custom(kind, o) => self.insert_custom(kind, namespaced, *o),
        }
    }

    fn insert_custom(&mut self, kind: CustomKind, key: ObjectKey, mut object: CustomObject) {
        // The presence of a custom object proves its CRD is installed.
        let crd = match kind {
            CustomKind::PeerAuthentication => Some(crd_names::ISTIO_PEER_AUTHENTICATION),
            CustomKind::AuthorizationPolicy => Some(crd_names::ISTIO_AUTHORIZATION_POLICY),
            CustomKind::VulnerabilityReport => Some(crd_names::TRIVY_VULNERABILITY_REPORT),
            _ => None,
        };
        if let Some(crd) = crd {
            self.installed_crds.insert(crd.to_string());
        }
        match kind {
            CustomKind::PeerAuthentication => drop(self.peer_authentications.insert(key, object)),
            CustomKind::AuthorizationPolicy => drop(self.authorization_policies.insert(key, object)),
            CustomKind::VulnerabilityReport => drop(self.vulnerability_reports.insert(key, object)),
            CustomKind::ImagePolicy => drop(self.image_policies.insert(key, object)),
            CustomKind::CustomResourceDefinition => {
                // Only the name matters; the schema can be megabytes.
                object.spec = serde_json::Value::Null;
                if let Some(name) = object.metadata.name.take() {
                    self.installed_crds.insert(name);
                }
            }
        }
    }

    /// True when any CRD of the given API group is installed (e.g. `security.istio.io`).
    pub fn has_crd_group(&self, group: &str) -> bool {
        self.installed_crds.iter().any(|n| n.split_once('.').is_some_and(|(_, g)| g == group))
    }

    /// The labels of a namespace, when the Namespace object is known.
    pub fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get("", namespace).map(|n| n.metadata.labels.as_ref().unwrap_or(empty_map()))
    }
}

fn empty_map() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

/// Kinds kept in `image_policies`.
const IMAGE_POLICY_KINDS: &[&str] = &["ClusterPolicy", "Policy", "ClusterImagePolicy", "ImagePolicy", "Verifier"];

/// Runs `$body` with `$store` bound to the store of the kind named `$kind` (as [`KubeObject::kind`] names
/// it); evaluates to `$none` for a kind the index does not keep.
macro_rules! with_store {
    ($index:expr, $kind:expr, |$store:ident| $body:expr, $none:expr) => {
        match $kind {
            "Pod" => {
                let $store = &mut $index.pods;
                $body
            }
            "Deployment" => {
                let $store = &mut $index.deployments;
                $body
            }
            "StatefulSet" => {
                let $store = &mut $index.stateful_sets;
                $body
            }
            "DaemonSet" => {
                let $store = &mut $index.daemon_sets;
                $body
            }
            "ReplicaSet" => {
                let $store = &mut $index.replica_sets;
                $body
            }
            "Job" => {
                let $store = &mut $index.jobs;
                $body
            }
            "CronJob" => {
                let $store = &mut $index.cron_jobs;
                $body
            }
            "ReplicationController" => {
                let $store = &mut $index.replication_controllers;
                $body
            }
            "Namespace" => {
                let $store = &mut $index.namespaces;
                $body
            }
            "NetworkPolicy" => {
                let $store = &mut $index.network_policies;
                $body
            }
            "ResourceQuota" => {
                let $store = &mut $index.resource_quotas;
                $body
            }
            "LimitRange" => {
                let $store = &mut $index.limit_ranges;
                $body
            }
            "ServiceAccount" => {
                let $store = &mut $index.service_accounts;
                $body
            }
            "Service" => {
                let $store = &mut $index.services;
                $body
            }
            "Ingress" => {
                let $store = &mut $index.ingresses;
                $body
            }
            "Role" => {
                let $store = &mut $index.roles;
                $body
            }
            "ClusterRole" => {
                let $store = &mut $index.cluster_roles;
                $body
            }
            "RoleBinding" => {
                let $store = &mut $index.role_bindings;
                $body
            }
            "ClusterRoleBinding" => {
                let $store = &mut $index.cluster_role_bindings;
                $body
            }
            "Node" => {
                let $store = &mut $index.nodes;
                $body
            }
            "ValidatingWebhookConfiguration" => {
                let $store = &mut $index.validating_webhooks;
                $body
            }
            "ValidatingAdmissionPolicy" => {
                let $store = &mut $index.admission_policies;
                $body
            }
            "ValidatingAdmissionPolicyBinding" => {
                let $store = &mut $index.admission_policy_bindings;
                $body
            }
            "PeerAuthentication" => {
                let $store = &mut $index.peer_authentications;
                $body
            }
            "AuthorizationPolicy" => {
                let $store = &mut $index.authorization_policies;
                $body
            }
            "VulnerabilityReport" => {
                let $store = &mut $index.vulnerability_reports;
                $body
            }
            "ClusterPolicy" | "Policy" | "ClusterImagePolicy" | "ImagePolicy" | "Verifier" => {
                let $store = &mut $index.image_policies;
                $body
            }
            _ => $none,
        }
    };
}

impl Index {
    /// Removes an object by kind, namespace (empty for cluster-scoped kinds) and name.
    pub fn remove(&mut self, kind: &str, namespace: &str, name: &str) -> bool {
        if kind == "CustomResourceDefinition" {
            return self.installed_crds.remove(name);
        }
        with_store!(self, kind, |store| store.remove(namespace, name).is_some(), false)
    }

    /// The keys of every stored object of a kind (to find what a relist no longer has).
    pub fn keys(&mut self, kind: &str) -> Vec<ObjectKey> {
        if IMAGE_POLICY_KINDS.contains(&kind) {
            // Several kinds share this store.
            return self.image_policies.map.iter().filter(|(_, o)| o.kind == kind).map(|(k, _)| k.clone()).collect();
        }
        if kind == "CustomResourceDefinition" {
            return self.installed_crds.iter().map(|n| (String::new(), n.clone())).collect();
        }
        with_store!(self, kind, |store| store.map.keys().cloned().collect(), Vec::new())
    }

    /// A copy of a stored object (the operator needs the old state of a changed object to know what the
    /// change affects).
    pub fn get_object(&mut self, kind: &str, namespace: &str, name: &str) -> Option<KubeObject> {
        if kind == "CustomResourceDefinition" {
            return None;
        }
        with_store!(self, kind, |store| store.get(namespace, name).map(|o| KubeObject::from((**o).clone())), None)
    }

    /// Whether the index holds this object.
    pub fn contains(&mut self, kind: &str, namespace: &str, name: &str) -> bool {
        if kind == "CustomResourceDefinition" {
            return self.installed_crds.contains(name);
        }
        with_store!(self, kind, |store| store.get(namespace, name).is_some(), false)
    }
}
