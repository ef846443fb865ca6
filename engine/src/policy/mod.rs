//! The policy the engine judges by: which checks run, at what risk, with which parameters, plus custom
//! checks. Defaults are the catalog's. A `SecurityPolicy` (from the cluster or `vigil scan --policy`) is
//! compiled into this by [`crate::policy::compile::compile_policy`]; category and severity switches are resolved
//! into the id sets then, so evaluation only looks ids up.

pub mod compile;
pub mod custom;
pub mod exceptions;
pub mod glob;
pub mod set;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use vigil_crds::Parameters;

use crate::checks::catalog::Check;
use crate::policy::custom::CustomCheck;

/// The name of the built-in policy, shown on reports judged by it.
pub const DEFAULT_POLICY_NAME: &str = "default";

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Shown on every report (`status.policy`); `default` for the built-in policy.
    pub name: String,
    /// When several policies select a namespace, the highest wins (then the name that sorts first).
    pub priority: i32,
    /// The namespaces the policy judges; `None` (or an empty selector): all of them, and it may judge
    /// cluster-scoped subjects too.
    pub namespace_selector: Option<LabelSelector>,
    /// Checks switched on that the catalog disables by default.
    pub enabled: BTreeSet<String>,
    /// Checks switched off (catalog or custom).
    pub disabled: BTreeSet<String>,
    /// Risk per id, replacing the catalog's or the custom check's (0-10).
    pub risk_overrides: BTreeMap<String, u8>,
    pub parameters: Parameters,
    /// The policy's own checks, evaluated on workloads.
    pub custom_checks: Vec<CustomCheck>,
    /// Compliance frameworks this policy enables (the operator writes a ComplianceReport for each).
    pub frameworks: BTreeSet<vigil_crds::FrameworkName>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: DEFAULT_POLICY_NAME.into(),
            priority: 0,
            namespace_selector: None,
            enabled: BTreeSet::new(),
            disabled: BTreeSet::new(),
            risk_overrides: BTreeMap::new(),
            parameters: Parameters::default(),
            custom_checks: Vec::new(),
            frameworks: BTreeSet::new(),
        }
    }
}

impl Policy {
    pub fn is_enabled(&self, check: &Check) -> bool {
        if self.disabled.contains(check.id) {
            return false;
        }
        check.enabled_by_default || self.enabled.contains(check.id)
    }

    pub fn risk(&self, check: &Check) -> u8 {
        self.risk_overrides.get(check.id).copied().unwrap_or(check.risk)
    }

    /// The custom checks that run.
    pub fn enabled_custom_checks(&self) -> impl Iterator<Item = &CustomCheck> {
        self.custom_checks.iter().filter(|c| !self.disabled.contains(&c.id))
    }

    pub fn custom_risk(&self, check: &CustomCheck) -> u8 {
        self.risk_overrides.get(&check.id).copied().unwrap_or(check.risk)
    }

    /// The risk this policy gives a check id, catalog or custom; `None` for an id it does not know.
    pub fn risk_of(&self, id: &str) -> Option<u8> {
        if let Some(check) = crate::checks::catalog::find(id) {
            return Some(self.risk(check));
        }
        self.custom_checks.iter().find(|c| c.id == id).map(|c| self.custom_risk(c))
    }

    /// True when `namespace` is excluded from namespace and workload checks.
    pub fn is_system_namespace(&self, namespace: &str) -> bool {
        self.parameters.system_namespaces.iter().any(|n| n == namespace)
    }

    /// True when the policy selects every namespace (no selector, or an empty one).
    pub fn selects_all_namespaces(&self) -> bool {
        self.namespace_selector.as_ref().is_none_or(crate::checks::support::network::selector_is_empty)
    }

    /// True when the policy selects a namespace with these labels.
    pub fn selects_namespace(&self, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selector.as_ref().is_none_or(|s| crate::checks::support::network::selector_matches(s, labels))
    }
}
