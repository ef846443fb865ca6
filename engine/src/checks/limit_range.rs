use k8s_openapi::api::core::v1::Namespace;

use super::prelude::*;
use crate::checks::support::limits::default_limit_resources;

pub static CHECK: Check = Check {
    id: "limit-range",
    risk: 9,
    category: CheckCategory::Resources,
    source: Source::Seed,
    seed_item: "Must specify resource limits at deployment level (limit admission controller)",
    title: "A LimitRange gives containers default limits",
    fails_when: "the namespace has no LimitRange whose `type: Container` items give default CPU and memory limits (a `max` without a `default` becomes the default limit)",
    remediation: "Add a LimitRange with a `type: Container` item whose `default` sets both `cpu` and `memory`.",
    rule: "The LimitRanger admission plugin gives containers without limits the `default` of a `type: Container` LimitRange item, and the API server defaults `default` from `max` (and `defaultRequest` from `default`) when unset. Source: `plugin/pkg/admission/limitranger/admission.go`; `pkg/apis/core/v1/defaults.go` SetDefaults_LimitRangeItem.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::LimitRange],
    evaluators: &[Evaluator::Namespace(evaluate)],
};

fn evaluate(ctx: &Ctx, namespace: &Namespace) -> Outcome {
    let name = namespace.metadata.name.as_deref().unwrap_or("");
    let mut limit_ranges = ctx.index.limit_ranges.in_namespace(name).peekable();
    if limit_ranges.peek().is_none() {
        return Outcome::fail(format!("namespace \"{name}\" has no LimitRange"));
    }
    // The LimitRanger admission plugin applies the defaults of every LimitRange, so they add up.
    let defaults: Vec<&str> = limit_ranges
        .flat_map(|lr| lr.spec.iter().flat_map(|s| s.limits.iter()))
        .flat_map(default_limit_resources)
        .collect();
    let missing: Vec<&str> = ["cpu", "memory"].into_iter().filter(|r| !defaults.contains(r)).collect();
    if missing.is_empty() {
        Outcome::Pass
    } else {
        Outcome::fail(format!("no LimitRange gives a default container {} limit", missing.join(" or ")))
    }
}
