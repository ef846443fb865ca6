use k8s_openapi::api::core::v1::Node;

use super::prelude::*;
use crate::input::index::parse_major_minor;
use crate::checks::support::releases::{MAX_KUBELET_SKEW, past_end_of_life};

pub static CHECK: Check = Check {
    id: "kubelet-version-skew",
    risk: 5,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "API server, kubelet upgrade SLA",
    title: "Kubelets run a supported version within the skew the API server allows",
    fails_when: "the kubelet's minor version is past end of life, newer than the API server, or older than it by \
                 more than 3 minors",
    remediation: "Upgrade the node (or its node pool) to the control plane's minor version.",
    rule: "The kubelet may be up to three minors older than the API server (since v1.28) and never newer. Source: the version skew policy, <https://kubernetes.io/releases/version-skew-policy/>; versions from `status.nodeInfo.kubeletVersion` (`pkg/kubelet/nodestatus/setters.go`).",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[],
    evaluators: &[Evaluator::Node(evaluate)],
};

fn evaluate(ctx: &Ctx, node: &Node) -> Outcome {
    let kubelet = node.status.as_ref().and_then(|s| s.node_info.as_ref()).map_or("", |i| i.kubelet_version.as_str());
    if kubelet.is_empty() {
        return Outcome::error("node has no status.nodeInfo.kubeletVersion");
    }
    let Some((major, minor)) = parse_major_minor(kubelet) else {
        return Outcome::error(format!("cannot parse kubelet version {kubelet:?}"));
    };
    let mut violations = Vec::new();
    if let Some(why) = past_end_of_life(major, minor, ctx.now) {
        violations.push(Violation::object(format!("kubelet {kubelet}: {why}")));
    }
    if let Some(server) = &ctx.index.server_version {
        let api = &server.git_version;
        if (major, minor) > (server.major, server.minor) {
            violations.push(Violation::object(format!("kubelet {kubelet} is newer than the API server {api}")));
        } else if major < server.major || server.minor - minor > MAX_KUBELET_SKEW {
            violations.push(Violation::object(format!(
                "kubelet {kubelet} is more than {MAX_KUBELET_SKEW} minor versions older than the API server {api}"
            )));
        }
    }
    Outcome::from_violations(violations)
}
