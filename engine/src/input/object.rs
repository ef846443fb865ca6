//! Objects as Vigil reads them: [`KubeObject`] (derived from the registry in [`crate::input::kinds`]), the
//! [`CustomObject`] form of kinds without a k8s-openapi type, Vigil's own [`VigilObject`]s, and what is
//! stripped before an object is stored.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use vigil_crds::{ClusterSecurityException, SecurityException, SecurityPolicy};

use crate::input::kinds::{CONNAISSEUR_GROUP, CUSTOM_SOURCES};
pub use crate::input::kinds::{CustomKind, KubeObject, StoredObject};

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

/// For an object hidden behind a workload controller (a Deployment's ReplicaSet, a CronJob's Job, a
/// workload's Pod; see [`crate::subject::hiding_controller`]): keeps of its metadata only what links it
/// to its owner (name, namespace, uid, owner references) and what the live-pod checks read (the
/// `component` label that names a control-plane Pod). Returns whether the object is such a one.
///
/// Such objects are no subjects: no check and no custom check reads their specs, labels or annotations,
/// and on a cluster of Deployments they are most of the objects watched.
pub fn keep_only_ownership(kind: &str, meta: &mut ObjectMeta) -> bool {
    if crate::subject::hiding_controller(kind, meta).is_none() {
        return false;
    }
    let component = meta.labels.as_mut().and_then(|labels| labels.remove_entry("component"));
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        owner_references: meta.owner_references.take(),
        labels: component.map(|entry| [entry].into()),
        ..ObjectMeta::default()
    };
    true
}

/// A Pod with a workload controller is judged through its owner's template; Vigil reads the live Pod only
/// for containers the template lacks (sidecars injected by an admission webhook: every field of those)
/// and, in kube-system, a control-plane Pod's command line. Everything else of its spec (volumes,
/// tolerations, affinity, the service account token mount's volume ...) goes.
pub fn strip_controlled_pod(pod: &mut k8s_openapi::api::core::v1::Pod) {
    if !keep_only_ownership("Pod", &mut pod.metadata) {
        return;
    }
    if let Some(spec) = pod.spec.take() {
        pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            containers: spec.containers,
            init_containers: spec.init_containers,
            ephemeral_containers: spec.ephemeral_containers,
            host_network: spec.host_network,
            ..Default::default()
        });
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

    const DEPLOYMENT_CHAIN: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d1, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, annotations: {sidecar.istio.io/inject: 'true'}}
    spec:
      containers: [{name: app, image: 'nginx:1.27', securityContext: {runAsNonRoot: true}}]
      volumes: [{name: data, hostPath: {path: /var/data}}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  uid: r1
  labels: {app: web, pod-template-hash: 5d8f}
  annotations: {deployment.kubernetes.io/revision: '1'}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
spec:
  selector: {matchLabels: {app: web, pod-template-hash: 5d8f}}
  template:
    metadata: {labels: {app: web, pod-template-hash: 5d8f}}
    spec:
      containers: [{name: app, image: 'nginx:1.27', securityContext: {runAsNonRoot: true}}]
      volumes: [{name: data, hostPath: {path: /var/data}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f-x1
  namespace: shop
  uid: p1
  labels: {app: web, pod-template-hash: 5d8f}
  annotations: {sidecar.istio.io/status: '{}'}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: r1, controller: true}]
spec:
  hostNetwork: true
  containers:
  - {name: app, image: 'nginx:1.27', securityContext: {runAsNonRoot: true}}
  - {name: istio-proxy, image: 'istio/proxyv2:1.24.0', securityContext: {privileged: true}, ports: [{containerPort: 15090}]}
  volumes: [{name: data, hostPath: {path: /var/data}}, {name: token, projected: {sources: []}}]
  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}]
---
apiVersion: v1
kind: Pod
metadata: {name: lone, namespace: shop, uid: p2, labels: {app: lone}, annotations: {note: kept}}
spec:
  containers: [{name: app, image: 'nginx:1.27'}]
  volumes: [{name: data, hostPath: {path: /var/data}}]
";

    fn objects(yaml: &str) -> Vec<KubeObject> {
        yaml.split("\n---\n")
            .map(|doc| KubeObject::from_value(serde_saphyr::from_str(doc).unwrap()).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn hidden_replica_sets_and_pods_keep_only_ownership_and_live_containers() {
        let mut stripped = objects(DEPLOYMENT_CHAIN);
        stripped.iter_mut().for_each(KubeObject::strip);
        let [KubeObject::Deployment(d), KubeObject::ReplicaSet(rs), KubeObject::Pod(pod), KubeObject::Pod(lone)] =
            &stripped[..]
        else {
            panic!("four objects")
        };
        // The subject keeps everything but the stripped bulk.
        assert!(d.spec.as_ref().unwrap().template.spec.as_ref().unwrap().volumes.is_some());
        assert!(lone.spec.as_ref().unwrap().volumes.is_some() && lone.metadata.annotations.is_some());
        // The hidden ReplicaSet: its ownership only.
        assert_eq!(rs.spec, None);
        assert_eq!((rs.metadata.uid.as_deref(), rs.metadata.labels.as_ref()), (Some("r1"), None));
        assert_eq!(rs.metadata.owner_references.as_ref().unwrap()[0].uid, "d1");
        // The hidden Pod: ownership and its containers.
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.containers.len(), 2);
        assert_eq!(spec.host_network, Some(true));
        assert_eq!((spec.volumes.as_ref(), spec.tolerations.as_ref()), (None, None));
        assert_eq!((pod.metadata.labels.as_ref(), pod.metadata.annotations.as_ref()), (None, None));
        assert_eq!(pod.metadata.owner_references.as_ref().unwrap()[0].name, "web-5d8f");
    }

    #[test]
    fn a_control_plane_pod_keeps_its_component_label() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: apiserver-x\n  namespace: kube-system\n  labels: {component: kube-apiserver, tier: control-plane}\n  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: apiserver, uid: ds1, controller: true}]\nspec: {containers: [{name: kube-apiserver, image: k8s, command: [kube-apiserver, --anonymous-auth=true]}]}\n";
        let mut pod = objects(yaml).remove(0);
        pod.strip();
        let labels = pod.metadata().labels.clone().unwrap();
        assert_eq!(labels, [("component".to_string(), "kube-apiserver".to_string())].into());
    }

    #[test]
    fn stripping_hidden_objects_changes_no_report() {
        let now: jiff::Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
        let judge = |strip: bool| {
            let index: crate::Index = objects(DEPLOYMENT_CHAIN)
                .into_iter()
                .map(|mut o| {
                    if strip {
                        o.strip();
                    } else {
                        // Only what every object loses, so the comparison isolates the hidden objects.
                        o.metadata_mut().managed_fields = None;
                    }
                    o
                })
                .collect();
            let reports = crate::audit_with_policy(&index, &crate::Policy::default(), now);
            serde_json::to_string(&reports.iter().map(|r| r.status().clone()).collect::<Vec<_>>()).unwrap()
        };
        let (whole, stripped) = (judge(false), judge(true));
        // The injected, privileged sidecar is judged from the stripped Pod.
        assert!(stripped.contains("istio-proxy"), "{stripped}");
        assert_eq!(whole, stripped);
    }
}
