use k8s_openapi::api::core::v1::Service;

use super::prelude::*;

/// Kubernetes' older way of giving LoadBalancer source ranges, still honoured when the field is empty.
const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

pub static CHECK: Check = Check {
    id: "service-external-exposure",
    risk: 6,
    category: CheckCategory::Network,
    source: Source::Seed,
    seed_item: "Secure services that are exposed to the Internet using a firewall",
    title: "Services are not exposed to the whole Internet",
    fails_when: "a Service of type LoadBalancer has no `loadBalancerSourceRanges` (or allows 0.0.0.0/0 or ::/0), or a Service is of type NodePort, or sets `externalIPs`",
    remediation: "Restrict LoadBalancer Services with `loadBalancerSourceRanges`, expose NodePort services through an Ingress or LoadBalancer instead, and drop `externalIPs`.",
    enabled_by_default: true,
    reads: &[],
    evaluators: &[Evaluator::Service(evaluate)],
};

fn evaluate(_ctx: &Ctx, service: &Service) -> Outcome {
    let Some(spec) = service.spec.as_ref() else { return Outcome::Pass };
    let mut violations = Vec::new();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "LoadBalancer" => {
            let ranges = source_ranges(service);
            if ranges.is_empty() {
                violations.push(Violation::object(
                    "type LoadBalancer without loadBalancerSourceRanges is open to any address",
                ));
            }
            for open in ranges.iter().filter(|r| matches!(r.as_str(), "0.0.0.0/0" | "::/0")) {
                violations
                    .push(Violation::object(format!("type LoadBalancer allows {open} in loadBalancerSourceRanges")));
            }
        }
        "NodePort" => violations.push(Violation::object("type NodePort opens its ports on every node")),
        _ => {}
    }
    let external_ips = spec.external_ips.as_deref().unwrap_or(&[]);
    if !external_ips.is_empty() {
        violations.push(Violation::object(format!("sets externalIPs {}", external_ips.join(", "))));
    }
    Outcome::from_violations(violations)
}

fn source_ranges(service: &Service) -> Vec<String> {
    let field = service.spec.as_ref().and_then(|s| s.load_balancer_source_ranges.as_deref()).unwrap_or(&[]);
    if !field.is_empty() {
        return field.iter().map(|r| r.trim().to_string()).collect();
    }
    let annotation = service.metadata.annotations.as_ref().and_then(|a| a.get(SOURCE_RANGES_ANNOTATION));
    annotation
        .into_iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect()
}
