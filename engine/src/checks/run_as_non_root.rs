use super::prelude::*;
use crate::checks::support::pss::PssVersion;

pub static CHECK: Check = Check {
    id: "run-as-non-root",
    risk: 9,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "No containers running with default user (default is root!)",
    title: "Containers cannot run as root",
    fails_when: "neither `runAsNonRoot: true` nor `runAsUser > 0` applies to a container (container settings override the pod's), or `runAsUser: 0` is set; from Kubernetes v1.35 a pod with `hostUsers: false` (a user namespace) passes, as the Pod Security Standards exempt it",
    remediation: "Set `runAsNonRoot: true` and a non-zero `runAsUser` in the pod or container securityContext.",
    rule: "Pod Security Standards restricted controls Running as Non-root and Non-root user: `runAsNonRoot: true` (pod or container; the container's setting wins) and never `runAsUser: 0`; Vigil also accepts a non-zero `runAsUser`, the UID the runtime then starts the process as. From v1.35 a pod with `hostUsers: false` is exempt. Source: `staging/src/k8s.io/pod-security-admission/policy/check_runAsNonRoot.go`, `check_runAsUser.go` (versions: `engine/src/checks/support/pss.rs`).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    // Root in a user namespace is not root on the host: from v1.35 the restricted runAsNonRoot and
    // runAsUser controls exempt `hostUsers: false` pods (check_runAsNonRoot.go, check_runAsUser.go).
    let pss = PssVersion::of(ctx.index);
    if pss.exempts_user_namespace_pod(&w.spec) {
        return Outcome::Pass;
    }
    let note = pss.user_namespace_note(&w.spec).map(|n| format!("; {n}")).unwrap_or_default();
    let pod = w.pod_security_context();
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let own = c.security_context;
                let run_as_user = container_or_pod(c, pod, |s| s.run_as_user, |p| p.run_as_user);
                let run_as_non_root = container_or_pod(c, pod, |s| s.run_as_non_root, |p| p.run_as_non_root);
                // Where a setting comes from, for the message: the container's own wins over the pod's.
                let origin = |set_on_container: bool| {
                    if set_on_container { "its securityContext" } else { "the pod securityContext" }
                };
                let message = match run_as_user {
                    Some(0) => {
                        let from = origin(own.and_then(|s| s.run_as_user).is_some());
                        format!("{} runs as UID 0 (runAsUser: 0 in {from})", c.describe())
                    }
                    Some(uid) if uid > 0 => return None,
                    _ if run_as_non_root == Some(true) => return None,
                    _ if run_as_non_root == Some(false) => {
                        let from = origin(own.and_then(|s| s.run_as_non_root).is_some());
                        format!("{} may run as root: runAsNonRoot: false in {from} and no runAsUser > 0", c.describe())
                    }
                    _ => format!("{} may run as root: no runAsNonRoot: true or runAsUser > 0 applies", c.describe()),
                };
                Some(Violation::container(c.name, format!("{message}{note}")))
            })
            .collect(),
    )
}
