use super::prelude::*;

// TODO(catalog): replace this placeholder with the real check before it lands.
pub static CHECK: Check = Check {
    id: "capabilities-added",
    risk: 0,
    category: Category::PodSecurity,
    source: Source::Ours,
    seed_item: "",
    title: "",
    fails_when: "",
    remediation: "",
    enabled_by_default: true,
    evaluators: &[Evaluator::Cluster(evaluate)],
};

fn evaluate(_ctx: &Ctx) -> Outcome {
    Outcome::error("not implemented yet")
}
