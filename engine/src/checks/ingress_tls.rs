use k8s_openapi::api::networking::v1::Ingress;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "ingress-tls",
    risk: 5,
    category: CheckCategory::Network,
    source: Source::Seed,
    seed_item: "Secure services that are exposed to the Internet using a firewall",
    title: "Ingresses serve their hosts over TLS",
    fails_when: "an Ingress serves a host without a `tls` entry covering it (a `tls` entry without hosts covers every host); a rule without host, or a `defaultBackend` (which answers every host no rule matches), counts as serving every host",
    remediation: "Add a `tls` entry listing each rule's host (a `*.example.com` wildcard covers one label) with its certificate Secret.",
    rule: "An Ingress serves TLS for the hosts its `tls` entries list, and a `tls` entry without hosts applies to every host; a rule without `host` and the `defaultBackend` answer requests for any host. Source: IngressSpec, IngressTLS and IngressRule in `staging/src/k8s.io/api/networking/v1/types.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Ingress(evaluate)],
};

fn evaluate(_ctx: &Ctx, ingress: &Ingress) -> Outcome {
    let Some(spec) = ingress.spec.as_ref() else { return Outcome::Pass };
    let tls = spec.tls.as_deref().unwrap_or(&[]);
    let tls_hosts: Vec<&str> = tls.iter().flat_map(|t| t.hosts.iter().flatten()).map(String::as_str).collect();
    // A tls entry without hosts gives its certificate to every host the Ingress serves.
    let tls_for_every_host = tls.iter().any(|t| t.hosts.as_ref().is_none_or(Vec::is_empty));
    let rules = spec.rules.as_deref().unwrap_or(&[]);
    let mut violations = Vec::new();
    // The default backend answers every request no rule matches, whatever its host: only a tls entry
    // that covers every host covers it (networking/v1 IngressSpec.defaultBackend).
    if spec.default_backend.is_some() && !tls_for_every_host {
        violations.push(Violation::object("its defaultBackend serves every host no tls entry covers, without TLS"));
    }
    let mut uncovered: Vec<Option<&str>> = Vec::new();
    for host in rules.iter().map(|r| r.host.as_deref().filter(|h| !h.is_empty())) {
        let covered = tls_for_every_host
            || match host {
                Some(host) => tls_hosts.iter().any(|t| tls_covers(t, host)),
                None => false,
            };
        if !covered && !uncovered.contains(&host) {
            uncovered.push(host);
        }
    }
    violations.extend(uncovered.into_iter().map(|host| match host {
        Some(host) => Violation::object(format!("host \"{host}\" has no tls entry covering it")),
        None => Violation::object("a rule without host serves every host without TLS"),
    }));
    Outcome::from_violations(violations)
}

/// True when a TLS host (exact, or `*.example.com` covering exactly one more label) covers a rule host.
fn tls_covers(tls_host: &str, host: &str) -> bool {
    if tls_host.eq_ignore_ascii_case(host) {
        return true;
    }
    match (tls_host.strip_prefix("*."), host.split_once('.')) {
        (Some(domain), Some((label, rest))) => !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(domain),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::tls_covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(tls_covers("a.example.com", "a.example.com"));
        assert!(tls_covers("*.example.com", "a.example.com"));
        assert!(tls_covers("*.example.com", "*.example.com"));
        assert!(!tls_covers("*.example.com", "example.com"));
        assert!(!tls_covers("*.example.com", "a.b.example.com"));
        assert!(!tls_covers("a.example.com", "b.example.com"));
    }
}
