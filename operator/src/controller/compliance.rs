//! ComplianceReports: one cluster-scoped `ComplianceReport` per compliance framework a SecurityPolicy
//! enables (`spec.frameworks`), derived from every subject's check states, which `reconcile` keeps in
//! `Shared::compliance` beside the roll-up's tallies. After each cluster report (the end of a full pass,
//! or of a batch that changed any subject's states) the reconcile loop wakes this task, which writes the
//! reports whose content changed (server-side apply), deletes those of frameworks no policy enables any
//! more, and sets the `vigil_compliance_*` metrics. Only the leader writes, each write under a permit.
//!
//! What the cluster holds is learnt once per term by listing this install's ComplianceReports (at most
//! four): their `vigil.dev/fingerprint` annotation says whether a write would change anything, so a
//! restart on an unchanged cluster writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use tokio::sync::watch as signal;
use tracing::{info, warn};
use vigil_crds::{ComplianceReport, ComplianceReportSpec, ComplianceReportStatus, FrameworkName};
use vigil_engine::frameworks::{self, evaluate::FrameworkResult};

use super::Shared;
use super::error::Error;
use super::writer::{FIELD_MANAGER, INSTANCE_LABEL, annotations};

/// The ComplianceReport of a framework: named after it (`cis`); another install's carry its instance
/// (`<instance>-cis`), so two installs never write one object.
pub fn report_name(instance: &str, framework: FrameworkName) -> String {
    if instance == "vigil" { framework.as_str().to_string() } else { format!("{instance}-{}", framework.as_str()) }
}

/// What to do with the ComplianceReports: write these (content changed or new), delete those.
#[derive(Debug, PartialEq)]
struct Plan {
    write: Vec<(FrameworkName, u64)>,
    delete: Vec<FrameworkName>,
}

/// Compares what should exist (`wanted`: each enabled framework's content fingerprint) with what was
/// written (`written`: fingerprint, `None` when unknown). Pure.
fn plan(wanted: &BTreeMap<FrameworkName, u64>, written: &BTreeMap<FrameworkName, Option<u64>>) -> Plan {
    Plan {
        write: wanted
            .iter()
            .filter(|(name, fingerprint)| written.get(name) != Some(&Some(**fingerprint)))
            .map(|(name, fingerprint)| (*name, *fingerprint))
            .collect(),
        delete: written.keys().filter(|name| !wanted.contains_key(name)).copied().collect(),
    }
}

/// The content hash of a report's status (its `evaluatedAt` aside: time alone is no change).
fn fingerprint(status: &ComplianceReportStatus) -> u64 {
    let mut status = status.clone();
    status.evaluated_at = None;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&status).expect("a status always serializes").hash(&mut hasher);
    hasher.finish()
}

/// Each enabled framework's verdicts over the subjects' states now.
fn judge(shared: &Shared, enabled: &BTreeSet<FrameworkName>) -> Vec<FrameworkResult> {
    if enabled.is_empty() {
        return Vec::new();
    }
    let compliance = shared.compliance.lock().expect("compliance lock").compliance();
    let index = shared.index.read().expect("index lock");
    let minor = frameworks::pss::minor_judged(&index);
    enabled
        .iter()
        .map(|&name| {
            let framework = frameworks::of(name);
            compliance.judge(framework, framework.version_judged(&index), minor)
        })
        .collect()
}

struct Writer {
    client: Client,
    instance: String,
    /// Frameworks whose report this term knows is in the cluster, with its fingerprint (`None`: unknown).
    written: Option<BTreeMap<FrameworkName, Option<u64>>>,
}

impl Writer {
    fn api(&self) -> Api<ComplianceReport> {
        Api::all(self.client.clone())
    }

    /// This install's ComplianceReports, once per term.
    async fn learn(&mut self) -> kube::Result<&mut BTreeMap<FrameworkName, Option<u64>>> {
        if self.written.is_none() {
            let selector = format!("{INSTANCE_LABEL}={}", self.instance);
            let listed = self.api().list(&ListParams::default().labels(&selector)).await?;
            let mut written = BTreeMap::new();
            for report in listed {
                let fingerprint = report
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(annotations::FINGERPRINT))
                    .and_then(|f| f.parse().ok());
                written.insert(report.spec.framework, fingerprint);
            }
            self.written = Some(written);
        }
        Ok(self.written.as_mut().expect("just set"))
    }

    /// Brings the cluster's ComplianceReports in line with the enabled frameworks.
    async fn sync(&mut self, shared: &Shared) -> Result<(), Error> {
        let enabled = shared.policies.read().expect("policy lock").frameworks();
        let results = judge(shared, &enabled);
        let statuses: BTreeMap<FrameworkName, (ComplianceReportStatus, &FrameworkResult)> = results
            .iter()
            .map(|r| (frameworks::find(r.framework).expect("a known framework").name, (r.to_status(), r)))
            .collect();
        let wanted: BTreeMap<FrameworkName, u64> =
            statuses.iter().map(|(name, (status, _))| (*name, fingerprint(status))).collect();
        let instance = self.instance.clone();
        let wrap = |name: FrameworkName, source| Error::WriteReport {
            report: format!("ComplianceReport {}", report_name(&instance, name)),
            source,
        };
        let written = match self.learn().await {
            Ok(written) => written.clone(),
            Err(source) => return Err(Error::WriteReport { report: "ComplianceReports (list)".into(), source }),
        };
        let Plan { write, delete } = plan(&wanted, &written);
        for (_, result) in statuses.values() {
            shared.metrics.set_compliance(result);
        }
        for (name, fingerprint) in write {
            let (status, result) = &statuses[&name];
            let Some(_permit) = shared.leader.write_permit().await else { return Ok(()) };
            let report = self.build(name, result.title, status.clone(), fingerprint);
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let applied = self.api().patch(&report_name(&self.instance, name), &params, &Patch::Apply(&report)).await;
            applied.map_err(|source| wrap(name, source))?;
            shared.metrics.write("applied");
            self.written.get_or_insert_default().insert(name, Some(fingerprint));
            info!(framework = name.as_str(), score = ?status.score, "ComplianceReport written");
        }
        for name in delete {
            let Some(_permit) = shared.leader.write_permit().await else { return Ok(()) };
            match self.api().delete(&report_name(&self.instance, name), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => return Err(wrap(name, source)),
            }
            shared.metrics.write("deleted");
            shared.metrics.clear_compliance(name.as_str());
            self.written.get_or_insert_default().remove(&name);
            info!(framework = name.as_str(), "framework disabled: ComplianceReport deleted");
        }
        Ok(())
    }

    fn build(
        &self,
        name: FrameworkName,
        title: &str,
        mut status: ComplianceReportStatus,
        fingerprint: u64,
    ) -> serde_json::Value {
        status.evaluated_at = Some(Time(Timestamp::now()));
        let mut report = ComplianceReport::new(
            &report_name(&self.instance, name),
            ComplianceReportSpec { framework: name, title: title.into() },
        );
        report.metadata = ObjectMeta {
            name: report.metadata.name.clone(),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/managed-by".to_string(), "vigil".to_string()),
                (INSTANCE_LABEL.to_string(), self.instance.clone()),
            ])),
            annotations: Some(BTreeMap::from([(annotations::FINGERPRINT.to_string(), fingerprint.to_string())])),
            ..ObjectMeta::default()
        };
        report.status = Some(status);
        let mut value = serde_json::to_value(&report).expect("a report always serializes");
        value["apiVersion"] = ComplianceReport::api_version(&()).into();
        value["kind"] = ComplianceReport::kind(&()).into();
        value
    }
}

/// The task: after each cluster report of this term, bring the ComplianceReports in line. A new leader
/// waits for its first `cluster` report (the end of its first full pass), so no report is written from
/// half-known states. A failed write is counted and tried again after the next cluster report or within
/// 30 seconds.
pub async fn run(shared: Arc<Shared>, client: Client, instance: String, mut shutdown: signal::Receiver<bool>) {
    let mut writer = Writer { client, instance, written: None };
    let mut leading = shared.leader.subscribe();
    let mut retry = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = shared.compliance_changed.notified() => {}
            _ = leading.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)), if retry => {}
        }
        let judged_this_term =
            shared.compliance.lock().expect("compliance lock").contains(&vigil_engine::subject::SubjectKey::cluster());
        if !shared.leader.is_leading() {
            // A standby exports nothing and learns the cluster's reports again when it leads.
            if let Some(written) = writer.written.take() {
                for name in written.keys() {
                    shared.metrics.clear_compliance(name.as_str());
                }
            }
            retry = false;
            continue;
        }
        if !judged_this_term {
            continue;
        }
        retry = match writer.sync(&shared).await {
            Ok(()) => false,
            Err(error) => {
                warn!(%error, "cannot bring the ComplianceReports in line; retrying");
                shared.metrics.api_error(&error);
                true
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_engine::frameworks::evaluate::{ComplianceTallies, SubjectChecks};
    use vigil_engine::subject::SubjectKey;

    #[test]
    fn writes_what_changed_or_is_new_and_deletes_what_is_disabled() {
        let wanted = BTreeMap::from([(FrameworkName::Cis, 1), (FrameworkName::Pss, 2), (FrameworkName::Nsa, 3)]);
        let written = BTreeMap::from([
            (FrameworkName::Cis, Some(1)),   // unchanged
            (FrameworkName::Pss, Some(9)),   // changed
            (FrameworkName::Nsa, None),      // found at start, content unknown
            (FrameworkName::Mitre, Some(4)), // disabled since
        ]);
        let got = plan(&wanted, &written);
        assert_eq!(got.write, vec![(FrameworkName::Pss, 2), (FrameworkName::Nsa, 3)]);
        assert_eq!(got.delete, vec![FrameworkName::Mitre]);
        assert_eq!(plan(&BTreeMap::new(), &BTreeMap::new()), Plan { write: vec![], delete: vec![] });
    }

    #[test]
    fn names_carry_the_instance_unless_it_is_the_default() {
        assert_eq!(report_name("vigil", FrameworkName::Cis), "cis");
        assert_eq!(report_name("team-a", FrameworkName::Mitre), "team-a-mitre");
    }

    #[test]
    fn the_fingerprint_ignores_the_evaluation_time_only() {
        let index = vigil_engine::Index::from_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {hostPID: true, containers: [{name: app, image: \"nginx:1.27\"}]}\n",
        )
        .unwrap();
        let reports = vigil_engine::audit(
            &index,
            &Default::default(),
            &Default::default(),
            "2026-12-01T00:00:00Z".parse().unwrap(),
        );
        let mut tallies = ComplianceTallies::default();
        for r in &reports {
            tallies.set(SubjectKey::of(r.subject()), SubjectChecks::of(r.status()));
        }
        let framework = frameworks::of(FrameworkName::Cis);
        let status = tallies.compliance().judge(framework, "v1.9.0".into(), 35).to_status();
        let mut later = status.clone();
        later.evaluated_at = Some(Time(Timestamp::now()));
        assert_eq!(fingerprint(&status), fingerprint(&later));
        tallies.remove(&SubjectKey::new("Pod", "shop", "web"));
        let fixed = tallies.compliance().judge(framework, "v1.9.0".into(), 35).to_status();
        assert_ne!(fingerprint(&status), fingerprint(&fixed));
    }
}
