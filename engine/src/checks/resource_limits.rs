use k8s_openapi::api::core::v1::LimitRange;

use super::prelude::*;
use crate::checks::support::limits::default_limit_resources;

pub static CHECK: Check = Check {
    id: "resource-limits",
    risk: 9,
    category: CheckCategory::Resources,
    source: Source::Seed,
    seed_item: "Must specify resource limits at deployment level (limit admission controller)",
    title: "Containers have CPU and memory limits",
    fails_when: "an init or regular container has no CPU or no memory limit and no `type: Container` LimitRange default (or `max`, which becomes the default) in its namespace supplies it (ephemeral containers cannot set resources and are skipped)",
    remediation: "Set `resources.limits.cpu` and `resources.limits.memory` on every container, or give the namespace a LimitRange with container defaults.",
    rule: "A container without a limit gets the `default` of a `type: Container` LimitRange item of its namespace at admission, and a `max` without `default` becomes that default; without either the container is unbounded. Source: `plugin/pkg/admission/limitranger/admission.go` (defaultContainerResourceRequirements), `pkg/apis/core/v1/defaults.go` SetDefaults_LimitRangeItem.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::LimitRange],
    evaluators: &[Evaluator::Workload(evaluate)],
};

const LIMITED_RESOURCES: [&str; 2] = ["cpu", "memory"];

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let limit_ranges: Vec<&LimitRange> = ctx.index.limit_ranges.in_namespace(w.namespace()).map(|l| &**l).collect();
    Outcome::from_violations(
        w.containers()
            .iter()
            // The API forbids resources on ephemeral containers: nothing to fix there.
            .filter(|c| c.kind != ContainerKind::Ephemeral)
            .filter_map(|c| missing_limits(c, &limit_ranges))
            .collect(),
    )
}

/// A violation naming the limits the container lacks, and which of the others a LimitRange supplies.
fn missing_limits(c: &ContainerView, limit_ranges: &[&LimitRange]) -> Option<Violation> {
    let limits = c.resources.and_then(|r| r.limits.as_ref());
    let mut missing = Vec::new();
    let mut defaulted = Vec::new();
    for resource in LIMITED_RESOURCES.into_iter().filter(|r| !limits.is_some_and(|l| l.contains_key(*r))) {
        match default_limit_source(limit_ranges, resource) {
            Some(name) => defaulted.push(format!("{resource} limit comes from LimitRange \"{name}\"")),
            None => missing.push(resource),
        }
    }
    if missing.is_empty() {
        return None;
    }
    let mut message = format!("{} has no {} limit", c.describe(), missing.join(" or "));
    if !defaulted.is_empty() {
        message.push_str(&format!(" ({})", defaulted.join(", ")));
    }
    Some(Violation::container(c.name, message))
}

/// The name of the first LimitRange that gives containers a default limit for `resource`.
fn default_limit_source<'a>(limit_ranges: &[&'a LimitRange], resource: &str) -> Option<&'a str> {
    limit_ranges
        .iter()
        .find(|lr| lr.spec.iter().flat_map(|s| &s.limits).any(|item| default_limit_resources(item).contains(resource)))
        .map(|lr| lr.metadata.name.as_deref().unwrap_or(""))
}
