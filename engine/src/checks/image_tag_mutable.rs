use super::prelude::*;
use crate::checks::support::pod::ImageRef;

pub static CHECK: Check = Check {
    id: "image-tag-mutable",
    risk: 8,
    category: CheckCategory::Images,
    source: Source::Seed,
    seed_item: "Don't allow 'latest' or 'dev' or 'master' image tags in prod. Always use versioned tags",
    title: "Images use versioned tags",
    fails_when: "a container's image has neither a tag nor a digest, or its tag is one of the policy's mutable tags (default `latest`, `dev`, `master`, `main`); an image pinned by digest passes",
    remediation: "Use a versioned tag such as `app:1.4.2`, or pin the image by `@sha256:` digest.",
    rule: "An image reference is `name[:tag][@digest]`; a reference with a digest always resolves to that content, while a tag (or no tag, which means `latest`) can be moved in the registry. Source: the image reference grammar, `vendor/github.com/distribution/reference/reference.go` and `normalize.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let mutable_tags = &ctx.policy.parameters.mutable_tags;
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter_map(|c| {
                let image = c.image();
                let reference = ImageRef::parse(image);
                if reference.digest.is_some() {
                    return None;
                }
                let problem = match reference.tag {
                    None => "has no tag (implies :latest)".to_string(),
                    Some(tag) if mutable_tags.iter().any(|m| m == tag) => format!("uses mutable tag \"{tag}\""),
                    Some(_) => return None,
                };
                Some(Violation::container(c.name, format!("{} image \"{image}\" {problem}", c.describe())))
            })
            .collect(),
    )
}
