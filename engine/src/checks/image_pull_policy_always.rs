use super::prelude::*;
use crate::checks::support::pod::effective_pull_policy;

pub static CHECK: Check = Check {
    id: "image-pull-policy-always",
    risk: 10,
    category: CheckCategory::Images,
    source: Source::Seed,
    seed_item: "ImagePull Policy to set to 'Always'",
    title: "Images are pulled on every start",
    fails_when: "a container's effective imagePullPolicy is not Always (unset defaults to Always only for `:latest` or untagged images)",
    remediation: "Set `imagePullPolicy: Always` so the registry's access control is checked on every pod start.",
    rule: "An unset `imagePullPolicy` defaults to `Always` when the image's tag is `latest` or absent (a digest does not change that) and to `IfNotPresent` otherwise; only `Always` makes the kubelet check the registry, and so its credentials, on every start. Source: `pkg/apis/core/v1/defaults.go` SetDefaults_Container.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let policy = effective_pull_policy(c);
                // One message whether the field is set or defaulted: the API server fills it in, so a
                // manifest and the live object must read the same.
                (policy != "Always").then(|| {
                    Violation::container(c.name, format!("{} imagePullPolicy is {policy}, not Always", c.describe()))
                })
            })
            .collect(),
    )
}
