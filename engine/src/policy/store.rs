//! The policy store: Vigil's own objects (SecurityPolicy, SecurityException, ClusterSecurityException),
//! compiled, with what is in force. Both front doors fill it, index style (`apply` / `delete` / `reset`):
//! `vigil scan` from `--policy`/`--exceptions` files and manifests, the operator from its watches. So a
//! policy or an exception gives the same answer through both.
//!
//! An invalid policy never applies in part: its last version that compiled stays in force (also across a
//! relist), and its status says why.

use std::collections::BTreeMap;

use jiff::Timestamp;
use vigil_crds::{SecurityExceptionStatus, SecurityPolicyStatus};

use crate::input::object::VigilObject;
use crate::policy::Policy;
use crate::policy::compile::{PolicyError, compile_policy, policy_status};
use crate::policy::exceptions::{Exception, ExceptionError, Exceptions, exception_status};
use crate::policy::set::PolicySet;

/// One SecurityPolicy as compiled.
#[derive(Debug)]
struct PolicyEntry {
    compiled: Result<Policy, PolicyError>,
    /// What is in force: the last version that compiled.
    last_good: Option<Policy>,
    generation: Option<i64>,
    status: Option<SecurityPolicyStatus>,
}

/// One (Cluster)SecurityException as compiled.
#[derive(Debug)]
struct ExceptionEntry {
    compiled: Result<Exception, ExceptionError>,
    generation: Option<i64>,
    status: Option<SecurityExceptionStatus>,
    /// `None` for a ClusterSecurityException.
    namespace: Option<String>,
    name: String,
}

/// A status that differs from what the object shows, to be written.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusUpdate {
    Policy {
        name: String,
        status: SecurityPolicyStatus,
    },
    /// `namespace` is `None` for a ClusterSecurityException.
    Exception {
        namespace: Option<String>,
        name: String,
        status: SecurityExceptionStatus,
    },
}

/// The compiled policy objects, keyed as [`key_of`] names them.
#[derive(Debug, Default)]
pub struct PolicyStore {
    policies: BTreeMap<String, PolicyEntry>,
    exceptions: BTreeMap<String, ExceptionEntry>,
}

/// The store's key of a policy object: `name` for cluster-scoped kinds, `namespace/name` for a
/// SecurityException (what a finding's `waivedBy` says).
pub fn key_of(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match kind {
        "SecurityException" => format!("{}/{name}", namespace.unwrap_or_default()),
        _ => name.to_string(),
    }
}

fn object_key(object: &VigilObject) -> String {
    let meta = object.metadata();
    key_of(object.kind(), meta.namespace.as_deref(), meta.name.as_deref().unwrap_or_default())
}

impl PolicyStore {
    /// Adds or replaces an object. `Err` carries the compile error, as a sentence naming the object (the
    /// object is kept, its status saying why; for a policy, its last good version stays in force).
    pub fn apply(&mut self, object: &VigilObject) -> Result<(), String> {
        let key = object_key(object);
        let meta = object.metadata();
        match object {
            VigilObject::Policy(policy) => {
                let compiled = compile_policy(policy);
                let error = compiled.as_ref().err().map(ToString::to_string);
                let last_good = match &compiled {
                    Ok(policy) => Some(policy.clone()),
                    Err(_) => self.policies.remove(&key).and_then(|p| p.last_good),
                };
                let entry =
                    PolicyEntry { compiled, last_good, generation: meta.generation, status: policy.status.clone() };
                self.policies.insert(key, entry);
                error.map_or(Ok(()), Err)
            }
            VigilObject::Exception(_) | VigilObject::ClusterException(_) => {
                let (compiled, status, namespace) = match object {
                    VigilObject::Exception(e) => (
                        crate::compile_exception(e),
                        e.status.clone(),
                        Some(meta.namespace.clone().unwrap_or_default()),
                    ),
                    VigilObject::ClusterException(e) => (crate::compile_cluster_exception(e), e.status.clone(), None),
                    VigilObject::Policy(_) => unreachable!("matched above"),
                };
                let error = compiled.as_ref().err().map(ToString::to_string);
                let name = meta.name.clone().unwrap_or_default();
                let entry = ExceptionEntry { compiled, generation: meta.generation, status, namespace, name };
                self.exceptions.insert(key, entry);
                error.map_or(Ok(()), Err)
            }
        }
    }

    /// Like [`PolicyStore::apply`], for a watch event: when the stored object has the same
    /// `metadata.generation` (only its status or metadata changed, e.g. Vigil's own status write), the
    /// compiled object stays, only the status it shows is updated, and `Ok(false)` says that nothing needs
    /// to be judged again. `Ok(true)`: the object is new or its spec changed.
    pub fn apply_changed(&mut self, object: &VigilObject) -> Result<bool, String> {
        let key = object_key(object);
        let generation = object.metadata().generation;
        if generation.is_some() {
            match object {
                VigilObject::Policy(policy) => {
                    if let Some(entry) = self.policies.get_mut(&key).filter(|e| e.generation == generation) {
                        entry.status = policy.status.clone();
                        return Ok(false);
                    }
                }
                VigilObject::Exception(e) => {
                    if let Some(entry) = self.exceptions.get_mut(&key).filter(|x| x.generation == generation) {
                        entry.status = e.status.clone();
                        return Ok(false);
                    }
                }
                VigilObject::ClusterException(e) => {
                    if let Some(entry) = self.exceptions.get_mut(&key).filter(|x| x.generation == generation) {
                        entry.status = e.status.clone();
                        return Ok(false);
                    }
                }
            }
        }
        self.apply(object).map(|()| true)
    }

    /// Removes an object by kind, namespace and name.
    pub fn delete(&mut self, kind: &str, namespace: Option<&str>, name: &str) {
        let key = key_of(kind, namespace, name);
        match kind {
            "SecurityPolicy" => drop(self.policies.remove(&key)),
            _ => drop(self.exceptions.remove(&key)),
        }
    }

    /// Replaces every object of `kind` with `objects` (a relist): what is gone goes; what is still there
    /// is applied again, keeping the last good version of a policy that is now invalid.
    pub fn reset(&mut self, kind: &str, objects: &[VigilObject]) {
        let present: std::collections::BTreeSet<String> = objects.iter().map(object_key).collect();
        match kind {
            "SecurityPolicy" => self.policies.retain(|key, _| present.contains(key)),
            _ => {
                let cluster = kind == "ClusterSecurityException";
                self.exceptions.retain(|key, e| e.namespace.is_none() != cluster || present.contains(key));
            }
        }
        for object in objects {
            // An invalid object is kept with its reason; nothing more to do here.
            let _ = self.apply(object);
        }
    }

    /// The policies in force (the last good version of each) over the built-in default.
    pub fn policy_set(&self) -> PolicySet {
        PolicySet::new(self.policies.values().filter_map(|p| p.last_good.clone()))
    }

    /// The exceptions in force: those that compiled and name only known checks (expired ones included:
    /// expiry is judged at evaluation time).
    pub fn exceptions(&self) -> Exceptions {
        let known = self.known_custom_ids();
        Exceptions::new(self.exceptions.values().filter_map(|e| match self.effective(e, &known) {
            Ok(exception) => Some(exception.clone()),
            Err(_) => None,
        }))
    }

    /// The ids of every custom check of every policy in the store (in force or not): with the catalog's,
    /// the checks an exception may name.
    fn known_custom_ids(&self) -> std::collections::BTreeSet<&str> {
        self.policies
            .values()
            .flat_map(|p| p.compiled.as_ref().ok().into_iter().chain(p.last_good.as_ref()))
            .flat_map(|p| p.custom_checks.iter().map(|c| c.id.as_str()))
            .collect()
    }

    /// An exception as it stands now: its compile error, or refused when it names a check no policy
    /// knows (as a policy naming one is refused: a typo would otherwise waive nothing without a word).
    /// Judged each time, not at `apply`: the policy whose custom check an exception names may arrive after
    /// it, or go.
    fn effective<'a>(
        &self,
        entry: &'a ExceptionEntry,
        known: &std::collections::BTreeSet<&str>,
    ) -> Result<&'a Exception, ExceptionError> {
        let exception = entry.compiled.as_ref().map_err(Clone::clone)?;
        let unknown: Vec<&str> = exception
            .checks
            .iter()
            .map(String::as_str)
            .filter(|id| crate::checks::catalog::find(id).is_none() && !known.contains(id))
            .collect();
        match unknown.as_slice() {
            [] => Ok(exception),
            [id] => Err(ExceptionError {
                exception: exception.key.clone(),
                message: format!("spec.checks names unknown check {id:?}"),
            }),
            ids => Err(ExceptionError {
                exception: exception.key.clone(),
                message: format!("spec.checks names unknown checks {ids:?}"),
            }),
        }
    }

    /// `Err` names each exception that names a check no policy knows (see [`PolicyStore::exceptions`]):
    /// `vigil scan` refuses to run with one, the operator shows it in the exception's status.
    pub fn check_exception_ids(&self) -> Result<(), String> {
        let known = self.known_custom_ids();
        let problems: Vec<String> = self
            .exceptions
            .values()
            .filter(|e| e.compiled.is_ok())
            .filter_map(|e| self.effective(e, &known).err().map(|error| error.to_string()))
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
    }

    /// The statuses that differ from what each object shows, remembered as written. `waived` counts the
    /// findings each exception waives now, by [`key_of`].
    pub fn status_updates(&mut self, waived: &BTreeMap<String, u32>, now: Timestamp) -> Vec<StatusUpdate> {
        let mut updates = Vec::new();
        for (name, entry) in self.policies.iter_mut() {
            let status = policy_status(&entry.compiled, entry.generation, entry.status.as_ref(), now);
            if entry.status.as_ref() != Some(&status) {
                entry.status = Some(status.clone());
                updates.push(StatusUpdate::Policy { name: name.clone(), status });
            }
        }
        let exception_statuses: Vec<(String, SecurityExceptionStatus)> = {
            let known = self.known_custom_ids();
            self.exceptions
                .iter()
                .map(|(key, entry)| {
                    let count = waived.get(key).copied().unwrap_or(0);
                    let effective = self.effective(entry, &known).cloned();
                    let status = exception_status(&effective, count, entry.generation, entry.status.as_ref(), now);
                    (key.clone(), status)
                })
                .collect()
        };
        for (key, status) in exception_statuses {
            let Some(entry) = self.exceptions.get_mut(&key) else { continue };
            if entry.status.as_ref() != Some(&status) {
                entry.status = Some(status.clone());
                let (namespace, name) = (entry.namespace.clone(), entry.name.clone());
                updates.push(StatusUpdate::Exception { namespace, name, status });
            }
        }
        updates
    }

    /// How many exceptions are `active`, `expired` and `invalid` at `now`.
    pub fn exception_counts(&self, now: Timestamp) -> BTreeMap<&'static str, i64> {
        let mut counts = BTreeMap::from([("active", 0), ("expired", 0), ("invalid", 0)]);
        let known = self.known_custom_ids();
        for entry in self.exceptions.values() {
            let state = match self.effective(entry, &known) {
                Err(_) => "invalid",
                Ok(e) if e.is_active(now) => "active",
                Ok(_) => "expired",
            };
            *counts.entry(state).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(yaml: &str) -> VigilObject {
        VigilObject::from_value(serde_saphyr::from_str(yaml).unwrap()).unwrap().unwrap()
    }

    const GOOD: &str = "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p, generation: 1}\nspec:\n  checks:\n    disabled: {ids: [privileged-container]}\n";
    const BAD: &str = "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p, generation: 2}\nspec:\n  checks:\n    disabled: {ids: [no-such-check]}\n";

    fn in_force(store: &PolicyStore) -> Vec<String> {
        store.policy_set().policies().iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn an_invalid_policy_keeps_its_last_good_version_across_updates_and_relists() {
        let mut store = PolicyStore::default();
        store.apply(&object(GOOD)).unwrap();
        assert!(store.apply(&object(BAD)).unwrap_err().contains("no-such-check"));
        assert_eq!(in_force(&store), ["p"]);
        store.reset("SecurityPolicy", &[object(BAD)]);
        assert_eq!(in_force(&store), ["p"], "a relist dropped the last good version");
        let updates = store.status_updates(&BTreeMap::new(), Timestamp::UNIX_EPOCH);
        assert!(
            matches!(&updates[..], [StatusUpdate::Policy { status, .. }] if status.conditions[0].status == "False"),
            "{updates:?}"
        );
        // Written once: nothing changes, nothing more to write.
        assert!(store.status_updates(&BTreeMap::new(), Timestamp::UNIX_EPOCH).is_empty());
        store.reset("SecurityPolicy", &[]);
        assert!(in_force(&store).is_empty());
    }

    #[test]
    fn a_relist_of_one_exception_kind_keeps_the_other() {
        let mut store = PolicyStore::default();
        let namespaced = "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: e, namespace: apps}\nspec:\n  checks: [privileged-container]\n  match: {kinds: [Pod]}\n  reason: r\n  owner: o\n";
        let cluster = "apiVersion: vigil.dev/v1alpha1\nkind: ClusterSecurityException\nmetadata: {name: c}\nspec:\n  checks: [privileged-container]\n  match: {kinds: [Pod]}\n  reason: r\n  owner: o\n";
        store.apply(&object(namespaced)).unwrap();
        store.apply(&object(cluster)).unwrap();
        store.reset("ClusterSecurityException", &[]);
        assert_eq!(store.exception_counts(Timestamp::UNIX_EPOCH)["active"], 1);
        store.delete("SecurityException", Some("apps"), "e");
        assert_eq!(store.exception_counts(Timestamp::UNIX_EPOCH)["active"], 0);
    }

    #[test]
    fn a_status_only_change_is_not_a_change() {
        let mut store = PolicyStore::default();
        let good = object(GOOD);
        assert_eq!(store.apply_changed(&good), Ok(true));
        let updates = store.status_updates(&BTreeMap::new(), Timestamp::UNIX_EPOCH);
        let [StatusUpdate::Policy { status, .. }] = &updates[..] else { panic!("{updates:?}") };
        // Vigil's own status write comes back as a watch event with the same generation: nothing to judge,
        // and the status it shows is what was written, so nothing to write either.
        let mut written = good.clone();
        if let VigilObject::Policy(p) = &mut written {
            p.status = Some(status.clone());
        }
        assert_eq!(store.apply_changed(&written), Ok(false));
        assert!(store.status_updates(&BTreeMap::new(), Timestamp::UNIX_EPOCH).is_empty());
        // A spec change (new generation) is judged again.
        assert!(store.apply_changed(&object(BAD)).is_err());
    }
    #[test]
    fn an_exception_naming_an_unknown_check_waives_nothing_and_says_so_until_a_policy_defines_it() {
        let mut store = PolicyStore::default();
        let exception = "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: e, namespace: apps, generation: 1}\nspec:\n  checks: [team-label]\n  match: {kinds: [Deployment]}\n  reason: r\n  owner: o\n";
        store.apply(&object(exception)).unwrap();
        let now = Timestamp::UNIX_EPOCH;
        assert!(store.exceptions().iter().next().is_none(), "an exception naming an unknown check is in force");
        assert!(store.check_exception_ids().unwrap_err().contains("unknown check \"team-label\""));
        assert_eq!(store.exception_counts(now)["invalid"], 1);
        let updates = store.status_updates(&BTreeMap::new(), now);
        let [StatusUpdate::Exception { status, .. }] = &updates[..] else { panic!("{updates:?}") };
        assert_eq!(status.conditions[0].reason, "Invalid");
        assert!(status.conditions[0].message.contains("team-label"), "{status:?}");

        // The policy that defines the check arrives after the exception: now it is in force.
        let policy = "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p, generation: 1}\nspec:\n  customChecks:\n  - id: team-label\n    title: t\n    risk: 4\n    expression: \"has(object.metadata.labels)\"\n    message: m\n";
        store.apply(&object(policy)).unwrap();
        assert_eq!(store.exceptions().iter().count(), 1);
        assert_eq!(store.check_exception_ids(), Ok(()));
        assert_eq!(store.exception_counts(now)["active"], 1);
        let updates = store.status_updates(&BTreeMap::new(), now);
        let status = updates.iter().find_map(|u| match u {
            StatusUpdate::Exception { status, .. } => Some(status),
            StatusUpdate::Policy { .. } => None,
        });
        assert_eq!(status.map(|s| s.conditions[0].reason.as_str()), Some("Active"), "{updates:?}");
    }
}
