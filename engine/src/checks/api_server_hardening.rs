use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::prelude::*;

pub static CHECK: Check = Check {
    id: "api-server-hardening",
    risk: 9,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Enable access logs for all API requests (audit logs); encrypted secrets; limit who can talk to the API server",
    title: "The API server audits requests, encrypts Secrets and refuses anonymous or unauthorised access",
    fails_when: "a visible kube-apiserver static pod lacks audit logging, `--encryption-provider-config`, \
                 `--anonymous-auth=false`, or allows `AlwaysAllow` authorization",
    remediation: "Set `--audit-policy-file` with `--audit-log-path` (or an audit webhook), \
                  `--encryption-provider-config`, `--anonymous-auth=false` and `--authorization-mode=Node,RBAC` \
                  in the kube-apiserver manifest.",
    rule: "kube-apiserver audits only with `--audit-policy-file` and a log path or webhook, encrypts Secrets at rest only with `--encryption-provider-config`, serves anonymous requests unless `--anonymous-auth=false`, and `--authorization-mode=AlwaysAllow` allows every request. Source: `staging/src/k8s.io/apiserver/pkg/server/options/audit.go`, `options/etcd.go`; `pkg/kubeapiserver/options/authentication.go`, `authorization.go`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::Pod],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

const CONTROL_PLANE_NAMESPACE: &str = "kube-system";

fn evaluate(ctx: &Ctx) -> Outcome {
    // Chosen by metadata; only the API server pods are decoded.
    let api_servers: Vec<_> =
        ctx.index.pods.in_namespace(CONTROL_PLANE_NAMESPACE).filter(|p| is_api_server(&p.metadata)).collect();
    if api_servers.is_empty() {
        return Outcome::not_applicable("no kube-apiserver static pod visible: managed control plane");
    }
    let mut violations = Vec::new();
    for packed in api_servers {
        let name = packed.metadata.name.as_deref().unwrap_or("kube-apiserver");
        let pod = match packed.decode_body() {
            Ok(pod) => pod,
            Err(error) => return Outcome::error(format!("pod {name}: {error}")),
        };
        let Some(flags) = api_server_flags(&pod) else {
            return Outcome::error(format!("pod {name} has no containers"));
        };
        violations.extend(flag_problems(&flags).into_iter().map(|p| Violation::object(format!("{name}: {p}"))));
    }
    Outcome::from_violations(violations)
}

fn is_api_server(meta: &ObjectMeta) -> bool {
    let labelled = meta.labels.as_ref().and_then(|l| l.get("component")).is_some_and(|c| c == "kube-apiserver");
    labelled || meta.name.as_deref().is_some_and(|n| n.starts_with("kube-apiserver-"))
}

/// The flags of the pod's kube-apiserver container (or its first container), by name without `--`.
/// A flag given without a value maps to `""`.
fn api_server_flags(pod: &Pod) -> Option<BTreeMap<String, String>> {
    let containers = &pod.spec.as_ref()?.containers;
    let container = containers.iter().find(|c| c.name == "kube-apiserver").or(containers.first())?;
    // Splitting on whitespace also handles flags passed as one shell string.
    let words: Vec<&str> = container
        .command
        .iter()
        .chain(container.args.iter())
        .flatten()
        .flat_map(|arg| arg.split_whitespace())
        .collect();
    Some(parse_flags(&words))
}

/// `--flag=value` and `--flag value`; the last occurrence wins, as with the API server's own parser.
fn parse_flags(words: &[&str]) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    let mut words = words.iter().peekable();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--") else { continue };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_string()),
            None => match words.next_if(|next| !next.starts_with("--")) {
                Some(value) => (flag, value.to_string()),
                None => (flag, String::new()),
            },
        };
        flags.insert(name.to_string(), value);
    }
    flags
}

/// One problem per missing safeguard.
fn flag_problems(flags: &BTreeMap<String, String>) -> Vec<String> {
    let flag = |name: &str| flags.get(name).map(String::as_str);
    let mut problems = Vec::new();

    let audit_backend = flag("audit-log-path").or(flag("audit-webhook-config-file"));
    match (audit_backend, flag("audit-policy-file")) {
        (None, _) => {
            problems.push("no --audit-log-path or --audit-webhook-config-file: API requests are not audited".into())
        }
        // Without a policy the backends receive no events.
        (Some(_), None) => problems.push("audit backend set but no --audit-policy-file: nothing is audited".into()),
        (Some(_), Some(_)) => {}
    }

    if flag("encryption-provider-config").is_none() {
        problems.push("no --encryption-provider-config: Secrets are stored unencrypted in etcd".into());
    }

    match flag("anonymous-auth") {
        Some("false") => {}
        Some(value) => problems.push(format!("--anonymous-auth={} allows anonymous requests", or_true(value))),
        None => problems.push("--anonymous-auth is unset (defaults to true): anonymous requests are allowed".into()),
    }

    // A structured authorization config file replaces --authorization-mode; its content is not visible here.
    if flag("authorization-config").is_none() {
        match flag("authorization-mode") {
            None => problems.push("--authorization-mode is unset (defaults to AlwaysAllow)".into()),
            Some(modes) if modes.split(',').any(|m| m.trim() == "AlwaysAllow") => {
                problems.push(format!("--authorization-mode={modes} includes AlwaysAllow"))
            }
            Some(_) => {}
        }
    }
    problems
}

/// A boolean flag given without a value is true.
fn or_true(value: &str) -> &str {
    if value.is_empty() { "true" } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_flag_forms() {
        let flags = parse_flags(&["kube-apiserver", "--a=1", "--b", "2", "--c", "--d=x=y", "--a=3"]);
        assert_eq!(flags.get("a").map(String::as_str), Some("3"));
        assert_eq!(flags.get("b").map(String::as_str), Some("2"));
        assert_eq!(flags.get("c").map(String::as_str), Some(""));
        assert_eq!(flags.get("d").map(String::as_str), Some("x=y"));
    }

    #[test]
    fn hardened_flags_have_no_problems() {
        let flags = parse_flags(&[
            "--audit-log-path=/var/log/audit.log",
            "--audit-policy-file=/etc/kubernetes/audit.yaml",
            "--encryption-provider-config=/etc/kubernetes/enc.yaml",
            "--anonymous-auth=false",
            "--authorization-mode=Node,RBAC",
        ]);
        assert!(flag_problems(&flags).is_empty());
    }

    #[test]
    fn unset_flags_take_insecure_defaults() {
        let problems = flag_problems(&BTreeMap::new());
        assert_eq!(problems.len(), 4, "{problems:?}");
        let flags = parse_flags(&["--anonymous-auth", "--authorization-mode", "AlwaysAllow"]);
        let problems = flag_problems(&flags);
        assert!(problems.iter().any(|p| p == "--anonymous-auth=true allows anonymous requests"));
        assert!(problems.iter().any(|p| p.contains("--authorization-mode=AlwaysAllow includes AlwaysAllow")));
    }
}
