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
use vigil_engine::{Index, PolicySet, Report};

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
    let mut leading = shared.leading.clone();
    let mut full_pass = tokio::time::interval(args.full_pass_interval);
    full_pass.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_leading = false;
    loop {
        let is_leading = *leading.borrow();
        shared.metrics.leader.set(is_leading as i64);
        if is_leading && !was_leading {
            // A new leader (also at start): learn what the cluster holds, then judge everything once.
            match writer.load_existing().await {
                Ok(existing) => {
                    info!(reports = existing.len(), "read existing reports");
                    for (_, key, report) in &existing {
                        // Reports without a status (not Vigil's) are left to the full pass.
                        if let Report::Namespaced(r) = report
                            && r.status.is_none()
                        {
                            continue;
                        }
                        if let Report::Cluster(r) = report
                            && r.status.is_none()
                        {
                            continue;
                        }
                        alerts.seed(key, report, &shared.metrics);
                    }
                }
                Err(error) => {
                    let error = Error::LoadReports(error);
                    warn!(%error, "retrying");
                    shared.metrics.api_error(&error);
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            }
            full_pass_now(&shared, &writer, &alerts, &args).await;
            write_statuses(&client, &shared, &policy_state).await;
            full_pass.reset();
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

/// Subjects a full pass evaluates between two looks at the queue.
const FULL_PASS_CHUNK: usize = 256;

/// Every subject and the cluster report, then the orphans: reports whose subject is gone.
///
/// The pass goes in chunks and evaluates what was queued meanwhile between two chunks: on a large cluster a
/// pass takes seconds, and a change must not wait for it.
#[instrument(skip_all)]
async fn full_pass_now(shared: &Arc<Shared>, writer: &Arc<Writer>, alerts: &Arc<Alerts>, args: &OperatorArgs) {
    let started = Instant::now();
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
    let keys: BTreeSet<SubjectKey> = vigil_engine::subject::all(index, policies).iter().map(|s| s.key()).collect();
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
/// contribution to the cluster roll-up changed.
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
    let leading = *shared.leading.borrow();
    alerts.observe(&key, report.as_ref(), &shared.metrics, leading).await;
    let id = report.as_ref().map_or_else(|| ReportId::for_subject(&key), ReportId::of);
    let result = match report {
        Some(report) => writer.apply(report, &key).await.map(|_| ()),
        None => writer.delete(&id).await,
    };
    if let Err(source) = result {
        let error = Error::WriteReport { report: id.to_string(), source };
        warn!(%error, "retrying later");
        shared.metrics.api_error(&error);
        retry_later(shared.clone(), key);
    }
    shared.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
    tally_changed
}

/// The cluster score and one score per namespace, for `/metrics`.
fn publish_scores(shared: &Shared, rollup: &Rollup) {
    shared.metrics.cluster_score.set(rollup.score() as i64);
    for (namespace, score) in rollup.namespace_scores() {
        let label = super::metrics::NamespaceLabel { namespace: namespace.to_string() };
        shared.metrics.namespace_score.get_or_create(&label).set(score as i64);
    }
}

fn retry_later(shared: Arc<Shared>, key: SubjectKey) {
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
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
