use super::prelude::*;

pub static CHECK: Check = Check {
    id: "readonly-root-filesystem",
    risk: 10,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Make your container filesystem read-only using security context",
    title: "Containers have a read-only root filesystem",
    fails_when: "a container does not set `securityContext.readOnlyRootFilesystem: true`",
    remediation: "Set `readOnlyRootFilesystem: true` and mount an `emptyDir` volume where the container must write.",
    rule: "The kubelet gives a container a read-only root filesystem only when `securityContext.readOnlyRootFilesystem` is true; unset means writable. Not a Pod Security Standards control. Source: `pkg/kubelet/kuberuntime/security_context.go` (ReadonlyRootfs); field in `staging/src/k8s.io/api/core/v1/types.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    if w.is_windows() {
        return Outcome::not_applicable("Windows pod: securityContext.readOnlyRootFilesystem is Linux-only");
    }
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let message = match c.security_context.and_then(|s| s.read_only_root_filesystem) {
                    Some(true) => return None,
                    Some(false) => format!("{} sets securityContext.readOnlyRootFilesystem: false", c.describe()),
                    None => format!("{} has no securityContext.readOnlyRootFilesystem: true", c.describe()),
                };
                Some(Violation::container(c.name, message))
            })
            .collect(),
    )
}
