//! Reading a live cluster: what both the operator's watches (`controller/watch`) and `vigil scan
//! --cluster`'s one-shot listing ([`snapshot`]) take from here, so they read the same kinds the same way:
//! the kinds of the engine's registry ([`for_each_typed_kind`]), custom kinds found through their CRDs and
//! discovery ([`installed_sources`], [`discover`]), what a 403 or a 404 means for a kind ([`Absence`]),
//! how an object becomes what the index stores ([`stored`], [`from_dynamic`]), the namespace filter
//! ([`NamespaceFilter`]) and the client configuration ([`ClientOptions`]).

pub mod snapshot;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use anyhow::Context;
use kube::api::ApiResource;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use vigil_engine::input::kinds::{CUSTOM_SOURCES, CustomSource};
use vigil_engine::input::object::custom_kind_of;
use vigil_engine::{Kind, KubeObject};

/// A kind of the registry with a k8s-openapi type, as the client reads it.
pub trait TypedKind:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + Into<KubeObject> + 'static
{
}

impl<K> TypedKind for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + Into<KubeObject> + 'static
{
}

/// Something done once per typed kind of the registry (start a watch, list it).
pub trait EachKind {
    fn kind<K: TypedKind>(&mut self);
}

/// Calls `visitor.kind::<K>()` for every typed kind of the engine's registry, in registry order.
pub fn for_each_typed_kind(visitor: &mut impl EachKind) {
    macro_rules! visit {
        (typed { $( $variant:ident($ty:ty) = $group:literal in $field:ident, $scope:ident, $(stored $form:ident,)? strip $strip:expr; )* }) => {
            $( visitor.kind::<$ty>(); )*
        };
    }
    vigil_engine::for_each_typed_kind!(visit);
}

/// Every built-in kind read (the registry's typed kinds and CRDs).
pub fn kinds() -> impl Iterator<Item = &'static str> {
    Kind::TYPED.iter().map(|k| k.name()).chain([Kind::CustomResourceDefinition.name()])
}

/// The registry's name for a kind as read from the API: custom source kinds (`ClusterPolicy`) are known
/// by their store (`ImagePolicy`), which is what checks name in `reads`.
pub fn registry_name(kind: &str) -> &str {
    match custom_kind_of(kind) {
        Some(custom) => Kind::from(custom).name(),
        None => kind,
    }
}

/// A typed object as the index stores it.
pub fn stored(object: impl Into<KubeObject>) -> KubeObject {
    let mut object = object.into();
    object.strip();
    object
}

/// A custom object (read through discovery) as the index stores it; `None` when it does not fit what
/// Vigil reads of its kind (logged).
pub fn from_dynamic<K: serde::Serialize>(object: &K, api_version: &str, kind: &str) -> Option<KubeObject> {
    let mut value = serde_json::to_value(object).ok()?;
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion").or_insert_with(|| api_version.into());
        map.entry("kind").or_insert_with(|| kind.into());
    }
    match KubeObject::from_value(value) {
        Ok(Some(mut o)) => {
            o.strip();
            Some(o)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(kind, error = %e, "object does not match its schema; skipped");
            None
        }
    }
}

/// What the index keeps of an installed CRD: its name (which custom kinds are installed).
pub fn crd_object(name: &str) -> Option<KubeObject> {
    let value = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
    });
    KubeObject::from_value(value).ok().flatten()
}

/// The custom kinds Vigil reads that an installed CRD serves.
pub fn installed_sources(crd_name: &str) -> impl Iterator<Item = &'static CustomSource> + '_ {
    CUSTOM_SOURCES.iter().filter(move |s| s.crd_name() == crd_name)
}

/// The served version of a custom kind (it may differ between clusters); `None` when its group does not
/// serve it.
pub async fn discover(client: &Client, group: &str, kind: &str) -> Result<Option<ApiResource>, kube::Error> {
    let discovered = kube::discovery::group(client, group).await?;
    Ok(discovered.recommended_kind(kind).map(|(resource, _)| resource))
}

/// Why a kind is absent for Vigil, when the API server's answer says so.
#[derive(Debug, PartialEq)]
pub enum Absence {
    /// 403: Vigil may not list it (RBAC); the reason goes into the checks' Error.
    Forbidden(String),
    /// 404: this API server does not serve it (e.g. ValidatingAdmissionPolicy before 1.30).
    NotServed,
}

impl Absence {
    /// 403 and 404 are the only answers that settle a kind; anything else is transient.
    ///
    /// By code as well as by reason: a group the server does not serve answers a plain-text
    /// `404 page not found`, which kube turns into a Status whose reason is "Failed to parse error data"
    /// (and `Status::is_not_found` then says no). Seen with `vigil scan --cluster` of a cluster without
    /// Vigil's CRDs.
    pub fn of(status: &kube::core::Status, kind: &str) -> Option<Absence> {
        if status.is_forbidden() || status.code == 403 {
            Some(Absence::Forbidden(format!("Vigil may not list {kind} (RBAC): {}", status.message)))
        } else if status.is_not_found() || status.code == 404 {
            Some(Absence::NotServed)
        } else {
            None
        }
    }

    /// [`Absence::of`] for a failed request.
    pub fn of_error(error: &kube::Error, kind: &str) -> Option<Absence> {
        match error {
            kube::Error::Api(status) => Absence::of(status, kind),
            _ => None,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Absence::Forbidden(_) => "may not list this kind (RBAC): checks that read it report Error",
            Absence::NotServed => "the API server does not serve this kind: checks judge it as empty",
        }
    }

    /// Records the absence in the index, under the registry's name; true when it is new.
    pub fn record(self, index: &mut vigil_engine::Index, kind: &str) -> bool {
        let name = registry_name(kind).to_string();
        match self {
            Absence::Forbidden(reason) => index.unavailable.insert(name, reason).is_none(),
            Absence::NotServed => index.not_served.insert(name),
        }
    }
}

/// Which namespaces are audited (`--namespace`, `--exclude-namespace`).
#[derive(Clone, Debug, Default)]
pub struct NamespaceFilter {
    pub include: BTreeSet<String>,
    pub exclude: BTreeSet<String>,
}

impl NamespaceFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        NamespaceFilter { include: include.iter().cloned().collect(), exclude: exclude.iter().cloned().collect() }
    }

    /// Cluster-scoped objects (`namespace == ""`) always pass.
    pub fn allows(&self, namespace: &str) -> bool {
        namespace.is_empty()
            || (!self.exclude.contains(namespace) && (self.include.is_empty() || self.include.contains(namespace)))
    }

    /// Whether an object enters the index: a Namespace by its own name, a namespaced object by its
    /// namespace; other cluster-scoped objects always.
    pub fn admits(&self, object: &KubeObject) -> bool {
        let meta = object.metadata();
        let namespace = match object.kind() {
            "Namespace" => meta.name.as_deref(),
            _ if object.is_namespaced() => meta.namespace.as_deref(),
            _ => None,
        };
        self.allows(namespace.unwrap_or_default())
    }
}

/// How to reach the cluster: a kubeconfig file and context, or what `kube` infers (the `KUBECONFIG`
/// files, `~/.kube/config`, then the in-cluster service account).
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
    /// Whom the API server's audit log sees (`vigil/<version> (<identity>)`).
    pub identity: String,
    /// Bound of every request (connect, send, response); `None` for watches.
    pub request_timeout: Option<Duration>,
}

impl ClientOptions {
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        let options = kube::config::KubeConfigOptions { context: self.context.clone(), ..Default::default() };
        let mut config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .with_context(|| format!("cannot use the kubeconfig {}", path.display()))?
            }
            (None, Some(context)) => kube::Config::from_kubeconfig(&options)
                .await
                .with_context(|| format!("cannot use the kubeconfig context {context:?}"))?,
            (None, None) => kube::Config::infer()
                .await
                .context("no cluster: neither a kubeconfig (KUBECONFIG, ~/.kube/config) nor in-cluster config")?,
        };
        let agent = format!("vigil/{} ({})", env!("CARGO_PKG_VERSION"), self.identity);
        let agent = ::http::HeaderValue::from_str(&agent)
            .unwrap_or_else(|_| ::http::HeaderValue::from_static(concat!("vigil/", env!("CARGO_PKG_VERSION"))));
        config.headers.push((::http::header::USER_AGENT, agent));
        if let Some(timeout) = self.request_timeout {
            config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
            config.read_timeout = Some(timeout);
            config.write_timeout = Some(timeout);
            // The timeout counts from when a request is sent, not from when its pooled connection went idle.
            config.reset_reader_on_write = true;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_kind_of_the_registry_is_visited_once() {
        struct Names(Vec<String>);
        impl EachKind for Names {
            fn kind<K: TypedKind>(&mut self) {
                self.0.push(K::kind(&()).to_string());
            }
        }
        let mut names = Names(Vec::new());
        for_each_typed_kind(&mut names);
        let registry: Vec<String> = Kind::TYPED.iter().map(|k| k.name().to_string()).collect();
        assert_eq!(names.0, registry);
    }

    #[test]
    fn the_filter_admits_namespaces_by_name_and_objects_by_namespace() {
        let filter = NamespaceFilter::new(&[], &["kube-system".to_string()]);
        let object = |yaml: &str| KubeObject::from_value(serde_saphyr::from_str(yaml).unwrap()).unwrap().unwrap();
        assert!(!filter.admits(&object("apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n")));
        assert!(!filter.admits(&object("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\n")));
        assert!(filter.admits(&object("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n")));
        // Cluster-scoped kinds ignore a namespace a manifest gives them.
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: kube-system}\n";
        assert!(filter.admits(&object(role)));
    }
}
