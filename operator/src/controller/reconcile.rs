//! The reconcile loop: drains the queue in debounced batches, evaluates each subject (pure engine calls
//! under a read lock: evaluate -> build) and hands the report to the writer (apply); runs the full pass.
//! Only the writer needs a client.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::watch as signal;
use tracing::{debug, info, instrument, warn};
use vigil_engine::report::Rollup;
use vigil_engine::subject::SubjectKey;
use vigil_engine::{Index, PolicySet};

use super::Shared;
use super::alerts::Alerts;
use super::error::Error;
use super::policies::{SharedPolicyState, write_statuses};
use super::writer::{ReportId, Writer};
use crate::cli::OperatorArgs;

pub async fn run(
    shared: Arc<Shared>,
    writer: Arc<Writer>,
    alerts: Arc<Alerts>,
    client: kube::Client,
    policy_state: SharedPolicyState,
    args: OperatorArgs,
    mut shutdown: signal::Receiver<bool>,
) {
    // Nothing is judged before every kind has synced: a half-filled index gives wrong answers.
    while !shared.is_ready() {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return,
        }
    }
    info!("every watched kind has synced");
    let mut leading = shared.leader.subscribe();
    let mut full_pass = tokio::time::interval(args.full_pass_interval);
    full_pass.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_leading = false;
    loop {
        let is_leading = shared.leader.is_leading();
        shared.metrics.leader.set(is_leading as i64);
        shared.progressed();
        if is_leading && !was_leading {
            // A new term (also at start). The own-report watch (part of readiness) already knows what the
            // cluster holds: seed the alert memory from it, so only changes are announced, then judge
            // everything once.
            for (key, failing) in writer.failing_by_subject() {
                alerts.seed(&key, &failing);
            }
            full_pass_now(&shared, &writer, &alerts, &args).await;
            write_statuses(&client, &shared, &policy_state).await;
            full_pass.reset();
        } else if was_leading && !is_leading {
            // Stepped down: what this term derived goes, so a standby exports no findings and a next term
            // does not count anything twice.
            forget_term(&shared, &alerts);
        }
        was_leading = is_leading;
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = leading.changed() => {}
            _ = full_pass.tick(), if is_leading => {
                full_pass_now(&shared, &writer, &alerts, &args).await;
                write_statuses(&client, &shared, &policy_state).await;
            }
            // A policy or exception changed or expired: judge everything again now.
            _ = shared.full_pass.notified(), if is_leading => {
                full_pass_now(&shared, &writer, &alerts, &args).await;
                write_statuses(&client, &shared, &policy_state).await;
            }
            _ = shared.queue.ready() => {
                // Debounce: let a burst of changes collect, then evaluate each subject once.
                tokio::time::sleep(args.debounce).await;
                let keys = shared.queue.drain();
                if is_leading {
                    process(&shared, &writer, &alerts, keys, args.concurrency).await;
                    write_statuses(&client, &shared, &policy_state).await;
                }
                // A standby drops the work: when it takes over it judges everything anyway.
            }
        }
    }
}

/// Clears what a term derived: roll-up tallies, waiver counts, alert memory and their metric series.
fn forget_term(shared: &Shared, alerts: &Alerts) {
    shared.tallies.lock().expect("tallies lock").clear();
    shared.compliance.lock().expect("compliance lock").clear();
    shared.waived.lock().expect("waived lock").clear();
    shared.retries.lock().expect("retries lock").clear();
    alerts.reset(&shared.metrics);
    shared.metrics.clear_scores();
}

/// Subjects a full pass evaluates between two looks at the queue.
const FULL_PASS_CHUNK: usize = 256;

/// Every subject and the cluster report, then the orphans: reports whose subject is gone.
///
/// The pass goes in chunks and evaluates what was queued meanwhile between two chunks: on a large cluster a
/// pass takes seconds, and a change must not wait for it.
#[instrument(skip_all)]
async fn full_pass_now(shared: &Arc<Shared>, writer: &Arc<Writer>, alerts: &Arc<Alerts>, args: &OperatorArgs) {
    let started = Instant::now();
    // What the cluster holds of the policy reports (one deleted behind Vigil's back is written again).
    writer.reseed_mirrors().await;
    let FullPassPlan { subjects, orphans } = {
        let index = shared.index.read().expect("index lock");
        let policies = shared.policies.read().expect("policy lock").clone();
        plan_full_pass(&index, &policies, writer.known())
    };
    let count = subjects.len() + 1;
    let cluster = SubjectKey::cluster();
    for chunk in subjects.chunks(FULL_PASS_CHUNK) {
        process_subjects(shared, writer, alerts, chunk.to_vec(), args.concurrency).await;
        if shared.queue.len() > 0 {
            // Changes first; the cluster report, last in this pass, sees their tallies too.
            let queued: Vec<SubjectKey> = shared.queue.drain().into_iter().filter(|k| *k != cluster).collect();
            process_subjects(shared, writer, alerts, queued, args.concurrency).await;
        }
    }
    reconcile(shared, writer, alerts, cluster).await;
    for (id, key) in orphans {
        debug!(subject = %key, "orphan report");
        if let Err(source) = writer.delete(&id).await {
            let error = Error::WriteReport { report: id.to_string(), source };
            warn!(%error, "cannot delete an orphan report");
            shared.metrics.api_error(&error);
        }
    }
    super::memory::release_free_memory();
    shared.metrics.full_passes.inc();
    info!(subjects = count, seconds = started.elapsed().as_secs_f64(), "full pass done");
}

/// What a full pass does: judge every subject but the cluster (in key order), then the cluster (its
/// roll-up sees the others), then delete the orphans, reports Vigil wrote whose subject is gone.
#[derive(Debug, PartialEq)]
struct FullPassPlan {
    subjects: Vec<SubjectKey>,
    orphans: Vec<(ReportId, SubjectKey)>,
}

/// Plans a full pass over the index; `known` is every report Vigil knows is in the cluster.
fn plan_full_pass(index: &Index, policies: &PolicySet, known: Vec<(ReportId, SubjectKey)>) -> FullPassPlan {
    let keys: BTreeSet<SubjectKey> = vigil_engine::subject::keys(index, policies).into_iter().collect();
    let orphans = known.into_iter().filter(|(_, key)| !keys.contains(key)).collect();
    let cluster = SubjectKey::cluster();
    FullPassPlan { subjects: keys.into_iter().filter(|k| *k != cluster).collect(), orphans }
}

/// Reconciles keys with bounded concurrency; the cluster report goes last, so its roll-up sees the others.
async fn process(
    shared: &Arc<Shared>,
    writer: &Arc<Writer>,
    alerts: &Arc<Alerts>,
    mut keys: Vec<SubjectKey>,
    concurrency: usize,
) {
    let cluster = SubjectKey::cluster();
    let had_cluster = keys.contains(&cluster);
    keys.retain(|k| *k != cluster);
    let changed_tallies = process_subjects(shared, writer, alerts, keys, concurrency).await;
    if had_cluster || changed_tallies {
        reconcile(shared, writer, alerts, cluster).await;
    }
}

/// Reconciles subjects other than the cluster with bounded concurrency; returns whether a tally changed.
async fn process_subjects(
    shared: &Arc<Shared>,
    writer: &Arc<Writer>,
    alerts: &Arc<Alerts>,
    keys: Vec<SubjectKey>,
    concurrency: usize,
) -> bool {
    futures::stream::iter(keys)
        .map(|key| reconcile(shared, writer, alerts, key))
        .buffer_unordered(concurrency.max(1))
        .fold(false, |acc, changed| async move { acc || changed })
        .await
}

/// One subject: evaluate, build, apply (or delete when the subject is gone). Returns whether its
/// contribution to the cluster roll-up or to the ComplianceReports changed.
#[instrument(skip(shared, writer, alerts), fields(subject = %key))]
async fn reconcile(shared: &Arc<Shared>, writer: &Arc<Writer>, alerts: &Arc<Alerts>, key: SubjectKey) -> bool {
    let started = Instant::now();
    let now = Timestamp::now();
    let judged = {
        let index = shared.index.read().expect("index lock");
        let policies = shared.policies.read().expect("policy lock").clone();
        let exceptions = shared.exceptions.read().expect("exceptions lock").clone();
        vigil_engine::report_for(&index, &policies, &exceptions, &key, now)
    };
    let tally_changed = {
        let mut tallies = shared.tallies.lock().expect("tallies lock");
        match &judged {
            Some((_, tally)) if key != SubjectKey::cluster() => tallies.set(key.clone(), tally.clone()),
            Some(_) => false,
            None => tallies.remove(&key),
        }
    };
    // Each subject's check states feed the ComplianceReports; a change re-judges the cluster report, after
    // which they are written.
    let is_cluster = key == SubjectKey::cluster();
    let states_changed = {
        let mut compliance = shared.compliance.lock().expect("compliance lock");
        match &judged {
            Some((report, _)) => {
                compliance.set(key.clone(), vigil_engine::frameworks::evaluate::SubjectChecks::of(report.status()))
            }
            None => compliance.remove(&key),
        }
    };
    let report = judged.map(|(mut report, tally)| {
        if key == SubjectKey::cluster() {
            // The cluster report's own checks count too.
            let rollup = shared.tallies.lock().expect("tallies lock").rollup(&tally);
            publish_scores(shared, &rollup);
            vigil_engine::attach_rollup(&mut report, rollup);
        }
        report
    });
    {
        let mut waived = shared.waived.lock().expect("waived lock");
        match &report {
            Some(report) => drop(waived.insert(key.clone(), vigil_engine::waived_counts([report]))),
            None => drop(waived.remove(&key)),
        }
    }
    let leading = shared.leader.is_leading();
    alerts.observe(&key, report.as_ref(), &shared.metrics, leading).await;
    let id = report.as_ref().map_or_else(|| ReportId::for_subject(&key), ReportId::of);
    let result = match report {
        Some(report) => writer.apply(report, &key).await.map(|_| ()),
        None => writer.delete(&id).await,
    };
    match result {
        Ok(()) => drop(shared.retries.lock().expect("retries lock").remove(&key)),
        Err(source) => {
            let attempts = {
                let mut retries = shared.retries.lock().expect("retries lock");
                let attempts = retries.entry(key.clone()).or_insert(0);
                *attempts += 1;
                *attempts
            };
            let delay = retry_delay(&source, attempts);
            let error = Error::WriteReport { report: id.to_string(), source };
            warn!(%error, attempts, retry_in_seconds = delay.as_secs(), "retrying later");
            shared.metrics.api_error(&error);
            retry_later(shared.clone(), key, delay);
        }
    }
    if is_cluster {
        shared.compliance_changed.notify_one();
    }
    shared.progressed();
    shared.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
    tally_changed || (states_changed && !is_cluster)
}

/// When to try a failed write again. A 4xx that will not change by retrying (422 invalid, 403, 413...)
/// backs off per subject, exponentially up to 10 minutes, so one bad report does not spend the write
/// budget; conflicts, throttling (409, 429) and server or network errors retry soon.
pub(super) fn retry_delay(error: &kube::Error, attempts: u32) -> std::time::Duration {
    const FIRST: std::time::Duration = std::time::Duration::from_secs(5);
    const CAP: std::time::Duration = std::time::Duration::from_secs(600);
    let lasting =
        matches!(error, kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 409 && s.code != 429);
    if lasting { FIRST.saturating_mul(1 << attempts.saturating_sub(1).min(10)).min(CAP) } else { FIRST }
}

/// The overall score and one score per namespace, for `/metrics`.
fn publish_scores(shared: &Shared, rollup: &Rollup) {
    shared.metrics.cluster_score.set(rollup.score() as i64);
    shared.metrics.set_namespace_scores(rollup.namespace_scores().map(|(ns, score)| (ns.to_string(), score as i64)));
}

fn retry_later(shared: Arc<Shared>, key: SubjectKey, delay: std::time::Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        shared.queue.push(key);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pass_judges_every_subject_then_the_cluster_and_deletes_orphans() {
        let index = Index::from_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: app, image: \"nginx:1.27\"}]}\n",
        )
        .unwrap();
        let gone = SubjectKey::new("Pod", "shop", "deleted-meanwhile");
        let web = SubjectKey::new("Pod", "shop", "web");
        let known = vec![
            (ReportId::for_subject(&web), web.clone()),
            (ReportId::for_subject(&gone), gone.clone()),
            (ReportId::for_subject(&SubjectKey::cluster()), SubjectKey::cluster()),
        ];
        let plan = plan_full_pass(&index, &PolicySet::default(), known);
        assert!(plan.subjects.contains(&web) && !plan.subjects.contains(&SubjectKey::cluster()), "{plan:?}");
        assert_eq!(plan.orphans, vec![(ReportId::for_subject(&gone), gone)]);
    }
}
