use super::prelude::*;
use crate::checks::support::pod::ImageRef;

pub static CHECK: Check = Check {
    id: "image-digest-pinned",
    risk: 6,
    category: CheckCategory::Images,
    source: Source::Ours,
    seed_item: "Image must be scanned for vulnerability and signed before it can be deployed in prod",
    title: "Images are pinned by digest",
    fails_when: "a container's image is not pinned by a digest (`@sha256:...`, `@sha512:...`), so what was scanned and signed may not be what runs",
    remediation: "Reference images by digest (`app:1.4.2@sha256:...`), e.g. resolved by CI or an admission webhook.",
    rule: "Only a reference with a digest (`@algorithm:hex`, e.g. sha256 or sha512) names immutable content; the runtime pulls exactly that digest. Source: `vendor/github.com/distribution/reference/reference.go` (digest grammar).",
    enabled_by_default: false,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter(|c| ImageRef::parse(c.image()).digest.is_none())
            .map(|c| {
                let message = format!("{} image \"{}\" is not pinned by digest", c.describe(), c.image());
                Violation::container(c.name, message)
            })
            .collect(),
    )
}
