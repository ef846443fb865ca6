use super::prelude::*;
use crate::checks::support::network::{governs, required_directions, selects_pods};

pub static CHECK: Check = Check {
    id: "network-policy-coverage",
    risk: 10,
    category: CheckCategory::Network,
    source: Source::Seed,
    seed_item: "Network Policy must be enabled and enforced at least at namespace level",
    title: "A NetworkPolicy selects the workload's pods",
    fails_when: "no NetworkPolicy in the namespace selects the workload's pods for Ingress (and, when the policy requires egress control, for Egress); the pods carry the labels the API server and the controllers add (a Job's `job-name`; a CronJob's Jobs and a Deployment's `pod-template-hash` have generated values, which only `Exists` and `NotIn` can select)",
    remediation: "Add a NetworkPolicy whose podSelector matches the pod template's labels and that lists the allowed peers.",
    rule: "A pod is isolated for a direction only when some NetworkPolicy of its namespace selects it (podSelector over the pod's labels, including those the API server and the controllers add: a Job's `batch.kubernetes.io/job-name`, generated per run for a CronJob's Jobs, a Deployment's `pod-template-hash`) with that policyType; `policyTypes` defaults to Ingress, plus Egress when `egress` is non-empty. Source: `staging/src/k8s.io/api/networking/v1/types.go` (NetworkPolicySpec); `pkg/apis/networking/v1/defaults.go`; Job labels `pkg/registry/batch/job/strategy.go`, `pkg/controller/cronjob/utils.go` (see `Workload::stored_pod_labels`).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::NetworkPolicy],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let namespace = w.namespace();
    let pod_labels = w.stored_pod_labels(ctx.index);
    let selecting: Vec<_> =
        ctx.index.network_policies.in_namespace(namespace).filter(|p| selects_pods(p, &pod_labels)).collect();
    Outcome::from_violations(
        required_directions(ctx.policy.parameters.egress_required)
            .iter()
            .filter(|&&direction| !selecting.iter().any(|p| governs(p, direction)))
            .map(|direction| {
                Violation::object(format!(
                    "no NetworkPolicy in namespace \"{namespace}\" selects the pods for {}",
                    direction.as_str()
                ))
            })
            .collect(),
    )
}
