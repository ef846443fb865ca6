//! The registry of kinds: every Kubernetes kind Vigil reads is declared once, in [`kinds!`] below, and
//! everything per kind is derived from that one line: the [`Kind`] id that checks name in `reads`, the
//! [`KubeObject`](crate::KubeObject) variant and its conversions, the [`Index`](crate::Index) store and
//! its lookups by kind, what is stripped before storing, and (through [`for_each_typed_kind!`]) the
//! operator's watch registration. Adding a kind touches this file only.
//!
//! Kinds without a k8s-openapi type (Istio, trivy-operator, admission policy engines) are read as a
//! [`CustomObject`](crate::input::object::CustomObject); [`CUSTOM_SOURCES`] says which group/kind feeds which
//! custom store and which CRD proves it is installed.

/// Namespaced or cluster-scoped: where the index keys an object (cluster-scoped kinds ignore any
/// namespace a manifest gives them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// The registry: calls `$callback!` with `typed { ... }`, one entry per kind with a k8s-openapi type
/// (`Variant(Type) = "group" in index_field, Scope, [stored packed,] strip <what to drop before storing>;`;
/// `stored packed`: the index keeps typed metadata and the rest as JSON bytes, see
/// [`crate::input::packed`]), followed by
/// whatever else the caller passes. The engine derives its types from it; the operator registers its
/// watches and the bench counts objects with it, so none of them keeps a list of its own.
#[macro_export]
macro_rules! for_each_typed_kind {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            typed {
            // A Pod with a workload controller is no subject of its own: see `object::strip_controlled_pod`.
            Pod(k8s_openapi::api::core::v1::Pod) = "" in pods, Namespaced, stored packed, strip |o| {
                o.status = None;
                $crate::input::object::strip_controlled_pod(o);
            };
            Deployment(k8s_openapi::api::apps::v1::Deployment) = "apps" in deployments, Namespaced, stored packed, strip |o| o.status = None;
            StatefulSet(k8s_openapi::api::apps::v1::StatefulSet) = "apps" in stateful_sets, Namespaced, stored packed, strip |o| o.status = None;
            DaemonSet(k8s_openapi::api::apps::v1::DaemonSet) = "apps" in daemon_sets, Namespaced, stored packed, strip |o| o.status = None;
            // A Deployment's ReplicaSets and a CronJob's Jobs are read only to link Pods to their owner.
            ReplicaSet(k8s_openapi::api::apps::v1::ReplicaSet) = "apps" in replica_sets, Namespaced, stored packed, strip |o| {
                o.status = None;
                if $crate::input::object::keep_only_ownership("ReplicaSet", &mut o.metadata) {
                    o.spec = None;
                }
            };
            Job(k8s_openapi::api::batch::v1::Job) = "batch" in jobs, Namespaced, stored packed, strip |o| {
                o.status = None;
                if $crate::input::object::keep_only_ownership("Job", &mut o.metadata) {
                    o.spec = None;
                }
            };
            CronJob(k8s_openapi::api::batch::v1::CronJob) = "batch" in cron_jobs, Namespaced, stored packed, strip |o| o.status = None;
            ReplicationController(k8s_openapi::api::core::v1::ReplicationController) = "" in replication_controllers, Namespaced, stored packed, strip |o| o.status = None;
            Namespace(k8s_openapi::api::core::v1::Namespace) = "" in namespaces, Cluster, strip |o| o.status = None;
            NetworkPolicy(k8s_openapi::api::networking::v1::NetworkPolicy) = "networking.k8s.io" in network_policies, Namespaced, strip |_| {};
            ResourceQuota(k8s_openapi::api::core::v1::ResourceQuota) = "" in resource_quotas, Namespaced, strip |_| {};
            LimitRange(k8s_openapi::api::core::v1::LimitRange) = "" in limit_ranges, Namespaced, strip |_| {};
            ServiceAccount(k8s_openapi::api::core::v1::ServiceAccount) = "" in service_accounts, Namespaced, strip |_| {};
            Service(k8s_openapi::api::core::v1::Service) = "" in services, Namespaced, strip |o| o.status = None;
            Ingress(k8s_openapi::api::networking::v1::Ingress) = "networking.k8s.io" in ingresses, Namespaced, strip |o| o.status = None;
            Role(k8s_openapi::api::rbac::v1::Role) = "rbac.authorization.k8s.io" in roles, Namespaced, strip |_| {};
            ClusterRole(k8s_openapi::api::rbac::v1::ClusterRole) = "rbac.authorization.k8s.io" in cluster_roles, Cluster, strip |_| {};
            RoleBinding(k8s_openapi::api::rbac::v1::RoleBinding) = "rbac.authorization.k8s.io" in role_bindings, Namespaced, strip |_| {};
            ClusterRoleBinding(k8s_openapi::api::rbac::v1::ClusterRoleBinding) = "rbac.authorization.k8s.io" in cluster_role_bindings, Cluster, strip |_| {};
            // Checks read only `status.nodeInfo`; images and conditions are most of a Node's bytes.
            Node(k8s_openapi::api::core::v1::Node) = "" in nodes, Cluster, strip |o| {
                if let Some(status) = o.status.as_mut() {
                    *status = k8s_openapi::api::core::v1::NodeStatus {
                        node_info: status.node_info.take(),
                        ..Default::default()
                    };
                }
            };
            ValidatingWebhookConfiguration(k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration) = "admissionregistration.k8s.io" in validating_webhooks, Cluster, strip |_| {};
            ValidatingAdmissionPolicy(k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy) = "admissionregistration.k8s.io" in admission_policies, Cluster, strip |o| o.status = None;
            ValidatingAdmissionPolicyBinding(k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding) = "admissionregistration.k8s.io" in admission_policy_bindings, Cluster, strip |_| {};
            }
            $($($extra)*)?
        }
    };
}

/// Derives the engine's per-kind types and code from the registry ([`for_each_typed_kind!`]) and the
/// custom stores.
macro_rules! kinds {
    (
        typed {
            $( $variant:ident($ty:ty) = $group:literal in $field:ident, $scope:ident, $(stored $form:ident,)? strip $strip:expr; )*
        }
        custom {
            $( $cvariant:ident in $cfield:ident, $cscope:ident: $cdoc:literal; )*
        }
    ) => {
        $( $crate::index_form!($($form)? $ty); )*

        /// A kind Vigil reads, as checks name it in `reads`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $( $variant, )*
            $( #[doc = $cdoc] $cvariant, )*
            /// apiextensions.k8s.io CustomResourceDefinition: only the names are kept (which CRDs are
            /// installed).
            CustomResourceDefinition,
        }

        impl Kind {
            /// Every typed kind (with a k8s-openapi type), in registry order.
            pub const TYPED: &[Kind] = &[ $( Kind::$variant, )* ];

            /// The kind as written in manifests; a custom store's name for custom kinds.
            pub fn name(self) -> &'static str {
                match self {
                    $( Kind::$variant => stringify!($variant), )*
                    $( Kind::$cvariant => stringify!($cvariant), )*
                    Kind::CustomResourceDefinition => "CustomResourceDefinition",
                }
            }

            /// The API group of a typed kind (empty for the core group); `None` for custom kinds, which
            /// come from several groups ([`CUSTOM_SOURCES`]).
            pub fn group(self) -> Option<&'static str> {
                match self {
                    $( Kind::$variant => Some($group), )*
                    _ => None,
                }
            }

            /// The typed kind named `kind` (as written in manifests).
            pub fn typed(kind: &str) -> Option<Kind> {
                match kind {
                    $( stringify!($variant) => Some(Kind::$variant), )*
                    _ => None,
                }
            }

            /// Whether the index keeps objects of this kind packed ([`crate::input::packed`]).
            pub fn is_packed(self) -> bool {
                match self {
                    $( Kind::$variant => {
                        let forms: &[&str] = &[$(stringify!($form))?];
                        forms == ["packed"]
                    } )*
                    _ => false,
                }
            }

            pub fn scope(self) -> $crate::input::kinds::Scope {
                match self {
                    $( Kind::$variant => $crate::input::kinds::Scope::$scope, )*
                    $( Kind::$cvariant => $crate::input::kinds::Scope::$cscope, )*
                    Kind::CustomResourceDefinition => $crate::input::kinds::Scope::Cluster,
                }
            }
        }

        /// The kinds of custom objects Vigil reads.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CustomKind {
            $( #[doc = $cdoc] $cvariant, )*
            /// apiextensions.k8s.io CustomResourceDefinition (only its name is kept).
            CustomResourceDefinition,
        }

        impl From<CustomKind> for Kind {
            fn from(kind: CustomKind) -> Kind {
                match kind {
                    $( CustomKind::$cvariant => Kind::$cvariant, )*
                    CustomKind::CustomResourceDefinition => Kind::CustomResourceDefinition,
                }
            }
        }

        /// One object of a kind Vigil reads. Boxed: the typed objects differ a lot in size, and an unboxed
        /// enum would make every ServiceAccount as large as a Pod while it waits for its store.
        #[derive(Clone, Debug, PartialEq)]
        pub enum KubeObject {
            $( $variant(Box<$ty>), )*
            Custom(CustomKind, Box<$crate::input::object::CustomObject>),
        }

        $( impl From<$ty> for KubeObject {
            fn from(object: $ty) -> Self {
                KubeObject::$variant(Box::new(object))
            }
        } )*

        impl KubeObject {
            /// The object's kind as written in manifests.
            pub fn kind(&self) -> &str {
                match self {
                    $( KubeObject::$variant(_) => stringify!($variant), )*
                    KubeObject::Custom(_, o) => &o.kind,
                }
            }

            /// The registry's kind (the store it goes to).
            pub fn registry_kind(&self) -> Kind {
                match self {
                    $( KubeObject::$variant(_) => Kind::$variant, )*
                    KubeObject::Custom(kind, _) => Kind::from(*kind),
                }
            }

            pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                match self {
                    $( KubeObject::$variant(o) => &o.metadata, )*
                    KubeObject::Custom(_, o) => &o.metadata,
                }
            }

            pub fn metadata_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                match self {
                    $( KubeObject::$variant(o) => &mut o.metadata, )*
                    KubeObject::Custom(_, o) => &mut o.metadata,
                }
            }

            /// False for cluster-scoped kinds.
            pub fn is_namespaced(&self) -> bool {
                match self {
                    KubeObject::Custom(kind, o) => $crate::input::object::custom_is_namespaced(*kind, &o.kind),
                    other => other.registry_kind().scope() == $crate::input::kinds::Scope::Namespaced,
                }
            }

            /// Converts a parsed document. `Ok(None)`: a kind Vigil does not read.
            pub fn from_value(value: serde_json::Value) -> Result<Option<KubeObject>, serde_json::Error> {
                let (group, kind) = $crate::input::object::group_kind(&value);
                let object = match (group.as_str(), kind.as_str()) {
                    $( ($group, stringify!($variant)) => KubeObject::$variant(Box::new(serde_json::from_value(value)?)), )*
                    (group, kind) => match $crate::input::object::custom_kind(group, kind) {
                        Some(ck) => KubeObject::Custom(ck, Box::new(serde_json::from_value(value)?)),
                        None => return Ok(None),
                    },
                };
                Ok(Some(object))
            }

            /// Drops what no check reads (kind-specific: workload status; common: see `strip`).
            pub(crate) fn strip_kind(&mut self) {
                match self {
                    $( KubeObject::$variant(o) => {
                        let strip: fn(&mut $ty) = $strip;
                        strip(o)
                    } )*
                    KubeObject::Custom(kind, o) => o.strip_for(*kind),
                }
            }
        }

        /// An object in the form the index keeps it (pod-template kinds [packed](crate::input::packed)): what
        /// the loader holds between reading a document and indexing it, so a large input never holds every
        /// object's typed form at once.
        #[derive(Debug, PartialEq)]
        pub enum StoredObject {
            $( $variant(Box<<$ty as $crate::input::packed::IndexForm>::Stored>), )*
            Custom(CustomKind, Box<$crate::input::object::CustomObject>),
        }

        impl KubeObject {
            /// The object in the index's form (packs a pod-template kind: strip it first).
            pub fn into_stored(self) -> StoredObject {
                match self {
                    $( KubeObject::$variant(o) => StoredObject::$variant(Box::new($crate::input::packed::IndexForm::store(*o))), )*
                    KubeObject::Custom(kind, o) => StoredObject::Custom(kind, o),
                }
            }
        }

        impl StoredObject {
            /// The object's kind as written in manifests.
            pub fn kind(&self) -> &str {
                match self {
                    $( StoredObject::$variant(_) => stringify!($variant), )*
                    StoredObject::Custom(_, o) => &o.kind,
                }
            }

            /// The registry's kind (the store it goes to).
            pub fn registry_kind(&self) -> Kind {
                match self {
                    $( StoredObject::$variant(_) => Kind::$variant, )*
                    StoredObject::Custom(kind, _) => Kind::from(*kind),
                }
            }

            pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                match self {
                    $( StoredObject::$variant(o) => <$ty as $crate::input::packed::IndexForm>::metadata_of(o), )*
                    StoredObject::Custom(_, o) => &o.metadata,
                }
            }

            /// False for cluster-scoped kinds.
            pub fn is_namespaced(&self) -> bool {
                match self {
                    StoredObject::Custom(kind, o) => $crate::input::object::custom_is_namespaced(*kind, &o.kind),
                    other => other.registry_kind().scope() == $crate::input::kinds::Scope::Namespaced,
                }
            }

            /// The typed object (decodes a packed one).
            pub fn decode(&self) -> Result<KubeObject, $crate::input::packed::DecodeError> {
                Ok(match self {
                    $( StoredObject::$variant(o) => KubeObject::from(<$ty as $crate::input::packed::IndexForm>::load(o)?), )*
                    StoredObject::Custom(kind, o) => KubeObject::Custom(*kind, o.clone()),
                })
            }
        }

        /// Typed stores per kind plus what Vigil knows about the cluster itself.
        #[derive(Debug, Default)]
        pub struct Index {
            $( pub $field: $crate::input::index::Store<<$ty as $crate::input::packed::IndexForm>::Stored>, )*
            $( #[doc = $cdoc] pub $cfield: $crate::input::index::Store<$crate::input::object::CustomObject>, )*
            /// Names of installed CRDs (`peerauthentications.security.istio.io`, ...). The operator fills this
            /// from its CRD watch; `vigil scan` from CRD objects and from custom objects found in its input.
            pub installed_crds: std::collections::BTreeSet<String>,
            /// `None` when unknown (a scan of manifests without `--kube-version`).
            pub server_version: Option<$crate::input::index::ServerVersion>,
            /// Kinds the operator may not list (missing RBAC), by name, with the reason: checks that read
            /// them say `Error`.
            pub unavailable: std::collections::BTreeMap<String, String>,
            /// Kinds the API server does not serve (404, e.g. ValidatingAdmissionPolicy before 1.30), by
            /// name: none can exist, so checks judge them as empty and a failure says why they are.
            pub not_served: std::collections::BTreeSet<String>,
            /// A whole cluster (the default: the operator, `vigil scan --cluster`, a dump) or plain manifests,
            /// on which checks that need the whole cluster are `NotApplicable`.
            pub scope: $crate::input::scope::InputScope,
            /// Lookups computed from the stores on first use and dropped when their kinds change.
            pub(crate) derived: $crate::input::index::Derived,
        }

        impl Index {
            /// Adds or replaces an object. Cluster-scoped kinds ignore any namespace.
            pub fn insert(&mut self, object: KubeObject) {
                self.insert_stored(object.into_stored());
            }

            /// Adds or replaces an object already in the index's form.
            pub fn insert_stored(&mut self, object: StoredObject) {
                self.derived.invalidate(object.kind());
                let meta = object.metadata();
                let name = meta.name.clone().unwrap_or_default();
                let namespace =
                    if object.is_namespaced() { meta.namespace.clone().unwrap_or_default() } else { String::new() };
                let key = (namespace, name);
                match object {
                    $( StoredObject::$variant(o) => drop(self.$field.insert(key, *o)), )*
                    StoredObject::Custom(kind, o) => self.insert_custom(kind, key, *o),
                }
            }

            pub(crate) fn custom_store(&self, kind: CustomKind) -> Option<&$crate::input::index::Store<$crate::input::object::CustomObject>> {
                match kind {
                    $( CustomKind::$cvariant => Some(&self.$cfield), )*
                    CustomKind::CustomResourceDefinition => None,
                }
            }

            pub(crate) fn custom_store_mut(
                &mut self,
                kind: CustomKind,
            ) -> Option<&mut $crate::input::index::Store<$crate::input::object::CustomObject>> {
                match kind {
                    $( CustomKind::$cvariant => Some(&mut self.$cfield), )*
                    CustomKind::CustomResourceDefinition => None,
                }
            }

            /// Removes an object by kind (as written in manifests), namespace (empty for cluster-scoped
            /// kinds) and name.
            pub fn remove(&mut self, kind: &str, namespace: &str, name: &str) -> bool {
                self.derived.invalidate(kind);
                match kind {
                    $( stringify!($variant) => self.$field.remove(namespace, name).is_some(), )*
                    "CustomResourceDefinition" => self.installed_crds.remove(name),
                    other => match $crate::input::object::custom_kind_of(other).and_then(|k| self.custom_store_mut(k)) {
                        Some(store) => store.remove_key(&$crate::input::index::custom_key(other, namespace, name)).is_some(),
                        None => false,
                    },
                }
            }

            /// The keys of every stored object of a kind (to find what a relist no longer has).
            pub fn keys(&self, kind: &str) -> Vec<$crate::input::index::ObjectKey> {
                match kind {
                    $( stringify!($variant) => self.$field.keys().cloned().collect(), )*
                    "CustomResourceDefinition" => self.installed_crds.iter().map(|n| (String::new(), n.clone())).collect(),
                    other => match $crate::input::object::custom_kind_of(other).and_then(|k| self.custom_store(k)) {
                        // Several source kinds can share one custom store.
                        Some(store) => store
                            .keys()
                            .filter_map(|key| $crate::input::index::from_custom_key(other, key))
                            .map(|(namespace, name)| (namespace.to_string(), name.to_string()))
                            .collect(),
                        None => Vec::new(),
                    },
                }
            }

            /// A copy of a stored object (the operator needs the old state of a changed object to know what
            /// the change affects).
            pub fn get_object(&self, kind: &str, namespace: &str, name: &str) -> Option<KubeObject> {
                match kind {
                    // A packed object that does not decode (never expected: the index encoded it) is as if absent.
                    $( stringify!($variant) => self.$field.get(namespace, name).and_then(|o| <$ty as $crate::input::packed::IndexForm>::load(o).ok()).map(KubeObject::from), )*
                    "CustomResourceDefinition" => None,
                    other => {
                        let custom = $crate::input::object::custom_kind_of(other)?;
                        let object = self.custom_store(custom)?.get_key(&$crate::input::index::custom_key(other, namespace, name))?;
                        Some(KubeObject::Custom(custom, Box::new((**object).clone())))
                    }
                }
            }

            /// Whether the index holds this object.
            pub fn contains(&self, kind: &str, namespace: &str, name: &str) -> bool {
                match kind {
                    "CustomResourceDefinition" => self.installed_crds.contains(name),
                    $( stringify!($variant) => self.$field.get(namespace, name).is_some(), )*
                    _ => self.get_object(kind, namespace, name).is_some(),
                }
            }

            /// How many objects each store holds (for metrics and benchmarks).
            pub fn counts(&self) -> Vec<(Kind, usize)> {
                vec![
                    $( (Kind::$variant, self.$field.len()), )*
                    $( (Kind::$cvariant, self.$cfield.len()), )*
                    (Kind::CustomResourceDefinition, self.installed_crds.len()),
                ]
            }
        }
    };
}

// Workload status, conditions and the like are written by controllers and read by no check.
crate::for_each_typed_kind!(kinds, custom {
        PeerAuthentication in peer_authentications, Namespaced: "security.istio.io PeerAuthentication";
        AuthorizationPolicy in authorization_policies, Namespaced: "security.istio.io AuthorizationPolicy";
        VulnerabilityReport in vulnerability_reports, Namespaced: "aquasecurity.github.io VulnerabilityReport";
        ImagePolicy in image_policies, Namespaced: "An admission policy that may verify image signatures: Kyverno (Cluster)Policy, Sigstore (Cluster)ImagePolicy, Connaisseur and Ratify configurations.";
});

/// A group/kind that feeds a custom store; `plural.group` is the CRD that serves it (its presence among
/// the installed CRDs tells the product is installed).
#[derive(Clone, Copy, Debug)]
pub struct CustomSource {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub store: CustomKind,
}

impl CustomSource {
    /// The CRD name, e.g. `peerauthentications.security.istio.io`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// Every custom group/kind Vigil reads. The operator watches each when its CRD is installed; `vigil scan`
/// recognises them in manifests.
pub const CUSTOM_SOURCES: &[CustomSource] = &[
    CustomSource {
        group: "security.istio.io",
        kind: "PeerAuthentication",
        plural: "peerauthentications",
        store: CustomKind::PeerAuthentication,
    },
    CustomSource {
        group: "security.istio.io",
        kind: "AuthorizationPolicy",
        plural: "authorizationpolicies",
        store: CustomKind::AuthorizationPolicy,
    },
    CustomSource {
        group: "aquasecurity.github.io",
        kind: "VulnerabilityReport",
        plural: "vulnerabilityreports",
        store: CustomKind::VulnerabilityReport,
    },
    CustomSource {
        group: "kyverno.io",
        kind: "ClusterPolicy",
        plural: "clusterpolicies",
        store: CustomKind::ImagePolicy,
    },
    CustomSource { group: "kyverno.io", kind: "Policy", plural: "policies", store: CustomKind::ImagePolicy },
    CustomSource {
        group: "policy.sigstore.dev",
        kind: "ClusterImagePolicy",
        plural: "clusterimagepolicies",
        store: CustomKind::ImagePolicy,
    },
    CustomSource {
        group: "policy.sigstore.dev",
        kind: "ImagePolicy",
        plural: "imagepolicies",
        store: CustomKind::ImagePolicy,
    },
    CustomSource {
        group: "config.ratify.deislabs.io",
        kind: "Verifier",
        plural: "verifiers",
        store: CustomKind::ImagePolicy,
    },
    CustomSource {
        group: "config.ratify.deislabs.io",
        kind: "Policy",
        plural: "policies",
        store: CustomKind::ImagePolicy,
    },
];

/// The group of every Connaisseur kind: any kind of it is an image policy (its kinds changed over
/// releases). Only `vigil scan` reads these; the operator cannot watch a kind it cannot name.
pub const CONNAISSEUR_GROUP: &str = "connaisseur.policy";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_store() {
        for kind in Kind::TYPED {
            let namespaced = kind.scope() == Scope::Namespaced;
            let group = kind.group().expect("a typed kind has a group");
            let api_version = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
            let value = serde_json::json!({
                "apiVersion": api_version, "kind": kind.name(),
                "metadata": {"name": "x", "namespace": "ns"},
            });
            let object = KubeObject::from_value(value).unwrap().unwrap_or_else(|| panic!("{kind:?} not read"));
            assert_eq!(object.registry_kind(), *kind);
            let mut index = Index::new();
            index.insert(object.clone());
            let ns = if namespaced { "ns" } else { "" };
            assert!(index.contains(kind.name(), ns, "x"), "{kind:?}");
            assert_eq!(index.keys(kind.name()), vec![(ns.to_string(), "x".to_string())]);
            assert!(index.remove(kind.name(), ns, "x"));
            assert!(index.keys(kind.name()).is_empty());
        }
    }

    #[test]
    fn custom_sources_share_a_store_without_mixing() {
        let mut index = Index::new();
        for (kind, group) in [("ClusterPolicy", "kyverno.io"), ("ClusterImagePolicy", "policy.sigstore.dev")] {
            let value =
                serde_json::json!({"apiVersion": format!("{group}/v1"), "kind": kind, "metadata": {"name": "p"}});
            index.insert(KubeObject::from_value(value).unwrap().unwrap());
        }
        assert_eq!(index.image_policies.len(), 2);
        assert_eq!(index.keys("ClusterPolicy").len(), 1);
        assert!(index.installed_crds.contains("clusterpolicies.kyverno.io"));
        assert!(index.remove("ClusterPolicy", "", "p"));
        assert_eq!(index.keys("ClusterImagePolicy").len(), 1);
        assert!(!index.remove("ClusterPolicy", "", "p"));
    }
}
