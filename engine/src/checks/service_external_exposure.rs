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
    fails_when: "a Service of type LoadBalancer has no `loadBalancerSourceRanges`, or ranges that together cover every IPv4 or IPv6 address (`10.0.0.0/0`, `::0/0`, `0.0.0.0/1` + `128.0.0.0/1`: host bits do not count), or an entry that is no CIDR; or a Service is of type NodePort, or sets `externalIPs`",
    remediation: "Restrict LoadBalancer Services with `loadBalancerSourceRanges`, expose NodePort services through an Ingress or LoadBalancer instead, and drop `externalIPs`.",
    rule: "A LoadBalancer Service without `loadBalancerSourceRanges` allows `0.0.0.0/0`, and the ranges are read as networks (host bits ignored); NodePort Services open a port on every node, and `externalIPs` route any address to the Service. Source: `pkg/api/v1/service/util.go` (GetLoadBalancerSourceRanges); ServiceSpec in `staging/src/k8s.io/api/core/v1/types.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
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
            violations.extend(open_families(&ranges).into_iter().map(Violation::object));
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

/// What the ranges leave open, as the cloud provider's firewall applies them: a family (IPv4, IPv6) whose
/// ranges together cover every address (`10.0.0.0/0`, `::0/0`, `0.0.0.0/1` + `128.0.0.0/1`: host bits are
/// ignored, as `net.ParseCIDR` and the providers ignore them), and entries that are no CIDR.
fn open_families(ranges: &[String]) -> Vec<String> {
    use ipnet::IpNet;
    let mut out = Vec::new();
    let mut nets: Vec<IpNet> = Vec::new();
    for range in ranges {
        match range.parse::<IpNet>() {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => out.push(format!("loadBalancerSourceRanges entry {range:?} is not a CIDR")),
        }
    }
    for (family, all) in [("IPv4", "0.0.0.0/0"), ("IPv6", "::/0")] {
        let everything: IpNet = all.parse().expect("a CIDR");
        let members: Vec<IpNet> =
            nets.iter().copied().filter(|n| n.addr().is_ipv4() == everything.addr().is_ipv4()).collect();
        if IpNet::aggregate(&members).contains(&everything) {
            let listed: Vec<&str> = ranges
                .iter()
                .map(String::as_str)
                .filter(|r| r.parse::<IpNet>().is_ok_and(|n| n.addr().is_ipv4() == everything.addr().is_ipv4()))
                .collect();
            out.push(match listed.as_slice() {
                [one] => format!("type LoadBalancer allows {one} in loadBalancerSourceRanges"),
                many => format!(
                    "type LoadBalancer allows every {family} address: loadBalancerSourceRanges {} together cover {all}",
                    many.join(", ")
                ),
            });
        }
    }
    out
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
