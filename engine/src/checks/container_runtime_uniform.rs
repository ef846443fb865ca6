use std::collections::BTreeMap;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "container-runtime-uniform",
    risk: 3,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Ensure security configurations span across container runtimes",
    title: "All nodes run the same container runtime",
    fails_when: "nodes report more than one container runtime in `status.nodeInfo.containerRuntimeVersion`",
    remediation: "Standardise node pools on one container runtime, or make sure every runtime in use gets the same \
                  security configuration.",
    rule: "The kubelet reports its runtime as `status.nodeInfo.containerRuntimeVersion` (`<runtime>://<version>`). Source: `pkg/kubelet/nodestatus/setters.go` (VersionInfo).",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::Node],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

fn evaluate(ctx: &Ctx) -> Outcome {
    if ctx.index.nodes.is_empty() {
        return Outcome::not_applicable("no Node objects in the inventory");
    }
    // Runtime name -> number of nodes running it.
    let mut runtimes: BTreeMap<String, usize> = BTreeMap::new();
    for node in ctx.index.nodes.iter() {
        let version = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map_or("", |i| i.container_runtime_version.as_str());
        if !version.is_empty() {
            *runtimes.entry(runtime_name(version)).or_default() += 1;
        }
    }
    match runtimes.len() {
        0 => Outcome::not_applicable("no node reports status.nodeInfo.containerRuntimeVersion"),
        1 => Outcome::Pass,
        n => {
            let counts: Vec<String> = runtimes
                .iter()
                .map(|(runtime, nodes)| format!("{runtime} ({nodes} node{})", if *nodes == 1 { "" } else { "s" }))
                .collect();
            Outcome::fail(format!("nodes run {n} container runtimes: {}", counts.join(", ")))
        }
    }
}

/// `containerd://1.7.13` -> `containerd`; a value without a scheme is taken whole.
fn runtime_name(version: &str) -> String {
    version.split_once("://").map_or(version, |(scheme, _)| scheme).to_lowercase()
}
