use std::collections::BTreeMap;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "seccomp-profile",
    risk: 7,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Use secure computing (seccomp) to restrict host system call (syscall) access from containers",
    title: "Containers run with a seccomp profile",
    fails_when: "no `RuntimeDefault` or `Localhost` seccomp profile applies to a container (container settings override the pod's; the legacy annotations count when no field is set), or `Unconfined` is set",
    remediation: "Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod (or `Localhost` with a profile).",
    enabled_by_default: true,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

/// Legacy annotations, honoured when no `seccompProfile` field is set; the container's wins over the pod's.
const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.is_windows() {
        return Outcome::not_applicable("Windows pod: securityContext.seccompProfile is Linux-only");
    }
    let pod = w.pod_security_context();
    let annotations = w.template_meta.annotations.as_ref();
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let field = c
                    .security_context
                    .and_then(|s| s.seccomp_profile.as_ref())
                    .map(|p| (p, "its securityContext"))
                    .or_else(|| pod.and_then(|p| p.seccomp_profile.as_ref()).map(|p| (p, "the pod securityContext")));
                let message = match (field, legacy_annotation(annotations, c.name)) {
                    (Some((profile, _)), _) if matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost") => {
                        return None;
                    }
                    (Some((profile, from)), _) => {
                        format!("{} has seccompProfile.type {} (in {from})", c.describe(), profile.type_)
                    }
                    (None, Some((_, value))) if confining_annotation(value) => return None,
                    (None, Some((key, value))) => {
                        format!("{} has seccomp profile {value} (annotation {key})", c.describe())
                    }
                    (None, None) => format!(
                        "{} has no seccompProfile RuntimeDefault or Localhost in its or the pod securityContext",
                        c.describe()
                    ),
                };
                Some(Violation::container(c.name, message))
            })
            .collect(),
    )
}

/// The legacy annotation that applies to a container, as (key, value): its own, else the pod's.
fn legacy_annotation<'a>(
    annotations: Option<&'a BTreeMap<String, String>>,
    container: &str,
) -> Option<(String, &'a str)> {
    let annotations = annotations?;
    let container_key = format!("{CONTAINER_ANNOTATION_PREFIX}{container}");
    [container_key, POD_ANNOTATION.to_string()]
        .into_iter()
        .find_map(|key| annotations.get(&key).map(|value| (key, value.as_str())))
}

/// True for the legacy annotation values that confine syscalls.
fn confining_annotation(value: &str) -> bool {
    matches!(value, "runtime/default" | "docker/default") || value.starts_with("localhost/")
}
