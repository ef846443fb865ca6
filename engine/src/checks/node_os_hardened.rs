use k8s_openapi::api::core::v1::Node;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "node-os-hardened",
    risk: 8,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Must use COS or similar hardened OS in Prod",
    title: "Nodes run a hardened container OS",
    fails_when: "the node's `status.nodeInfo.osImage` names none of the policy's hardened OSes (default: \
                 Container-Optimized OS, Bottlerocket, Flatcar, Talos, Fedora CoreOS, Red Hat CoreOS)",
    remediation: "Move the node pool to a minimal, hardened container OS, or list your hardened image in the \
                  policy's `hardenedOs` parameter.",
    rule: "The kubelet reports the node's OS as `status.nodeInfo.osImage` (from os-release); which OSes count as hardened is the policy's list. Source: `pkg/kubelet/nodestatus/setters.go` (VersionInfo).",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[],
    evaluators: &[Evaluator::Node(evaluate)],
};

fn evaluate(ctx: &Ctx, node: &Node) -> Outcome {
    let hardened: Vec<String> =
        ctx.policy.parameters.hardened_os.iter().filter(|os| !os.is_empty()).map(|os| os.to_lowercase()).collect();
    if hardened.is_empty() {
        return Outcome::not_applicable("the policy lists no hardened OS (parameter hardenedOs)");
    }
    let os_image = node.status.as_ref().and_then(|s| s.node_info.as_ref()).map_or("", |i| i.os_image.as_str());
    if os_image.is_empty() {
        return Outcome::error("node has no status.nodeInfo.osImage");
    }
    let lowercase = os_image.to_lowercase();
    if hardened.iter().any(|os| lowercase.contains(os.as_str())) {
        Outcome::Pass
    } else {
        Outcome::fail(format!("osImage {os_image:?} is not a hardened container OS in the policy's list"))
    }
}
