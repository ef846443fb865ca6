use super::prelude::*;

pub static CHECK: Check = Check {
    id: "sandboxed-runtime",
    risk: 3,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Utilize container sandboxing projects like gVisor, Kata Containers, etc. to reduce the attack surface",
    title: "Pods run in a sandboxed runtime",
    fails_when: "the pod's `runtimeClassName` is unset or not one of the policy's sandbox runtime classes (default gVisor and Kata names)",
    remediation: "Set `spec.runtimeClassName` to a sandboxed RuntimeClass such as gVisor (`runsc`) or Kata Containers.",
    rule: "A pod runs in the runtime its `runtimeClassName` names (a RuntimeClass's handler); unset means the node's default runtime, not a sandbox. Which classes are sandboxes is the policy's. Source: `staging/src/k8s.io/api/node/v1/types.go` (RuntimeClass), PodSpec.runtimeClassName in `staging/src/k8s.io/api/core/v1/types.go`.",
    enabled_by_default: false,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let sandboxes = &ctx.policy.parameters.sandbox_runtime_classes;
    if sandboxes.is_empty() {
        return Outcome::not_applicable("the policy lists no sandbox runtime classes (sandboxRuntimeClasses)");
    }
    let allowed = sandboxes.join(", ");
    match w.spec.runtime_class_name.as_deref().filter(|n| !n.is_empty()) {
        Some(class) if sandboxes.iter().any(|s| s == class) => Outcome::Pass,
        Some(class) => Outcome::fail(format!("runtimeClassName \"{class}\" is not a sandboxed class ({allowed})")),
        None => Outcome::fail(format!("runtimeClassName is unset; sandboxed classes: {allowed}")),
    }
}
