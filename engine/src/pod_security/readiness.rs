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
    let entries = every_workload_in(index, name);
    let mut workloads = 0u32;
    let mut failing_baseline: Vec<(&Workload, Vec<Violation>)> = Vec::new();
    let mut failing_restricted: Vec<(&Workload, Vec<Violation>)> = Vec::new();
    for entry in &entries {
        let SubjectObject::Workload(w) = &entry.object else { continue };
        workloads += 1;
        let spec = effective_spec(w);
        let meta: &ObjectMeta = &w.template_meta;
        let baseline = controls::evaluate(PodSecurityLevel::Baseline, &pss, meta, &spec);
        if !baseline.is_empty() {
            failing_baseline.push((w, baseline));
            continue;
        }
        let restricted = controls::evaluate(PodSecurityLevel::Restricted, &pss, meta, &spec);
        if !restricted.is_empty() {
            failing_restricted.push((w, restricted));
        }
    }
    let (ready_level, next_level, mut blocking) = if !failing_baseline.is_empty() {
        (PodSecurityLevel::Privileged, Some(PodSecurityLevel::Baseline), failing_baseline)
    } else if !failing_restricted.is_empty() {
        (PodSecurityLevel::Baseline, Some(PodSecurityLevel::Restricted), failing_restricted)
    } else {
        (PodSecurityLevel::Restricted, None, Vec::new())
    };
    blocking.sort_by(|a, b| (a.0.kind, a.0.name()).cmp(&(b.0.kind, b.0.name())));
    let blockers = blocking
        .iter()
        .take(MAX_BLOCKERS)
        .map(|(w, violations)| PodSecurityBlocker {
            kind: w.kind.to_string(),
            name: w.name().to_string(),
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
    let mut text = format!("ready for {} (Pod Security Standards {})", readiness.ready_level.as_str(), readiness.version);
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
