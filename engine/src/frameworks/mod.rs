//! Compliance frameworks as data beside the check table: each framework's controls, and which checks
//! evidence each (`pss`, `cis`, `nsa`, `mitre`, one module per framework). A control no API object can
//! show, or one no check of Vigil's judges yet, says so with the reason instead of naming checks.
//!
//! [`evaluate`] turns reports (the engine's own results, waivers counted as the engine counts them) into
//! a verdict per control: pass, fail with the failing subjects, or not evaluated with the reason.
//! `docs/checks.md`, `vigil checks --framework`, `vigil scan --framework` and the operator's
//! `ComplianceReport`s all read these tables.

pub mod cis;
pub mod evaluate;
pub mod mitre;
pub mod nsa;
pub mod pss;

use serde::Serialize;

pub use vigil_crds::FrameworkName;

/// A compliance framework and its controls.
#[derive(Debug)]
pub struct Framework {
    pub name: FrameworkName,
    /// The framework's full name.
    pub title: &'static str,
    /// The version the control ids and titles follow. Pod Security Standards are judged per Kubernetes
    /// version: see [`Framework::version_judged`].
    pub version: &'static str,
    /// Where the framework is published.
    pub source: &'static str,
    /// How the titles relate to the published text.
    pub note: &'static str,
    pub controls: &'static [Control],
}

/// One control of a framework.
#[derive(Debug)]
pub struct Control {
    /// The framework's own id (`5.2.2`, `T1611`, `baseline/host-namespaces`).
    pub id: &'static str,
    pub title: &'static str,
    /// The part of the framework it belongs to (a CIS section, a Pod Security Standards level, an
    /// ATT&CK tactic, a chapter of the NSA-CISA guide).
    pub group: &'static str,
    /// The first Kubernetes minor version whose Pod Security Standards hold the control (0: all; only
    /// Pod Security Standards controls differ by version).
    pub since_minor: u32,
    pub evidence: Evidence,
}

/// What shows whether a control holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Evidence {
    /// These checks of the catalog: the control fails when one of them fails.
    Checks(&'static [&'static str]),
    /// No Kubernetes API object shows it (node files, processes, client certificates, ...): why.
    NotObservable(&'static str),
    /// The API shows it, but no check of Vigil's judges it yet: what would.
    NotChecked(&'static str),
}

impl Evidence {
    pub fn checks(&self) -> &'static [&'static str] {
        match self {
            Evidence::Checks(ids) => ids,
            _ => &[],
        }
    }

    /// `checks`, `not-observable` or `not-checked`.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Checks(_) => "checks",
            Evidence::NotObservable(_) => "not-observable",
            Evidence::NotChecked(_) => "not-checked",
        }
    }

    /// The reason a control has no checks.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Evidence::Checks(_) => None,
            Evidence::NotObservable(why) | Evidence::NotChecked(why) => Some(why),
        }
    }
}

/// Every framework, in the order docs and the CLI list them.
pub fn all() -> [&'static Framework; 4] {
    [&pss::FRAMEWORK, &cis::FRAMEWORK, &nsa::FRAMEWORK, &mitre::FRAMEWORK]
}

/// The framework of a name as the CLI and the SecurityPolicy spell it (`pss`, `cis`, `nsa`, `mitre`).
pub fn find(name: &str) -> Option<&'static Framework> {
    all().into_iter().find(|f| f.name.as_str() == name)
}

/// The names [`find`] knows, for error messages.
pub fn known_names() -> Vec<&'static str> {
    all().iter().map(|f| f.name.as_str()).collect()
}

/// The framework of a name.
pub fn of(name: FrameworkName) -> &'static Framework {
    all().into_iter().find(|f| f.name == name).expect("every FrameworkName has a table")
}

impl Framework {
    /// The version a cluster is judged by: for Pod Security Standards the API server's (the newest Vigil
    /// knows when that is unknown, with the reason), else the framework's own version.
    pub fn version_judged(&self, index: &crate::Index) -> String {
        match self.name {
            FrameworkName::Pss => pss::version_judged(index),
            _ => self.version.to_string(),
        }
    }

    /// The controls of the version judged: Pod Security Standards controls newer than the cluster's
    /// Kubernetes version are left out.
    pub fn controls_at(&self, minor: u32) -> impl Iterator<Item = &'static Control> {
        self.controls.iter().filter(move |c| c.since_minor <= minor)
    }

    pub fn control(&self, id: &str) -> Option<&'static Control> {
        self.controls.iter().find(|c| c.id == id)
    }
}

/// Checks no framework control maps, each with the reason. Every other check evidences at least one
/// control (a test holds both lists to the catalog).
pub const UNMAPPED: &[(&str, &str)] = &[
    (
        "image-pull-policy-always",
        "no framework control asks workloads for `imagePullPolicy: Always`; CIS 1.2.x names the AlwaysPullImages \
         admission plugin instead, an API server flag this check does not read",
    ),
    (
        "owner-annotation",
        "an owner's address on a workload is an organisational practice of the seed checklist; no framework names it",
    ),
    (
        "container-runtime-uniform",
        "one container runtime across nodes is an operational consistency practice of the seed checklist; no \
         framework names it",
    ),
];

/// The controls of every framework that a check evidences: `(framework, control)`.
pub fn controls_of(check_id: &str) -> Vec<(&'static Framework, &'static Control)> {
    all()
        .into_iter()
        .flat_map(|f| f.controls.iter().map(move |c| (f, c)))
        .filter(|(_, c)| c.evidence.checks().contains(&check_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::catalog::{catalog, find as find_check};

    #[test]
    fn every_mapped_check_exists() {
        for f in all() {
            for c in f.controls {
                for id in c.evidence.checks() {
                    assert!(find_check(id).is_some(), "{} {} names the unknown check {id}", f.name.as_str(), c.id);
                }
            }
        }
        for (id, _) in UNMAPPED {
            assert!(find_check(id).is_some(), "UNMAPPED names the unknown check {id}");
        }
    }

    #[test]
    fn every_check_maps_to_a_control_or_says_why_not() {
        for check in catalog() {
            let mapped = !controls_of(check.id).is_empty();
            let excused = UNMAPPED.iter().any(|(id, _)| *id == check.id);
            assert!(mapped || excused, "{} evidences no control and UNMAPPED gives no reason", check.id);
            assert!(!(mapped && excused), "{} is mapped and also listed in UNMAPPED", check.id);
        }
    }

    #[test]
    fn controls_are_unique_and_complete() {
        for f in all() {
            let mut ids: Vec<&str> = f.controls.iter().map(|c| c.id).collect();
            let count = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), count, "{} has duplicate control ids", f.name.as_str());
            for c in f.controls {
                assert!(
                    !c.title.is_empty() && !c.group.is_empty(),
                    "{} {} lacks a title or group",
                    f.name.as_str(),
                    c.id
                );
                match c.evidence {
                    Evidence::Checks(ids) => assert!(!ids.is_empty(), "{} {} names no check", f.name.as_str(), c.id),
                    Evidence::NotObservable(why) | Evidence::NotChecked(why) => {
                        assert!(why.len() > 20, "{} {} gives no real reason", f.name.as_str(), c.id)
                    }
                }
            }
            assert!(f.controls.iter().any(|c| !c.evidence.checks().is_empty()), "{} has no checked control", f.title);
        }
    }

    #[test]
    fn names_round_trip() {
        for f in all() {
            assert_eq!(find(f.name.as_str()).map(|g| g.name), Some(f.name));
            assert_eq!(of(f.name).name, f.name);
        }
        assert!(find("soc2").is_none());
        assert_eq!(known_names(), ["pss", "cis", "nsa", "mitre"]);
    }

    #[test]
    fn a_check_lists_its_controls() {
        let controls: Vec<String> =
            controls_of("host-pid").iter().map(|(f, c)| format!("{} {}", f.name.as_str(), c.id)).collect();
        assert!(controls.contains(&"pss baseline/host-namespaces".to_string()), "{controls:?}");
        assert!(controls.contains(&"cis 5.2.3".to_string()), "{controls:?}");
        assert!(controls.contains(&"mitre T1611".to_string()), "{controls:?}");
    }
}
