use super::prelude::*;
use crate::checks::support::releases::{CALENDAR_KNOWN_UNTIL, past_end_of_life};

pub static CHECK: Check = Check {
    id: "api-server-version-supported",
    risk: 9,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Subscribe to \"Regular\" or \"Stable\" channel for the Kube API server; API server upgrade SLA",
    title: "The API server runs a Kubernetes minor version that upstream still supports",
    fails_when: "the API server's minor version is past its upstream end of life (per the embedded release calendar)",
    remediation: "Upgrade the control plane to a supported minor version, or enrol the cluster in a release channel \
                  that upgrades it on time.",
    rule: "Upstream maintains a minor release for about 14 months; after its end-of-life date it gets no fixes. Source: <https://kubernetes.io/releases/> (release calendar embedded in `engine/src/checks/support/releases.rs`).",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

fn evaluate(ctx: &Ctx) -> Outcome {
    let Some(version) = &ctx.index.server_version else {
        return Outcome::not_applicable("API server version unknown; `vigil scan --kube-version` sets it");
    };
    match past_end_of_life(version.major, version.minor, ctx.now) {
        Some(why) => Outcome::fail(format!(
            "API server {}: {why} (release calendar known until {CALENDAR_KNOWN_UNTIL})",
            version.git_version
        )),
        None => Outcome::Pass,
    }
}
