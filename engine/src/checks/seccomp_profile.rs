use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSecurityContext, SeccompProfile};

use super::prelude::*;
use crate::checks::support::pss::PssVersion;

pub static CHECK: Check = Check {
    id: "seccomp-profile",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Use secure computing (seccomp) to restrict host system call (syscall) access from containers",
    title: "Containers run with a seccomp profile",
    fails_when: "no `RuntimeDefault` or `Localhost` seccomp profile applies to a container (most specific first: the container's field, the container's legacy annotation, the pod's field, the pod's legacy annotation; the annotations only up to Kubernetes v1.26, as the kubelet ignores them from v1.27), or `Unconfined` is set",
    remediation: "Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod (or `Localhost` with a profile).",
    rule: "Pod Security Standards restricted control Seccomp: `RuntimeDefault` or `Localhost`, the container's field overriding the pod's; the legacy annotations count only up to v1.26, the kubelet ignores them from v1.27. Source: `staging/src/k8s.io/pod-security-admission/policy/check_seccompProfile_restricted.go`; `pkg/kubelet/kuberuntime/helpers.go` (getSeccompProfile); `pkg/api/pod/warnings.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

/// Legacy annotations (values `runtime/default`, `docker/default`, `localhost/<path>`, `unconfined`).
const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// Where a container's seccomp profile comes from.
enum Setting<'a> {
    Field { profile: &'a SeccompProfile, from: &'static str },
    Annotation { key: String, value: &'a str },
}

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    if w.is_windows() {
        return Outcome::not_applicable("Windows pod: securityContext.seccompProfile is Linux-only");
    }
    let pss = PssVersion::of(ctx.index);
    let pod = w.pod_security_context();
    let all_annotations = w.template_meta.annotations.as_ref();
    let annotations = all_annotations.filter(|_| pss.honours_seccomp_annotations());
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let message = match setting(c, pod, annotations) {
                    Some(Setting::Field { profile, .. })
                        if matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost") =>
                    {
                        return None;
                    }
                    Some(Setting::Field { profile, from }) => {
                        format!("{} has seccompProfile.type {} (in {from})", c.describe(), profile.type_)
                    }
                    Some(Setting::Annotation { value, .. }) if confining_annotation(value) => return None,
                    Some(Setting::Annotation { key, value }) => {
                        format!("{} has seccomp profile {value} (annotation {key})", c.describe())
                    }
                    None => format!(
                        "{} has no seccompProfile RuntimeDefault or Localhost in its or the pod securityContext{}",
                        c.describe(),
                        ignored_annotation(c, all_annotations)
                            .filter(|_| !pss.honours_seccomp_annotations())
                            .map(|key| format!(
                                " (annotation {key} is non-functional since Kubernetes v1.27; judged by {})",
                                pss.describe()
                            ))
                            .unwrap_or_default()
                    ),
                };
                Some(Violation::container(c.name, message))
            })
            .collect(),
    )
}

/// The setting that applies to a container, most specific first: its securityContext field, its legacy
/// annotation, the pod securityContext field, the pod's legacy annotation.
// k8s pkg/kubelet/kuberuntime helpers getSeccompProfile; the API server's annotation/field sync on pod
// create (pkg/registry/core/pod/strategy.go applySeccompVersionSkew) keeps the same order.
fn setting<'a>(
    c: &ContainerView<'a>,
    pod: Option<&'a PodSecurityContext>,
    annotations: Option<&'a BTreeMap<String, String>>,
) -> Option<Setting<'a>> {
    let annotation = |key: String| annotations?.get(&key).map(|value| Setting::Annotation { key, value });
    let field = |profile: Option<&'a SeccompProfile>, from: &'static str| profile.map(|profile| Setting::Field { profile, from });
    field(c.security_context.and_then(|s| s.seccomp_profile.as_ref()), "its securityContext")
        .or_else(|| annotation(format!("{CONTAINER_ANNOTATION_PREFIX}{}", c.name)))
        .or_else(|| field(pod.and_then(|p| p.seccomp_profile.as_ref()), "the pod securityContext"))
        .or_else(|| annotation(POD_ANNOTATION.to_string()))
}

/// The legacy annotation that would apply to the container in a version that still honoured them.
fn ignored_annotation(c: &ContainerView, annotations: Option<&BTreeMap<String, String>>) -> Option<String> {
    let annotations = annotations?;
    [format!("{CONTAINER_ANNOTATION_PREFIX}{}", c.name), POD_ANNOTATION.to_string()]
        .into_iter()
        .find(|key| annotations.contains_key(key))
}

/// True for the legacy annotation values that confine syscalls.
fn confining_annotation(value: &str) -> bool {
    matches!(value, "runtime/default" | "docker/default") || value.starts_with("localhost/")
}
