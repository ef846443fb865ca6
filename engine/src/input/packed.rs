//! The compact form of the pod-template kinds in the index (Pod, Deployment, StatefulSet, DaemonSet,
//! ReplicaSet, Job, CronJob, ReplicationController): typed metadata, which owner resolution, labels,
//! namespaces and filters read everywhere, plus the rest of the object as JSON bytes, decoded only while a
//! subject that needs it is judged.
//!
//! Why: k8s-openapi's types are large inline whatever they hold (`Pod` 2,176 B with its `PodSpec`,
//! `Container` 2,120 B, `Volume` 3,208 B), so a typed Deployment costs about 16 KB of heap and a nearly
//! empty Pod 2 KB; the same objects as JSON are a few hundred bytes to 2 KB. JSON rather than a binary
//! format: k8s-openapi's visitors need a self-describing format, and custom (CEL) checks read the bytes
//! as JSON directly.

use std::cell::Cell;
use std::marker::PhantomData;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a packed object could not be decoded (or packed): its checks report `Error` with this.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the stored object cannot be decoded: {0}")]
pub struct DecodeError(pub String);

/// An object kept as its typed metadata plus the rest as JSON bytes.
pub struct Packed<T> {
    pub metadata: ObjectMeta,
    /// The object serialized with empty metadata; the reason when it could not be serialized.
    body: Result<Box<[u8]>, Box<str>>,
    kind: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Packed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("metadata", &self.metadata)
            .field("body_bytes", &self.body.as_ref().map(|b| b.len()))
            .finish()
    }
}

/// Equal metadata and equal bytes: the encoding is deterministic, so equal objects pack equal.
impl<T> PartialEq for Packed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata && self.body == other.body
    }
}

thread_local! {
    /// Typed decodes on this thread (tests count them: judging a namespace decodes each object at most once).
    static DECODES: Cell<u64> = const { Cell::new(0) };
}

/// How many typed decodes this thread has done.
pub fn decodes_on_this_thread() -> u64 {
    DECODES.with(Cell::get)
}

impl<T> Packed<T>
where
    T: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
{
    /// Packs an object (already stripped of what no check reads).
    pub fn pack(mut object: T) -> Packed<T> {
        let metadata = std::mem::take(object.metadata_mut());
        let body = serde_json::to_vec(&object).map(Vec::into_boxed_slice).map_err(|e| e.to_string().into_boxed_str());
        Packed { metadata, body, kind: PhantomData }
    }

    /// The object without its metadata (which stays in [`Packed::metadata`], to be borrowed).
    pub fn decode_body(&self) -> Result<T, DecodeError> {
        DECODES.with(|d| d.set(d.get() + 1));
        self.read_as()
    }

    /// The whole object, metadata included.
    pub fn decode(&self) -> Result<T, DecodeError> {
        let mut object = self.decode_body()?;
        *object.metadata_mut() = self.metadata.clone();
        Ok(object)
    }
}

impl<T> Packed<T> {
    /// The JSON bytes of the object with empty metadata (what custom checks read).
    pub fn json(&self) -> Result<&[u8], DecodeError> {
        self.body.as_deref().map_err(|reason| DecodeError(reason.to_string()))
    }

    /// Reads the body as another type: a few fields of it, skipping the rest without building it.
    pub fn read_as<U: DeserializeOwned>(&self) -> Result<U, DecodeError> {
        serde_json::from_slice(self.json()?).map_err(|e| DecodeError(e.to_string()))
    }

    /// The bytes the body takes (benchmarks).
    pub fn body_len(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len())
    }

    /// A packed entry with the given metadata and body bytes, as if read from elsewhere (tests of what an
    /// undecodable entry does).
    pub fn from_parts(metadata: ObjectMeta, body: Vec<u8>) -> Packed<T> {
        Packed { metadata, body: Ok(body.into_boxed_slice()), kind: PhantomData }
    }
}

/// How a kind is kept in the index: whole (`Arc<T>`) or [`Packed`]. The registry in
/// [`crate::input::kinds`] says which, per kind (`stored packed`).
pub trait IndexForm: Sized {
    type Stored;
    fn store(self) -> Self::Stored;
    fn load(stored: &Self::Stored) -> Result<Self, DecodeError>;
    fn metadata_of(stored: &Self::Stored) -> &ObjectMeta;
}

/// Implements [`IndexForm`] for a kind as the registry says (`packed` or nothing: whole).
#[macro_export]
#[doc(hidden)]
macro_rules! index_form {
    (packed $ty:ty) => {
        impl $crate::input::packed::IndexForm for $ty {
            type Stored = $crate::input::packed::Packed<$ty>;
            fn store(self) -> Self::Stored {
                $crate::input::packed::Packed::pack(self)
            }
            fn load(stored: &Self::Stored) -> Result<Self, $crate::input::packed::DecodeError> {
                stored.decode()
            }
            fn metadata_of(stored: &Self::Stored) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &stored.metadata
            }
        }
    };
    ($ty:ty) => {
        impl $crate::input::packed::IndexForm for $ty {
            type Stored = $ty;
            fn store(self) -> Self::Stored {
                self
            }
            fn load(stored: &Self::Stored) -> Result<Self, $crate::input::packed::DecodeError> {
                Ok(stored.clone())
            }
            fn metadata_of(stored: &Self::Stored) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &stored.metadata
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::kinds::{Kind, KubeObject};

    /// Every pod-template kind, filled the way the API server stores it (volumes, env, probes,
    /// quantities, owner references, status dropped by stripping), packs and decodes to an equal object.
    #[test]
    fn every_packed_kind_round_trips() {
        let spec = serde_json::json!({
            "serviceAccountName": "web",
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80, "hostPort": 8080}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0.1"}},
                "securityContext": {"privileged": false, "capabilities": {"drop": ["ALL"]}},
                "livenessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            }],
            "initContainers": [{"name": "init", "image": "busybox"}],
            "volumes": [{"name": "data", "hostPath": {"path": "/var/data"}}, {"name": "t", "projected": {"sources": []}}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "os": {"name": "linux"}
        });
        let template =
            serde_json::json!({"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}}, "spec": spec});
        let selector = serde_json::json!({"matchLabels": {"app": "web"}});
        let meta = serde_json::json!({
            "name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"},
            "creationTimestamp": "2026-12-01T00:00:00Z",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "o1", "controller": true}]
        });
        let bodies = [
            ("v1", "Pod", spec.clone()),
            ("apps/v1", "Deployment", serde_json::json!({"replicas": 2, "selector": selector, "template": template})),
            (
                "apps/v1",
                "StatefulSet",
                serde_json::json!({"serviceName": "web", "selector": selector, "template": template}),
            ),
            ("apps/v1", "DaemonSet", serde_json::json!({"selector": selector, "template": template})),
            ("apps/v1", "ReplicaSet", serde_json::json!({"selector": selector, "template": template})),
            ("batch/v1", "Job", serde_json::json!({"manualSelector": true, "template": template})),
            (
                "batch/v1",
                "CronJob",
                serde_json::json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}),
            ),
            ("v1", "ReplicationController", serde_json::json!({"selector": {"app": "web"}, "template": template})),
        ];
        let mut seen = Vec::new();
        for (api_version, kind, body) in bodies {
            let value = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": body});
            let object = KubeObject::from_value(value).unwrap().unwrap();
            let mut index = crate::Index::new();
            index.insert(object.clone());
            let back = index.get_object(kind, "shop", "web").unwrap_or_else(|| panic!("{kind} decodes"));
            assert_eq!(back, object, "{kind}: every field survives");
            seen.push(object.registry_kind());
        }
        let packed: Vec<Kind> = Kind::TYPED.iter().copied().filter(|k| k.is_packed()).collect();
        assert_eq!(seen, packed, "the test covers every packed kind");
    }

    #[test]
    fn an_undecodable_body_is_an_error_with_a_reason_never_a_panic() {
        let packed: Packed<k8s_openapi::api::core::v1::Pod> =
            Packed::from_parts(ObjectMeta::default(), br#"{"spec": {"containers": 7}}"#.to_vec());
        let error = packed.decode().unwrap_err();
        assert!(error.to_string().contains("invalid type"), "{error}");
        let truncated: Packed<k8s_openapi::api::core::v1::Pod> =
            Packed::from_parts(ObjectMeta::default(), br#"{"spec": {"#.to_vec());
        assert!(truncated.decode().is_err());
    }
}
