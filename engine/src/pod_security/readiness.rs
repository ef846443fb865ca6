//! Per namespace: the strictest level every current workload passes, and what blocks the next one.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Namespace, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use vigil_crds::{PodSecurityBlocker, PodSecurityLevel, PodSecurityReadiness, PodSecurityViolation};

use super::controls::{self, Violation};
use crate::checks::support::pss::PssVersion;
use crate::input::index::Index;
use crate::subject::{SubjectObject, Workload, every_workload_in};

const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// Blockers listed in a report (all are counted): keeps a Namespace's report small however many
/// workloads it holds.
pub const MAX_BLOCKERS: usize = 20;

/// A detail longer than this (a pod with hundreds of containers) is cut.
const MAX_DETAIL: usize = 512;

/// The Pod Security readiness of `namespace`: every workload in it (system namespace or not: admission
/// does not spare them) judged at `baseline` and `restricted` under the standard of the version being
/// judged ([`PssVersion::of`]).
///
/// A workload is judged by its pod template plus the containers its live pods have that the template
/// lacks (sidecars injected by a webhook, `kubectl debug` containers): the pods admission would see.
/// A workload without a pod template has no pods to judge and is left out.
pub fn namespace_readiness(index: &Index, namespace: &Namespace) -> PodSecurityReadiness {
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    let pss = PssVersion::of(index);
    let mut workloads = 0u32;
    // (kind, name, violations): each workload is decoded, judged and dropped in turn.
    let mut failing_baseline: Vec<(&'static str, String, Vec<Violation>)> = Vec::new();
    let mut failing_restricted: Vec<(&'static str, String, Vec<Violation>)> = Vec::new();
    for entry in every_workload_in(index, name) {
        let SubjectObject::Workload(w) = &entry.object else { continue };
        workloads += 1;
        let spec = effective_spec(w);
        let meta: &ObjectMeta = &w.template_meta;
        let baseline = controls::evaluate(PodSecurityLevel::Baseline, &pss, meta, &spec);
        if !baseline.is_empty() {
            failing_baseline.push((w.kind, w.name().to_string(), baseline));
            continue;
        }
        let restricted = controls::evaluate(PodSecurityLevel::Restricted, &pss, meta, &spec);
        if !restricted.is_empty() {
            failing_restricted.push((w.kind, w.name().to_string(), restricted));
        }
    }
    let (ready_level, next_level, mut blocking) = if !failing_baseline.is_empty() {
        (PodSecurityLevel::Privileged, Some(PodSecurityLevel::Baseline), failing_baseline)
    } else if !failing_restricted.is_empty() {
        (PodSecurityLevel::Baseline, Some(PodSecurityLevel::Restricted), failing_restricted)
    } else {
        (PodSecurityLevel::Restricted, None, Vec::new())
    };
    blocking.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let blockers = blocking
        .iter()
        .take(MAX_BLOCKERS)
        .map(|(kind, name, violations)| PodSecurityBlocker {
            kind: kind.to_string(),
            name: name.clone(),
            violations: violations
                .iter()
                .map(|v| PodSecurityViolation {
                    control: v.control.to_string(),
                    reason: v.reason.clone(),
                    detail: cut(&v.detail),
                })
                .collect(),
        })
        .collect();
    PodSecurityReadiness {
        ready_level,
        version: format!("v1.{}", pss.minor),
        version_note: pss.assumed.clone(),
        enforced: namespace.metadata.labels.as_ref().and_then(|l| l.get(ENFORCE_LABEL)).cloned(),
        workloads,
        next_level,
        blocking_workloads: blocking.len() as u32,
        blockers,
    }
}

/// The pod spec admission would see for a workload: its template, plus the containers of its live pods
/// that the template lacks.
fn effective_spec<'w>(w: &'w Workload<'_>) -> Cow<'w, PodSpec> {
    let template: &PodSpec = &w.spec;
    let mut spec: Cow<'w, PodSpec> = Cow::Borrowed(template);
    for pod in &w.pods {
        let Some(live) = pod.spec.as_ref() else { continue };
        for c in &live.containers {
            if !spec.containers.iter().any(|t| t.name == c.name) {
                spec.to_mut().containers.push(c.clone());
            }
        }
        for c in live.init_containers.iter().flatten() {
            if !spec.init_containers.iter().flatten().any(|t| t.name == c.name) {
                spec.to_mut().init_containers.get_or_insert_with(Vec::new).push(c.clone());
            }
        }
        for c in live.ephemeral_containers.iter().flatten() {
            if !spec.ephemeral_containers.iter().flatten().any(|t| t.name == c.name) {
                spec.to_mut().ephemeral_containers.get_or_insert_with(Vec::new).push(c.clone());
            }
        }
    }
    spec
}

fn cut(detail: &str) -> String {
    if detail.len() <= MAX_DETAIL {
        return detail.to_string();
    }
    let mut end = MAX_DETAIL;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &detail[..end])
}

/// One line for people: `ready for baseline (v1.32); restricted blocked by 2 workloads`.
pub fn describe(readiness: &PodSecurityReadiness) -> String {
    let mut text =
        format!("ready for {} (Pod Security Standards {})", readiness.ready_level.as_str(), readiness.version);
    if let Some(next) = readiness.next_level {
        let n = readiness.blocking_workloads;
        text.push_str(&format!("; {} blocked by {n} workload{}", next.as_str(), if n == 1 { "" } else { "s" }));
    } else if readiness.workloads == 0 {
        text.push_str("; no workloads");
    }
    if let Some(enforced) = &readiness.enforced {
        text.push_str(&format!("; enforce label: {enforced}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::index::ServerVersion;

    const RESTRICTED_TEMPLATE: &str = "
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: app:1
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}";

    fn deployment(name: &str, uid: &str, pod_spec: &str) -> String {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop, uid: {uid}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:{pod_spec}
"
        )
    }

    fn readiness(yaml: &str, version: &str) -> PodSecurityReadiness {
        let text = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{pod-security.kubernetes.io/enforce: baseline}}}}\n{yaml}"
        );
        let mut index = Index::from_yaml(&text).unwrap();
        index.server_version = ServerVersion::parse(version);
        let namespace = index.namespaces.get("", "shop").unwrap().clone();
        namespace_readiness(&index, &namespace)
    }

    #[test]
    fn a_namespace_of_restricted_workloads_is_ready_for_restricted() {
        let r = readiness(&deployment("web", "u1", RESTRICTED_TEMPLATE), "1.32");
        assert_eq!(r.ready_level, PodSecurityLevel::Restricted);
        assert_eq!((r.workloads, r.next_level, r.blocking_workloads), (1, None, 0));
        assert_eq!(r.version, "v1.32");
        assert_eq!(r.enforced.as_deref(), Some("baseline"));
        assert!(describe(&r).starts_with("ready for restricted"), "{}", describe(&r));
    }

    #[test]
    fn an_empty_namespace_is_ready_for_restricted_and_says_it_has_no_workloads() {
        let r = readiness("", "1.32");
        assert_eq!((r.ready_level, r.workloads), (PodSecurityLevel::Restricted, 0));
        assert!(describe(&r).contains("no workloads"), "{}", describe(&r));
    }

    #[test]
    fn one_workload_without_security_context_holds_the_namespace_at_baseline() {
        let plain = "\n      containers: [{name: app, image: app:1}]";
        let yaml = deployment("web", "u1", RESTRICTED_TEMPLATE) + &deployment("legacy", "u2", plain);
        let r = readiness(&yaml, "1.32");
        assert_eq!(r.ready_level, PodSecurityLevel::Baseline);
        assert_eq!(r.next_level, Some(PodSecurityLevel::Restricted));
        assert_eq!(r.blocking_workloads, 1);
        let blocker = &r.blockers[0];
        assert_eq!((blocker.kind.as_str(), blocker.name.as_str()), ("Deployment", "legacy"));
        let reasons: Vec<&str> = blocker.violations.iter().map(|v| v.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "allowPrivilegeEscalation != false",
                "unrestricted capabilities",
                "runAsNonRoot != true",
                "seccompProfile"
            ]
        );
    }

    #[test]
    fn a_privileged_workload_leaves_only_privileged_and_names_just_the_baseline_failures() {
        let privileged = "
      hostNetwork: true
      containers: [{name: agent, image: agent:1, securityContext: {privileged: true}}]";
        let plain = "\n      containers: [{name: app, image: app:1}]";
        let yaml = deployment("agent", "u1", privileged) + &deployment("legacy", "u2", plain);
        let r = readiness(&yaml, "1.32");
        assert_eq!(r.ready_level, PodSecurityLevel::Privileged);
        assert_eq!(r.next_level, Some(PodSecurityLevel::Baseline));
        // `legacy` passes baseline: only `agent` blocks it, and only its baseline controls are named.
        assert_eq!(r.blocking_workloads, 1);
        let controls: Vec<&str> = r.blockers[0].violations.iter().map(|v| v.control.as_str()).collect();
        assert_eq!(controls, ["hostNamespaces", "privileged"]);
    }

    #[test]
    fn a_sidecar_injected_into_live_pods_is_judged_with_the_template() {
        // The template is restricted; the live Pod carries an injected init container that needs NET_ADMIN
        // (what istio-init does): admission judges the Pod, so the namespace is held at privileged.
        let yaml = deployment("web", "d1", RESTRICTED_TEMPLATE)
            + "---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8
  namespace: shop
  uid: rs1
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8-abc
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8, uid: rs1, controller: true}]
spec:
  initContainers:
  - {name: istio-init, image: proxyv2, securityContext: {capabilities: {add: [NET_ADMIN, NET_RAW]}}}
  containers:
  - {name: app, image: app:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
";
        let r = readiness(&yaml, "1.32");
        assert_eq!(r.ready_level, PodSecurityLevel::Privileged);
        assert_eq!(r.workloads, 1, "the Pod is the Deployment's, not a workload of its own");
        let detail = &r.blockers[0].violations[0].detail;
        assert!(detail.contains("istio-init") && detail.contains("NET_ADMIN"), "{detail}");
    }

    #[test]
    fn blockers_are_counted_all_and_listed_up_to_the_cap() {
        let plain = "\n      containers: [{name: app, image: app:1}]";
        let yaml: String =
            (0..MAX_BLOCKERS + 5).map(|i| deployment(&format!("w{i:02}"), &format!("u{i}"), plain)).collect();
        let r = readiness(&yaml, "1.32");
        assert_eq!(r.blocking_workloads as usize, MAX_BLOCKERS + 5);
        assert_eq!(r.blockers.len(), MAX_BLOCKERS);
        assert_eq!(r.blockers[0].name, "w00");
    }

    #[test]
    fn the_version_judged_changes_the_verdict() {
        let engine_t = "
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}, seLinuxOptions: {type: container_engine_t}}
      containers:
      - {name: app, image: app:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}";
        let yaml = deployment("web", "u1", engine_t);
        assert_eq!(readiness(&yaml, "1.30").ready_level, PodSecurityLevel::Privileged);
        assert_eq!(readiness(&yaml, "1.31").ready_level, PodSecurityLevel::Restricted);
        let unknown = {
            let text = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n{yaml}");
            let index = Index::from_yaml(&text).unwrap();
            let ns = index.namespaces.get("", "shop").unwrap().clone();
            namespace_readiness(&index, &ns)
        };
        assert!(unknown.version_note.is_some(), "an unknown server version is said");
    }
}
