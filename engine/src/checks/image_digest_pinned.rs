use super::prelude::*;
use crate::checks::support::pod::image_has_digest;

pub static CHECK: Check = Check {
    id: "image-digest-pinned",
    risk: 6,
    category: CheckCategory::Images,
    source: Source::Ours,
    seed_item: "Image must be scanned for vulnerability and signed before it can be deployed in prod",
    title: "Images are pinned by digest",
    fails_when: "a container's image is not pinned by an `@sha256:` digest, so what was scanned and signed may not be what runs",
    remediation: "Reference images by digest (`app:1.4.2@sha256:...`), e.g. resolved by CI or an admission webhook.",
    enabled_by_default: false,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(_ctx: &Ctx, w: &Workload) -> Outcome {
    Outcome::from_violations(
        w.containers()
            .iter()
            .filter(|c| !image_has_digest(c.image()))
            .map(|c| {
                let message = format!("{} image \"{}\" is not pinned by @sha256: digest", c.describe(), c.image());
                Violation::container(c.name, message)
            })
            .collect(),
    )
}
