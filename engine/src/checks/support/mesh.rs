//! Service mesh semantics: which mesh is installed, sidecar injection, and Istio's PeerAuthentication
//! precedence (mesh-wide < namespace < workload selector < port-level, UNSET inheriting from the level above).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::input::index::Index;
use crate::input::object::CustomObject;

/// Istio's root namespace: PeerAuthentications there without a selector apply mesh-wide.
pub const ISTIO_ROOT_NAMESPACE: &str = "istio-system";

/// Label and annotation (deprecated, still honoured) that opt a pod in or out of Istio injection.
const ISTIO_POD_INJECT: &str = "sidecar.istio.io/inject";
/// The revision label, on a namespace or a pod.
const ISTIO_REV: &str = "istio.io/rev";

/// True when Istio's security CRDs are installed.
pub fn istio_installed(index: &Index) -> bool {
    index.has_crd_group("security.istio.io")
}

/// True when Linkerd's CRDs are installed.
pub fn linkerd_installed(index: &Index) -> bool {
    index.has_crd_group("policy.linkerd.io") || index.has_crd_group("linkerd.io")
}

/// True when Linkerd injects its proxy (whose mTLS is on by default) given these annotations.
pub fn linkerd_injects(annotations: Option<&BTreeMap<String, String>>) -> Option<bool> {
    annotations.and_then(|a| a.get("linkerd.io/inject")).map(|v| v == "enabled")
}

/// True when Istio injects sidecars into the namespace's pods: `istio-injection=enabled`, or a revision
/// label `istio.io/rev` (which `istio-injection` overrides when both are set).
pub fn istio_namespace_injection(namespace_labels: &BTreeMap<String, String>) -> bool {
    match namespace_labels.get("istio-injection") {
        Some(value) => value == "enabled",
        None => namespace_labels.contains_key("istio.io/rev"),
    }
}

/// Whether a pod gets an Istio sidecar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SidecarInjection {
    Injected,
    /// Not injected, with the reason.
    NotInjected(String),
    /// The namespace is not in the snapshot and the pod does not opt in or out.
    Unknown,
}

/// Istio's injection decision for a pod template in a namespace whose labels may be unknown.
pub fn istio_sidecar(
    namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
    pod: &ObjectMeta,
) -> SidecarInjection {
    let pod_says = |map: &Option<BTreeMap<String, String>>| map.as_ref().and_then(|m| m.get(ISTIO_POD_INJECT)).cloned();
    let (label, annotation) = (pod_says(&pod.labels), pod_says(&pod.annotations));
    if label.as_deref() == Some("false") || annotation.as_deref() == Some("false") {
        return SidecarInjection::NotInjected(format!("the pod template sets {ISTIO_POD_INJECT}: \"false\""));
    }
    match namespace_labels {
        Some(labels) if labels.get("istio-injection").is_some_and(|v| v == "disabled") => {
            SidecarInjection::NotInjected(format!("namespace \"{namespace}\" is labelled istio-injection=disabled"))
        }
        Some(labels) if istio_namespace_injection(labels) => SidecarInjection::Injected,
        // Only labels opt a single pod in: the injector's webhooks select pods by label, in namespaces
        // without istio-injection: `sidecar.istio.io/inject=true` (the default revision's) or
        // `istio.io/rev=<rev>` (that revision's; Istio's sidecar-injector webhook objectSelectors).
        _ if label.as_deref() == Some("true") || pod.labels.as_ref().is_some_and(|l| l.contains_key(ISTIO_REV)) => {
            SidecarInjection::Injected
        }
        Some(_) => SidecarInjection::NotInjected(format!(
            "namespace \"{namespace}\" has no istio-injection=enabled or istio.io/rev label"
        )),
        None => SidecarInjection::Unknown,
    }
}

/// A PeerAuthentication mTLS mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtlsMode {
    /// Inherit from the level above.
    Unset,
    Disable,
    Permissive,
    Strict,
}

impl MtlsMode {
    /// Parses `spec.mtls.mode`-style values; absent or unknown values are UNSET (inherit), like Istio.
    fn parse(value: Option<&serde_json::Value>) -> MtlsMode {
        match value.and_then(|v| v.as_str()) {
            Some("STRICT") => MtlsMode::Strict,
            Some("PERMISSIVE") => MtlsMode::Permissive,
            Some("DISABLE") => MtlsMode::Disable,
            _ => MtlsMode::Unset,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Unset => "UNSET",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
        }
    }
}

/// The level of Istio's precedence a decision comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// No PeerAuthentication sets a mode: Istio's default, PERMISSIVE.
    Default,
    MeshWide,
    Namespace,
    Workload,
    Port,
}

/// An effective mTLS mode (never UNSET) and the PeerAuthentication that decides it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MtlsDecision<'a> {
    pub mode: MtlsMode,
    pub level: Level,
    pub decided_by: Option<&'a CustomObject>,
}

impl<'a> MtlsDecision<'a> {
    const DEFAULT: MtlsDecision<'static> =
        MtlsDecision { mode: MtlsMode::Permissive, level: Level::Default, decided_by: None };

    /// What decides the mode: `mesh-wide PeerAuthentication istio-system/default`, or Istio's default.
    pub fn source(&self) -> String {
        let level = match self.level {
            Level::Default => return "Istio's default (no PeerAuthentication sets a mode)".into(),
            Level::MeshWide => "mesh-wide ",
            Level::Namespace => "namespace-wide ",
            Level::Workload | Level::Port => "",
        };
        let meta = self.decided_by.map(|pa| &pa.metadata);
        let namespace = meta.and_then(|m| m.namespace.as_deref()).unwrap_or("");
        let name = meta.and_then(|m| m.name.as_deref()).unwrap_or("");
        format!("{level}PeerAuthentication {namespace}/{name}")
    }

    /// This decision, overridden by a lower level's policy unless that policy leaves the mode UNSET.
    fn refine(self, mode: MtlsMode, level: Level, policy: &'a CustomObject) -> MtlsDecision<'a> {
        if mode == MtlsMode::Unset { self } else { MtlsDecision { mode, level, decided_by: Some(policy) } }
    }
}

/// A workload's effective mTLS: for the workload as a whole, and for each port a policy names.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadMtls<'a> {
    pub workload: MtlsDecision<'a>,
    /// `(port, decision)` in port order.
    pub ports: Vec<(String, MtlsDecision<'a>)>,
}

fn mode(policy: &CustomObject) -> MtlsMode {
    MtlsMode::parse(policy.spec.pointer("/mtls/mode"))
}

/// The policy's workload selector; `None` when absent or empty (the policy is namespace-wide).
fn selector(policy: &CustomObject) -> Option<&serde_json::Map<String, serde_json::Value>> {
    policy.spec.pointer("/selector/matchLabels").and_then(|m| m.as_object()).filter(|m| !m.is_empty())
}

fn selects(selector: &serde_json::Map<String, serde_json::Value>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| v.as_str().is_some_and(|v| labels.get(k).is_some_and(|l| l == v)))
}

/// When several policies apply at one level, Istio uses the oldest (then the first by name).
fn oldest<'a>(policies: impl Iterator<Item = &'a CustomObject>) -> Option<&'a CustomObject> {
    policies.min_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    })
}

fn namespace_wide<'a>(index: &'a Index, namespace: &str) -> Option<&'a CustomObject> {
    oldest(index.peer_authentications.in_namespace(namespace).map(|p| p.as_ref()).filter(|p| selector(p).is_none()))
}

/// The mTLS mode that applies to a namespace as a whole: its own selector-less PeerAuthentication over
/// the mesh-wide one.
pub fn namespace_mtls<'a>(index: &'a Index, namespace: &str) -> MtlsDecision<'a> {
    let mut decision: MtlsDecision<'a> = MtlsDecision::DEFAULT;
    if let Some(mesh) = namespace_wide(index, ISTIO_ROOT_NAMESPACE) {
        decision = decision.refine(mode(mesh), Level::MeshWide, mesh);
    }
    // In the root namespace its own selector-less policy is the mesh-wide one.
    if namespace != ISTIO_ROOT_NAMESPACE
        && let Some(ns) = namespace_wide(index, namespace)
    {
        decision = decision.refine(mode(ns), Level::Namespace, ns);
    }
    decision
}

/// The effective mTLS for pods with these labels in this namespace, with Istio's full precedence.
/// Workload-selector policies only apply in their own namespace (also in the root namespace).
pub fn workload_mtls<'a>(index: &'a Index, namespace: &str, pod_labels: &BTreeMap<String, String>) -> WorkloadMtls<'a> {
    let inherited = namespace_mtls(index, namespace);
    let workload_policy = oldest(
        index
            .peer_authentications
            .in_namespace(namespace)
            .map(|p| p.as_ref())
            .filter(|p| selector(p).is_some_and(|s| selects(s, pod_labels))),
    );
    let Some(policy) = workload_policy else {
        return WorkloadMtls { workload: inherited, ports: Vec::new() };
    };
    let workload = inherited.refine(mode(policy), Level::Workload, policy);
    // Port-level settings only count on a policy with a workload selector, which this one has.
    let mut ports: Vec<(String, MtlsDecision)> = policy
        .spec
        .get("portLevelMtls")
        .and_then(|p| p.as_object())
        .into_iter()
        .flatten()
        .map(|(port, setting)| {
            (port.clone(), workload.refine(MtlsMode::parse(setting.get("mode")), Level::Port, policy))
        })
        .collect();
    ports.sort_by_key(|(port, _)| port.parse::<u32>().unwrap_or(u32::MAX));
    WorkloadMtls { workload, ports }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::object::{CustomKind, KubeObject};

    fn peer_auth(namespace: &str, name: &str, spec: serde_json::Value) -> KubeObject {
        let object = CustomObject {
            api_version: "security.istio.io/v1".into(),
            kind: "PeerAuthentication".into(),
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() },
            spec,
            report: serde_json::Value::Null,
        };
        KubeObject::Custom(CustomKind::PeerAuthentication, Box::new(object))
    }

    fn index(objects: Vec<KubeObject>) -> Index {
        let mut index = Index::new();
        objects.into_iter().for_each(|o| index.insert(o));
        index
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn name(decision: &MtlsDecision) -> Option<String> {
        decision.decided_by.and_then(|p| p.metadata.name.clone())
    }

    #[test]
    fn nothing_set_is_permissive_by_default() {
        let index = index(vec![]);
        let d = namespace_mtls(&index, "apps");
        assert_eq!((d.mode, d.level), (MtlsMode::Permissive, Level::Default));
        assert_eq!(d.source(), "Istio's default (no PeerAuthentication sets a mode)");
    }

    #[test]
    fn namespace_overrides_mesh_wide_and_unset_inherits() {
        let strict_mesh = peer_auth("istio-system", "default", serde_json::json!({"mtls": {"mode": "STRICT"}}));
        let ns_permissive = peer_auth("apps", "ns", serde_json::json!({"mtls": {"mode": "PERMISSIVE"}}));
        let ns_unset = peer_auth("other", "ns", serde_json::json!({"mtls": {"mode": "UNSET"}}));
        let index = index(vec![strict_mesh, ns_permissive, ns_unset]);
        let apps = namespace_mtls(&index, "apps");
        assert_eq!((apps.mode, apps.level), (MtlsMode::Permissive, Level::Namespace));
        assert_eq!(apps.source(), "namespace-wide PeerAuthentication apps/ns");
        let other = namespace_mtls(&index, "other");
        assert_eq!((other.mode, other.level), (MtlsMode::Strict, Level::MeshWide));
        assert_eq!(other.source(), "mesh-wide PeerAuthentication istio-system/default");
    }

    #[test]
    fn selector_policies_in_the_root_namespace_are_not_mesh_wide() {
        let scoped = peer_auth(
            "istio-system",
            "gw",
            serde_json::json!({"selector": {"matchLabels": {"app": "gw"}}, "mtls": {"mode": "STRICT"}}),
        );
        let index = index(vec![scoped]);
        assert_eq!(namespace_mtls(&index, "apps").level, Level::Default);
        assert_eq!(workload_mtls(&index, "apps", &labels(&[("app", "gw")])).workload.level, Level::Default);
    }

    #[test]
    fn workload_and_port_levels_override() {
        let mesh = peer_auth("istio-system", "default", serde_json::json!({"mtls": {"mode": "STRICT"}}));
        let web = peer_auth(
            "apps",
            "web",
            serde_json::json!({
                "selector": {"matchLabels": {"app": "web"}},
                "mtls": {"mode": "UNSET"},
                "portLevelMtls": {"9090": {"mode": "DISABLE"}, "8080": {"mode": "UNSET"}}
            }),
        );
        let index = index(vec![mesh, web]);
        let m = workload_mtls(&index, "apps", &labels(&[("app", "web"), ("v", "1")]));
        // UNSET on the workload inherits the mesh-wide STRICT.
        assert_eq!((m.workload.mode, m.workload.level), (MtlsMode::Strict, Level::MeshWide));
        assert_eq!(m.ports.len(), 2);
        assert_eq!(m.ports[0].0, "8080");
        assert_eq!((m.ports[0].1.mode, m.ports[0].1.level), (MtlsMode::Strict, Level::MeshWide));
        assert_eq!(m.ports[1].0, "9090");
        assert_eq!((m.ports[1].1.mode, m.ports[1].1.level), (MtlsMode::Disable, Level::Port));
        assert_eq!(name(&m.ports[1].1).as_deref(), Some("web"));
        // Pods the selector does not match see only the mesh-wide policy.
        let other = workload_mtls(&index, "apps", &labels(&[("app", "api")]));
        assert_eq!(other.workload.level, Level::MeshWide);
        assert!(other.ports.is_empty());
    }

    #[test]
    fn oldest_policy_wins_within_a_level() {
        let mut older = peer_auth("apps", "zz-older", serde_json::json!({"mtls": {"mode": "STRICT"}}));
        let mut newer = peer_auth("apps", "aa-newer", serde_json::json!({"mtls": {"mode": "DISABLE"}}));
        older.metadata_mut().creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2024-01-01T00:00:00Z".parse().unwrap()));
        newer.metadata_mut().creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2025-01-01T00:00:00Z".parse().unwrap()));
        let index = index(vec![older, newer]);
        assert_eq!(name(&namespace_mtls(&index, "apps")).as_deref(), Some("zz-older"));
    }

    #[test]
    fn istio_injection_decisions() {
        let pod = |labels: &[(&str, &str)], annotations: &[(&str, &str)]| ObjectMeta {
            labels: Some(super::tests::labels(labels)),
            annotations: Some(super::tests::labels(annotations)),
            ..Default::default()
        };
        let enabled = labels(&[("istio-injection", "enabled")]);
        let revision = labels(&[("istio.io/rev", "1-22")]);
        let disabled = labels(&[("istio-injection", "disabled"), ("istio.io/rev", "1-22")]);
        let plain = labels(&[]);
        assert_eq!(istio_sidecar("a", Some(&enabled), &pod(&[], &[])), SidecarInjection::Injected);
        assert_eq!(istio_sidecar("a", Some(&revision), &pod(&[], &[])), SidecarInjection::Injected);
        assert!(matches!(istio_sidecar("a", Some(&disabled), &pod(&[], &[])), SidecarInjection::NotInjected(_)));
        assert!(matches!(
            istio_sidecar("a", Some(&enabled), &pod(&[], &[("sidecar.istio.io/inject", "false")])),
            SidecarInjection::NotInjected(_)
        ));
        assert_eq!(
            istio_sidecar("a", Some(&plain), &pod(&[("sidecar.istio.io/inject", "true")], &[])),
            SidecarInjection::Injected
        );
        assert!(matches!(istio_sidecar("a", Some(&plain), &pod(&[], &[])), SidecarInjection::NotInjected(_)));
        assert_eq!(istio_sidecar("a", None, &pod(&[], &[])), SidecarInjection::Unknown);
    }
}
