use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use vigil_crds::MeshRequirement;

use super::prelude::*;
use crate::checks::support::mesh::{
    Level, MtlsMode, SidecarInjection, istio_installed, istio_namespace_injection, istio_sidecar, linkerd_injects,
    linkerd_installed, namespace_mtls, workload_mtls,
};

pub static CHECK: Check = Check {
    id: "mesh-mtls-strict",
    risk: 10,
    category: CheckCategory::Mesh,
    source: Source::Seed,
    seed_item: "service to service traffic should be mTLS using service mesh like istio",
    title: "Service-to-service traffic uses strict mTLS",
    fails_when: "a namespace or workload is not in a service mesh with strict mTLS: no Istio sidecar injection or an effective PeerAuthentication mode (mesh-wide < namespace < workload < port) other than STRICT, or no Linkerd injection",
    remediation: "Label the namespace `istio-injection=enabled` and apply a STRICT PeerAuthentication (mesh-wide in `istio-system` or per namespace), or annotate it `linkerd.io/inject: enabled`.",
    rule: "Istio injects a sidecar by its webhooks' selectors (`istio-injection`, `istio.io/rev`, `sidecar.istio.io/inject`) and takes the mTLS mode from the most specific PeerAuthentication (port > workload > namespace > mesh-wide in the root namespace), PERMISSIVE by default; Linkerd injects by `linkerd.io/inject` and always uses mTLS between meshed pods. Source: istio/istio `manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml`; istio/api `security/v1beta1/peer_authentication.proto`; Linkerd's proxy-injector (`linkerd.io/inject`).",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::PeerAuthentication, Kind::Namespace, Kind::CustomResourceDefinition],
    evaluators: &[Evaluator::Namespace(evaluate_namespace), Evaluator::Workload(evaluate_workload)],
};

/// The meshes whose mTLS counts under the policy.
struct Meshes {
    istio: bool,
    linkerd: bool,
}

fn meshes(ctx: &Ctx) -> Result<Meshes, Outcome> {
    let (istio, linkerd) = (istio_installed(ctx.index), linkerd_installed(ctx.index));
    match ctx.policy.parameters.mesh {
        MeshRequirement::None if !istio && !linkerd => Err(Outcome::not_applicable("no service mesh installed")),
        MeshRequirement::None => Ok(Meshes { istio, linkerd }),
        MeshRequirement::Istio if istio => Ok(Meshes { istio: true, linkerd: false }),
        MeshRequirement::Istio => {
            Err(Outcome::fail("the policy requires Istio, but its CRDs (security.istio.io) are not installed"))
        }
        MeshRequirement::Linkerd if linkerd => Ok(Meshes { istio: false, linkerd: true }),
        MeshRequirement::Linkerd => {
            Err(Outcome::fail("the policy requires Linkerd, but its CRDs (linkerd.io) are not installed"))
        }
    }
}

fn strict_violation(prefix: &str, mode: MtlsMode, source: String) -> Violation {
    Violation::object(format!("{prefix}mTLS mode is {}, decided by {source}", mode.as_str()))
}

fn evaluate_namespace(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    let meshes = match meshes(ctx) {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    if meshes.linkerd && linkerd_injects(namespace.metadata.annotations.as_ref()) == Some(true) {
        return Outcome::Pass;
    }
    if !meshes.istio {
        return Outcome::fail(format!("namespace \"{name}\" is not annotated linkerd.io/inject: enabled"));
    }
    let mut violations = Vec::new();
    let no_labels = BTreeMap::new();
    if !istio_namespace_injection(namespace.metadata.labels.as_ref().unwrap_or(&no_labels)) {
        violations.push(Violation::object(format!(
            "Istio does not inject sidecars into namespace \"{name}\" (no istio-injection=enabled or istio.io/rev label)"
        )));
    }
    let decision = namespace_mtls(ctx.index, name);
    if decision.mode != MtlsMode::Strict {
        violations.push(strict_violation("", decision.mode, decision.source()));
    }
    Outcome::from_violations(violations)
}

/// Whether Linkerd injects the pods: the pod template's annotation, else the namespace's; `None` when the
/// namespace is not in the snapshot.
fn linkerd_injects_pods(namespace: Option<&ObjectMeta>, pod: &ObjectMeta) -> Option<bool> {
    linkerd_injects(pod.annotations.as_ref())
        .or_else(|| namespace.map(|n| linkerd_injects(n.annotations.as_ref()) == Some(true)))
}

fn evaluate_workload(ctx: &Ctx, w: &Workload) -> Outcome {
    let meshes = match meshes(ctx) {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let namespace = w.namespace();
    let namespace_meta = ctx.index.namespaces.get("", namespace).map(|n| &n.metadata);
    let linkerd = linkerd_injects_pods(namespace_meta, &w.template_meta);
    if meshes.linkerd && linkerd == Some(true) {
        return Outcome::Pass;
    }
    if !meshes.istio {
        return match linkerd {
            None => Outcome::error(format!(
                "namespace \"{namespace}\" is not in the snapshot; cannot tell whether Linkerd injects the pods"
            )),
            Some(_) => Outcome::fail(
                "Linkerd does not inject the pods: no linkerd.io/inject: enabled on the pod template or namespace",
            ),
        };
    }
    let mut violations = Vec::new();
    // A Namespace object without labels is known (no injection label), not unknown.
    match istio_sidecar(namespace, ctx.index.namespace_labels(namespace), &w.template_meta) {
        SidecarInjection::NotInjected(reason) => {
            violations.push(Violation::object(format!("no Istio sidecar: {reason}")))
        }
        // Live pods show what the webhook really did.
        _ if !w.pods.is_empty() && !w.containers().iter().any(|c| c.name == "istio-proxy") => {
            violations.push(Violation::object("no Istio sidecar: the live pods run no istio-proxy container"))
        }
        SidecarInjection::Injected | SidecarInjection::Unknown => {}
    }
    let mtls = workload_mtls(ctx.index, namespace, &w.stored_pod_labels(ctx.index));
    if mtls.workload.mode != MtlsMode::Strict {
        violations.push(strict_violation("", mtls.workload.mode, mtls.workload.source()));
    }
    // Ports that inherit the workload's mode are covered by the finding above.
    for (port, decision) in mtls.ports.iter().filter(|(_, d)| d.level == Level::Port && d.mode != MtlsMode::Strict) {
        violations.push(strict_violation(&format!("port {port}: "), decision.mode, decision.source()));
    }
    Outcome::from_violations(violations)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;
    use crate::input::index::Index;
    use crate::input::object::KubeObject;
    use crate::policy::Policy;

    fn object(json: serde_json::Value) -> KubeObject {
        KubeObject::from_value(json).unwrap().unwrap()
    }

    /// Live pods (only the operator sees them) tell whether the webhook really injected the sidecar.
    #[test]
    fn live_pods_without_istio_proxy_fail() {
        let mut index = Index::new();
        index.insert(object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}})));
        index.insert(object(serde_json::json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "apps"}, "spec": {"mtls": {"mode": "STRICT"}}})));
        let policy = Policy::default();
        let ctx = Ctx { index: &index, policy: &policy, now: "2026-11-27T00:00:00Z".parse().unwrap() };
        let pod = |containers: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "web-1", "namespace": "apps"},
                "spec": {"containers": containers}}))
            .unwrap()
        };
        let plain = pod(serde_json::json!([{"name": "app"}]));
        let injected = pod(serde_json::json!([{"name": "app"}, {"name": "istio-proxy"}]));
        let meta = plain.metadata.clone();
        let spec = plain.spec.clone().unwrap();
        let workload = |pods| Workload {
            api_version: "apps/v1",
            kind: "Deployment",
            meta: &meta,
            template_meta: std::borrow::Cow::Borrowed(&meta),
            spec: std::borrow::Cow::Borrowed(&spec),
            pods,
        };
        let outcome = evaluate_workload(&ctx, &workload(vec![std::borrow::Cow::Borrowed(&plain)]));
        assert_eq!(outcome, Outcome::fail("no Istio sidecar: the live pods run no istio-proxy container"));
        assert_eq!(evaluate_workload(&ctx, &workload(vec![std::borrow::Cow::Borrowed(&injected)])), Outcome::Pass);
        assert_eq!(evaluate_workload(&ctx, &workload(vec![])), Outcome::Pass);
    }
}
