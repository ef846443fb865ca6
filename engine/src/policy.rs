//! The policy the engine judges by: which checks run, at what risk, with which parameters.
//! Defaults are the catalog's. The `SecurityPolicy` CRD and `vigil scan --policy` are parsed into this.

use std::collections::{BTreeMap, BTreeSet};

use vigil_crds::Parameters;

use crate::catalog::Check;

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Shown on every report (`status.policy`); `default` for the built-in policy.
    pub name: String,
    /// Checks switched on that the catalog disables by default.
    pub enabled: BTreeSet<String>,
    /// Checks switched off.
    pub disabled: BTreeSet<String>,
    /// Risk per id, replacing the catalog's (0-10).
    pub risk_overrides: BTreeMap<String, u8>,
    pub parameters: Parameters,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: "default".into(),
            enabled: BTreeSet::new(),
            disabled: BTreeSet::new(),
            risk_overrides: BTreeMap::new(),
            parameters: Parameters::default(),
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

    /// True when `namespace` is excluded from namespace and workload checks.
    pub fn is_system_namespace(&self, namespace: &str) -> bool {
        self.parameters.system_namespaces.iter().any(|n| n == namespace)
    }
}
