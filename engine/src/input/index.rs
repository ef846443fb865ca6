//! The one read model of the cluster both front doors fill: typed objects keyed by namespace and name,
//! plus the lookups checks need. `vigil scan` fills it from files, the operator from watch streams.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::input::kinds::CUSTOM_SOURCES;
pub use crate::input::kinds::Index;
use crate::input::object::{CustomKind, CustomObject, KubeObject};

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

    /// Removes the object only if `matches` holds for it (stores shared by several source kinds).
    pub(crate) fn remove_key(&mut self, key: &ObjectKey) -> Option<Arc<T>> {
        self.map.remove(key)
    }

    pub(crate) fn get_key(&self, key: &ObjectKey) -> Option<&Arc<T>> {
        self.map.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.map.keys()
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

    /// The index of every object in a YAML or JSON text (tests, examples, `vigil scan` of one file). A
    /// document that does not load is an error naming it; Vigil's own kinds are left out.
    pub fn from_yaml(text: &str) -> Result<Index, crate::input::loader::LoadError> {
        let mut loaded = crate::input::loader::Loaded::default();
        loaded.add_text("input", text);
        if let Some(error) = loaded.errors.into_iter().next() {
            return Err(error);
        }
        Ok(loaded.objects.into_iter().map(|(object, _)| object).collect())
    }

    pub(crate) fn insert_custom(&mut self, kind: CustomKind, key: ObjectKey, mut object: CustomObject) {
        // The presence of a custom object proves its CRD is installed.
        let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if let Some(source) = CUSTOM_SOURCES.iter().find(|s| s.group == group && s.kind == object.kind) {
            self.installed_crds.insert(source.crd_name());
        }
        match self.custom_store_mut(kind) {
            Some(store) => drop(store.insert(custom_key(&object.kind, &key.0, &key.1), object)),
            // A CRD: only its name matters (which products are installed).
            None => {
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

/// The key of a custom object in its store: several source kinds share a store (Kyverno's `ClusterPolicy`
/// and Sigstore's `ClusterImagePolicy` may both be named `p`), so the kind is part of the name.
pub(crate) fn custom_key(kind: &str, namespace: &str, name: &str) -> ObjectKey {
    (namespace.to_string(), format!("{kind}/{name}"))
}

/// The `(namespace, name)` of a [`custom_key`] of kind `kind`, if it is one.
pub(crate) fn from_custom_key<'k>(kind: &str, key: &'k ObjectKey) -> Option<(&'k str, &'k str)> {
    let name = key.1.strip_prefix(kind)?.strip_prefix('/')?;
    Some((&key.0, name))
}

fn empty_map() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

impl Extend<KubeObject> for Index {
    fn extend<I: IntoIterator<Item = KubeObject>>(&mut self, objects: I) {
        for object in objects {
            self.insert(object);
        }
    }
}

impl Extend<crate::input::kinds::StoredObject> for Index {
    fn extend<I: IntoIterator<Item = crate::input::kinds::StoredObject>>(&mut self, objects: I) {
        for object in objects {
            self.insert_stored(object);
        }
    }
}

impl FromIterator<crate::input::kinds::StoredObject> for Index {
    fn from_iter<I: IntoIterator<Item = crate::input::kinds::StoredObject>>(objects: I) -> Self {
        let mut index = Index::new();
        index.extend(objects);
        index
    }
}

impl FromIterator<KubeObject> for Index {
    fn from_iter<I: IntoIterator<Item = KubeObject>>(objects: I) -> Self {
        let mut index = Index::new();
        index.extend(objects);
        index
    }
}

/// Lookups the index derives from its stores on first use (evaluation reads them many times per pass);
/// a change to a kind they are built from drops them.
#[derive(Debug, Default)]
pub struct Derived {
    /// The bindings that can reach ServiceAccounts, by how they name them.
    pub(crate) account_bindings: std::sync::OnceLock<crate::checks::support::rbac::AccountBindings>,
    /// The rules of each aggregated ClusterRole (defaults included), by name.
    pub(crate) aggregated_rules: std::sync::OnceLock<BTreeMap<String, Vec<k8s_openapi::api::rbac::v1::PolicyRule>>>,
}

impl Derived {
    pub(crate) fn invalidate(&mut self, kind: &str) {
        match kind {
            "RoleBinding" | "ClusterRoleBinding" => self.account_bindings = Default::default(),
            "ClusterRole" => self.aggregated_rules = Default::default(),
            _ => {}
        }
    }
}
