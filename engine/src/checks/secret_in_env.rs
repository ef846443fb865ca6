use super::prelude::*;

pub static CHECK: Check = Check {
    id: "secret-in-env",
    risk: 7,
    category: CheckCategory::Governance,
    source: Source::Seed,
    seed_item: "Automatically scan ... for sensitive data such as tokens, private keys, and so on",
    title: "Secrets are not written into env vars",
    fails_when: "a container env var whose upper-cased name contains PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, APIKEY, PRIVATE_KEY, ACCESS_KEY or CREDENTIAL has a non-empty literal `value` (any such name counts, e.g. `TOKEN_TTL_SECONDS` too)",
    remediation: "Keep the value in a Secret and reference it with `valueFrom.secretKeyRef` (or mount it as a file).",
    rule: "An env var's literal `value` is stored in the pod spec and readable by anyone who can read the workload, while `valueFrom.secretKeyRef` keeps it in a Secret under its own RBAC. Which names mean a secret is Vigil's heuristic. Source: EnvVar and EnvVarSource in `staging/src/k8s.io/api/core/v1/types.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

/// Substrings of an upper-cased env var name that mark it as holding a secret.
const SECRET_MARKERS: [&str; 9] =
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"];

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                // Only names go into the message: the values are the secrets.
                let names: Vec<&str> = c
                    .env
                    .iter()
                    .filter(|e| e.value.as_deref().is_some_and(|v| !v.is_empty()) && looks_secret(&e.name))
                    .map(|e| e.name.as_str())
                    .collect();
                (!names.is_empty()).then(|| {
                    let message =
                        format!("{} sets {} as literal env value, not valueFrom", c.describe(), names.join(", "));
                    Violation::container(c.name, message)
                })
            })
            .collect(),
    )
}

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| name.contains(m))
}
