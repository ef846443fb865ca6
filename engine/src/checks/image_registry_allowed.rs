use vigil_crds::RegistryPolicy;

use super::prelude::*;
use crate::checks::support::pod::ImageRef;

pub static CHECK: Check = Check {
    id: "image-registry-allowed",
    risk: 10,
    category: CheckCategory::Images,
    source: Source::Seed,
    seed_item: "Separate registries for prod, dev and staging. No access to a person in prod gcr",
    title: "Images come from the registries allowed for the namespace's environment",
    fails_when: "a container's image (normalised: `nginx` is `docker.io/library/nginx`) does not start with a registry prefix allowed for the environment named by the namespace's environment label (else the default registries); a prefix not ending in `/` must end at a `/`, `:` or `@` of the image",
    remediation: "Pull the image from an allowed registry for this environment, promoting it there from the lower environments.",
    rule: "A reference without a registry host is a Docker Hub reference (`nginx` is `docker.io/library/nginx`); the host is the first path component only when it has a `.` or `:` or is `localhost`. The allowed registries themselves are the policy's. Source: `vendor/github.com/distribution/reference/normalize.go` (ParseNormalizedNamed).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[Kind::Namespace],
    evaluators: &[Evaluator::Workload(evaluate)],
};

/// How many allowed prefixes a message lists before it says "and N more".
const LISTED_PREFIXES: usize = 3;

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let Some(registries) = ctx.policy.parameters.registries.as_ref() else {
        return Outcome::not_applicable("no registry policy is configured (parameters.registries)");
    };
    let Allowed { environment, prefixes, from_defaults } = allowed_prefixes(ctx, registries, w.namespace());
    let listed = describe_prefixes(prefixes, from_defaults);
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter(|c| !is_allowed(c.image(), prefixes))
            .map(|c| {
                let message = format!(
                    "{} image \"{}\" is not from a registry allowed for {environment} ({listed})",
                    c.describe(),
                    c.image()
                );
                Violation::container(c.name, message)
            })
            .collect(),
    )
}

/// The registry prefixes a namespace may pull from.
struct Allowed<'p> {
    /// The namespace's environment, for messages.
    environment: String,
    prefixes: &'p [String],
    /// True when no environment entry applies and the default registries do.
    from_defaults: bool,
}

/// The default registries apply to a namespace without the label (an unknown namespace has no labels) and to
/// an environment the policy does not list, or lists without registries.
fn allowed_prefixes<'p>(ctx: &Ctx, registries: &'p RegistryPolicy, namespace: &str) -> Allowed<'p> {
    let label = registries.environment_label.as_str();
    let value = ctx.index.namespace_labels(namespace).and_then(|labels| labels.get(label));
    let environment = match value {
        Some(v) => format!("environment \"{v}\""),
        None => format!("namespaces without label \"{label}\""),
    };
    let listed =
        value.and_then(|v| registries.environments.iter().find(|e| &e.name == v)).filter(|e| !e.registries.is_empty());
    match listed {
        Some(env) => Allowed { environment, prefixes: &env.registries, from_defaults: false },
        None => Allowed { environment, prefixes: &registries.default_registries, from_defaults: true },
    }
}

fn is_allowed(image: &str, allowed: &[String]) -> bool {
    let normalised = normalise(image);
    allowed.iter().any(|prefix| has_prefix(&normalised, prefix) || has_prefix(image, prefix))
}

/// True when `image` starts with `prefix` at a boundary, so `registry.example.com` does not allow
/// `registry.example.com.evil.io/app` and `docker.io/myorg` does not allow `docker.io/myorg-fork/app`.
fn has_prefix(image: &str, prefix: &str) -> bool {
    image
        .strip_prefix(prefix)
        .is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', ':', '@']))
}

/// The image reference as the container runtime resolves it: Docker Hub names get `docker.io/` and,
/// for official images, `library/`.
fn normalise(image: &str) -> String {
    let registry = ImageRef::parse(image).registry;
    let path = image.strip_prefix(registry).and_then(|rest| rest.strip_prefix('/')).unwrap_or(image);
    let registry = if registry == "index.docker.io" { "docker.io" } else { registry };
    if registry == "docker.io" && !path.contains('/') {
        format!("docker.io/library/{path}")
    } else {
        format!("{registry}/{path}")
    }
}

/// `allowed: a, b` or `default registries: a, b, c and 2 more`.
fn describe_prefixes(prefixes: &[String], from_defaults: bool) -> String {
    let what = if from_defaults { "default registries" } else { "allowed" };
    match prefixes.len() {
        0 => "no registry is allowed".to_string(),
        n if n <= LISTED_PREFIXES => format!("{what}: {}", prefixes.join(", ")),
        n => format!("{what}: {} and {} more", prefixes[..LISTED_PREFIXES].join(", "), n - LISTED_PREFIXES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_docker_hub_names() {
        assert_eq!(normalise("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalise("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(normalise("docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(normalise("index.docker.io/bitnami/redis"), "docker.io/bitnami/redis");
        assert_eq!(normalise("ghcr.io/org/app@sha256:abc"), "ghcr.io/org/app@sha256:abc");
        assert_eq!(normalise("localhost:5000/app"), "localhost:5000/app");
    }

    #[test]
    fn prefixes_match_at_boundaries() {
        assert!(has_prefix("registry.example.com/prod/app:1", "registry.example.com/prod/"));
        assert!(has_prefix("registry.example.com/app:1", "registry.example.com"));
        assert!(has_prefix("docker.io/library/nginx:1.27", "docker.io/library/nginx"));
        assert!(!has_prefix("registry.example.com.evil.io/app", "registry.example.com"));
        assert!(!has_prefix("docker.io/myorg-fork/app", "docker.io/myorg"));
        assert!(!has_prefix("registry.example.com/dev/app", "registry.example.com/prod/"));
    }

    #[test]
    fn allows_raw_or_normalised_matches() {
        let allowed = vec!["docker.io/library/".to_string()];
        assert!(is_allowed("nginx:1.27", &allowed));
        assert!(!is_allowed("bitnami/redis:7", &allowed));
        assert!(is_allowed("bitnami/redis:7", &["bitnami/".to_string()]));
        assert!(!is_allowed("nginx", &[]));
    }
}
