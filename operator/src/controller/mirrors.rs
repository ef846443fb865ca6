//! Policy reports: each SecurityReport also written as an OpenReports `Report` / `ClusterReport`
//! (openreports.io/v1alpha1) and/or a wg-policy `PolicyReport` / `ClusterPolicyReport`
//! (wgpolicyk8s.io/v1alpha2), as `--policy-reports` asks, so Policy Reporter and other tools show Vigil's
//! results. The bodies come from the engine (`vigil_engine::report::{open_report, policy_report}`).
//!
//! Whether a format is written follows whether its CRDs are installed, never a write's answer: the CRD
//! watch (`watch.rs`, metadata only) says which CRDs exist, at start and later; discovery says when the
//! API server serves the kind at the version Vigil writes. A CRD that appears starts the writes (and a
//! full pass, so every subject gets its report); a CRD that is deleted stops them. A write that fails
//! (404 for a namespace being deleted, 422, ...) is logged and tried again on the subject's next pass;
//! it switches nothing off.
//!
//! What the cluster holds is learnt by listing this install's policy reports (metadata only, paginated)
//! when a kind becomes served and at every full pass of the leader: each carries the fingerprint of its
//! content in `vigil.dev/fingerprint`, so an unchanged cluster is not written again after a restart or a
//! failover, and a policy report someone deleted is written again at the next full pass.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PartialObjectMeta};
use kube::core::GroupVersionKind;
use kube::runtime::watcher::Event;
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::watch as signal;
use tracing::{debug, info, warn};
use vigil_engine::Report;
use vigil_engine::report::ResultFilter;
use vigil_engine::report::{open_report, policy_report};

use super::Shared;
use super::writer::annotations;
use crate::cli::PolicyReports;

/// A policy-report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    OpenReports,
    WgPolicy,
}

impl Format {
    /// The formats `--policy-reports` asks for.
    pub fn chosen(choice: PolicyReports) -> Vec<Format> {
        match choice {
            PolicyReports::Openreports => vec![Format::OpenReports],
            PolicyReports::Wgpolicyk8s => vec![Format::WgPolicy],
            PolicyReports::Both => vec![Format::OpenReports, Format::WgPolicy],
            PolicyReports::None => vec![],
        }
    }

    fn group(self) -> &'static str {
        match self {
            Format::OpenReports => open_report::GROUP,
            Format::WgPolicy => "wgpolicyk8s.io",
        }
    }

    /// The version Vigil writes (a CRD may serve others too).
    fn version(self) -> &'static str {
        match self {
            Format::OpenReports => open_report::VERSION,
            Format::WgPolicy => "v1alpha2",
        }
    }

    /// `(kind, plural)` for namespaced or cluster-scoped subjects.
    fn kind(self, namespaced: bool) -> (&'static str, &'static str) {
        match (self, namespaced) {
            (Format::OpenReports, true) => ("Report", "reports"),
            (Format::OpenReports, false) => ("ClusterReport", "clusterreports"),
            (Format::WgPolicy, true) => ("PolicyReport", "policyreports"),
            (Format::WgPolicy, false) => ("ClusterPolicyReport", "clusterpolicyreports"),
        }
    }

    /// The body written for a report.
    pub fn body(self, report: &Report, filter: ResultFilter) -> Value {
        match self {
            Format::OpenReports => open_report::open_report(report, filter),
            Format::WgPolicy => policy_report::policy_report(report, filter),
        }
    }
}

/// One kind policy reports are written as: a format, for namespaced or cluster-scoped subjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub format: Format,
    pub namespaced: bool,
}

impl Slot {
    pub fn kind(self) -> &'static str {
        self.format.kind(self.namespaced).0
    }

    /// The name of the CRD that defines this kind.
    pub fn crd_name(self) -> String {
        format!("{}.{}", self.format.kind(self.namespaced).1, self.format.group())
    }

    fn gvk(self) -> GroupVersionKind {
        GroupVersionKind::gvk(self.format.group(), self.format.version(), self.kind())
    }
}

/// Where a policy report lives: its slot, namespace and name.
type Location = (Slot, Option<String>, String);

/// Which policy-report kinds are written now, and what the cluster holds of them.
pub struct Mirrors {
    slots: Vec<Slot>,
    pub filter: ResultFilter,
    instance: String,
    /// The kinds served now (their CRDs installed and discovered), with how to reach them.
    served: Mutex<HashMap<Slot, ApiResource>>,
    /// The fingerprint of each policy report the cluster holds, as far as Vigil knows.
    written: Mutex<HashMap<Location, u64>>,
    /// The CRDs (of the chosen kinds) the CRD watch has seen, and those seen during a relist.
    crds: Mutex<(BTreeSet<String>, Option<BTreeSet<String>>)>,
    /// The CRDs changed: look again.
    changed: tokio::sync::Notify,
}

impl Mirrors {
    pub fn new(choice: PolicyReports, filter: ResultFilter, instance: &str) -> Self {
        let slots = Format::chosen(choice)
            .into_iter()
            .flat_map(|format| [true, false].map(|namespaced| Slot { format, namespaced }))
            .collect();
        Mirrors {
            slots,
            filter,
            instance: instance.to_string(),
            served: Mutex::default(),
            written: Mutex::default(),
            crds: Mutex::default(),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Marks a kind served, as discovery would.
    #[cfg(test)]
    pub fn serve(&self, slot: Slot) {
        let (kind, plural) = slot.format.kind(slot.namespaced);
        let resource = ApiResource {
            group: slot.format.group().into(),
            version: slot.format.version().into(),
            api_version: format!("{}/{}", slot.format.group(), slot.format.version()),
            kind: kind.into(),
            plural: plural.into(),
        };
        self.served.lock().expect("mirror lock").insert(slot, resource);
    }

    /// The kinds written now for a report of a namespaced (or cluster-scoped) subject.
    pub fn served_for(&self, namespaced: bool) -> Vec<(Slot, ApiResource)> {
        let served = self.served.lock().expect("mirror lock");
        let mut kinds: Vec<(Slot, ApiResource)> =
            served.iter().filter(|(slot, _)| slot.namespaced == namespaced).map(|(s, r)| (*s, r.clone())).collect();
        kinds.sort_by_key(|(slot, _)| *slot);
        kinds
    }

    /// The fingerprint of a policy report: its report's content fingerprint, the format and the filter.
    pub fn fingerprint(&self, report_fingerprint: u64, slot: Slot) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        report_fingerprint.hash(&mut hasher);
        slot.hash(&mut hasher);
        (self.filter == ResultFilter::All).hash(&mut hasher);
        hasher.finish()
    }

    pub fn is_written(&self, location: &Location, fingerprint: u64) -> bool {
        self.written.lock().expect("mirror lock").get(location) == Some(&fingerprint)
    }

    pub fn record(&self, location: Location, fingerprint: u64) {
        self.written.lock().expect("mirror lock").insert(location, fingerprint);
    }

    pub fn forget(&self, location: &Location) {
        self.written.lock().expect("mirror lock").remove(location);
    }

    /// One event of the CRD watch (metadata only): which of the chosen kinds' CRDs exist. A relist
    /// replaces what is known: a CRD it does not list was deleted meanwhile.
    pub fn crd_event(&self, event: &Event<PartialObjectMeta<CustomResourceDefinition>>) {
        if self.slots.is_empty() {
            return;
        }
        let wanted = |name: &str| self.slots.iter().any(|s| s.crd_name() == name);
        let mut crds = self.crds.lock().expect("mirror lock");
        let (present, relist) = &mut *crds;
        let changed = match event {
            Event::Init => {
                *relist = Some(BTreeSet::new());
                false
            }
            Event::InitApply(crd) | Event::Apply(crd) => {
                let name = crd.name_any();
                if let Some(seen) = relist.as_mut() {
                    seen.insert(name.clone());
                }
                wanted(&name) && present.insert(name)
            }
            Event::Delete(crd) => present.remove(&crd.name_any()),
            Event::InitDone => match relist.take() {
                Some(seen) => {
                    let before = present.len();
                    present.retain(|name| seen.contains(name));
                    before != present.len()
                }
                None => false,
            },
        };
        if changed {
            self.changed.notify_one();
        }
    }

    /// For as long as the operator runs: starts writing a kind when its CRD is installed and served,
    /// stops when the CRD is gone. Discovery is retried every 5 s while a CRD exists that is not served
    /// yet (not yet established).
    pub async fn run(self: Arc<Self>, client: Client, shared: Arc<Shared>, mut shutdown: signal::Receiver<bool>) {
        let mut pending = false;
        loop {
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)), if pending => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            pending = self.refresh(&client, &shared).await;
        }
    }

    /// Brings the served kinds in line with the installed CRDs; true when a CRD is installed whose kind
    /// is not served yet (look again later).
    async fn refresh(&self, client: &Client, shared: &Shared) -> bool {
        let present = self.crds.lock().expect("mirror lock").0.clone();
        let mut pending = false;
        let mut appeared = false;
        for slot in self.slots.clone() {
            let installed = present.contains(&slot.crd_name());
            let served = self.served.lock().expect("mirror lock").contains_key(&slot);
            if installed && !served {
                let resource = match kube::discovery::pinned_kind(client, &slot.gvk()).await {
                    Ok((resource, _)) => resource,
                    Err(error) => {
                        debug!(kind = slot.kind(), %error, "CRD installed, kind not served yet; looking again in 5s");
                        pending = true;
                        continue;
                    }
                };
                if let Err(error) = self.seed(client, slot, &resource).await {
                    warn!(kind = slot.kind(), %error, "cannot list Vigil's policy reports; trying again in 5s");
                    pending = true;
                    continue;
                }
                info!(kind = slot.kind(), api_version = %resource.api_version, "policy report CRD installed: writing Vigil's results as this kind");
                self.served.lock().expect("mirror lock").insert(slot, resource);
                appeared = true;
            } else if !installed && served {
                info!(kind = slot.kind(), "policy report CRD removed: no longer writing this kind");
                self.served.lock().expect("mirror lock").remove(&slot);
                self.written.lock().expect("mirror lock").retain(|(s, _, _), _| *s != slot);
            }
        }
        if appeared {
            // Every subject gets its policy report: judge (and write) everything again.
            shared.full_pass.notify_one();
        }
        pending
    }

    /// Learns what the cluster holds of a kind: lists this install's policy reports, metadata only,
    /// paginated, and keeps the fingerprint each carries.
    async fn seed(&self, client: &Client, slot: Slot, resource: &ApiResource) -> kube::Result<()> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
        let selector = format!("{}={}", super::writer::INSTANCE_LABEL, self.instance);
        let mut params = ListParams::default().labels(&selector).limit(500);
        let mut found = HashMap::new();
        loop {
            let page = api.list_metadata(&params).await?;
            for item in &page.items {
                let fingerprint =
                    item.annotations().get(annotations::FINGERPRINT).and_then(|f| u64::from_str_radix(f, 16).ok());
                if let Some(fingerprint) = fingerprint {
                    found.insert((slot, item.metadata.namespace.clone(), item.name_any()), fingerprint);
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        let mut written = self.written.lock().expect("mirror lock");
        written.retain(|(s, _, _), _| *s != slot);
        written.extend(found);
        Ok(())
    }

    /// Learns again what the cluster holds of every served kind (a full pass of the leader): a policy
    /// report deleted behind Vigil's back is written again.
    pub async fn reseed(&self, client: &Client) {
        let served: Vec<(Slot, ApiResource)> =
            self.served.lock().expect("mirror lock").iter().map(|(s, r)| (*s, r.clone())).collect();
        for (slot, resource) in served {
            if let Err(error) = self.seed(client, slot, &resource).await {
                warn!(kind = slot.kind(), %error, "cannot list Vigil's policy reports");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(name: &str) -> PartialObjectMeta<CustomResourceDefinition> {
        let mut meta = PartialObjectMeta::<CustomResourceDefinition>::default();
        meta.metadata.name = Some(name.into());
        meta
    }

    fn present(mirrors: &Mirrors) -> Vec<String> {
        mirrors.crds.lock().unwrap().0.iter().cloned().collect()
    }

    #[test]
    fn the_chosen_formats_name_their_crds() {
        let both = Mirrors::new(PolicyReports::Both, ResultFilter::Failing, "vigil");
        let names: Vec<String> = both.slots.iter().map(|s| s.crd_name()).collect();
        assert_eq!(
            names,
            [
                "reports.openreports.io",
                "clusterreports.openreports.io",
                "policyreports.wgpolicyk8s.io",
                "clusterpolicyreports.wgpolicyk8s.io"
            ]
        );
        assert!(Mirrors::new(PolicyReports::None, ResultFilter::Failing, "vigil").slots.is_empty());
        let open = Mirrors::new(PolicyReports::Openreports, ResultFilter::Failing, "vigil");
        assert!(open.slots.iter().all(|s| s.format == Format::OpenReports));
    }

    #[test]
    fn crd_presence_follows_the_crd_watch_including_relists() {
        let mirrors = Mirrors::new(PolicyReports::Openreports, ResultFilter::Failing, "vigil");
        mirrors.crd_event(&Event::Init);
        mirrors.crd_event(&Event::InitApply(crd("reports.openreports.io")));
        mirrors.crd_event(&Event::InitApply(crd("istio.example.io")));
        mirrors.crd_event(&Event::InitDone);
        assert_eq!(present(&mirrors), ["reports.openreports.io"]);
        // Installed later.
        mirrors.crd_event(&Event::Apply(crd("clusterreports.openreports.io")));
        assert_eq!(present(&mirrors).len(), 2);
        // Deleted while the watch was down: the relist does not list it.
        mirrors.crd_event(&Event::Init);
        mirrors.crd_event(&Event::InitApply(crd("clusterreports.openreports.io")));
        mirrors.crd_event(&Event::InitDone);
        assert_eq!(present(&mirrors), ["clusterreports.openreports.io"]);
        mirrors.crd_event(&Event::Delete(crd("clusterreports.openreports.io")));
        assert!(present(&mirrors).is_empty());
    }

    #[test]
    fn fingerprints_differ_by_kind_and_filter() {
        let failing = Mirrors::new(PolicyReports::Both, ResultFilter::Failing, "vigil");
        let all = Mirrors::new(PolicyReports::Both, ResultFilter::All, "vigil");
        let open = Slot { format: Format::OpenReports, namespaced: true };
        let wg = Slot { format: Format::WgPolicy, namespaced: true };
        assert_ne!(failing.fingerprint(1, open), failing.fingerprint(1, wg));
        assert_ne!(failing.fingerprint(1, open), all.fingerprint(1, open));
        assert_ne!(failing.fingerprint(1, open), failing.fingerprint(2, open));
        assert_eq!(failing.fingerprint(1, open), failing.fingerprint(1, open));
    }
}
