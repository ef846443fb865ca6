//! `SecurityPolicy` objects -> compiled [`Policy`] values, and a policy's status.
//!
//! Compiling is all or nothing: an invalid policy is an error value naming every problem, and the caller
//! (the [`PolicyStore`](crate::policy::store::PolicyStore)) keeps judging by the last good version.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use vigil_crds::{CheckSet, SecurityPolicy, SecurityPolicyStatus, Severity};

use crate::checks::catalog::{CheckCategory, catalog};
use crate::policy::custom::CustomCheck;
use crate::policy::{DEFAULT_POLICY_NAME, Policy};
use crate::report::conditions::condition;

/// One thing wrong with a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyProblem {
    #[error("{field} names unknown check {id:?}")]
    UnknownCheck { field: String, id: String },
    #[error("custom check {id:?}: invalid CEL expression: {message}")]
    InvalidExpression { id: String, message: String },
    #[error("{0}")]
    ConflictingSettings(String),
    #[error("custom check id {id:?}: {message}")]
    InvalidCheckId { id: String, message: String },
    #[error("{field}: {message}")]
    InvalidValue { field: String, message: String },
    #[error("the name `default` is reserved for the built-in policy")]
    ReservedName,
}

impl PolicyProblem {
    /// The `Accepted=False` condition's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyProblem::UnknownCheck { .. } => "UnknownCheck",
            PolicyProblem::InvalidExpression { .. } => "InvalidExpression",
            PolicyProblem::ConflictingSettings(_) => "ConflictingSettings",
            PolicyProblem::InvalidCheckId { .. } => "InvalidCheckId",
            PolicyProblem::InvalidValue { .. } => "InvalidValue",
            PolicyProblem::ReservedName => "ReservedName",
        }
    }
}

/// Why a policy was not accepted: every problem found, in spec order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SecurityPolicy {policy:?} is invalid: {}", self.message())]
pub struct PolicyError {
    pub policy: String,
    pub problems: Vec<PolicyProblem>,
}

impl PolicyError {
    /// The first problem's reason (what `Accepted=False` says).
    pub fn reason(&self) -> &'static str {
        self.problems.first().map_or("Invalid", PolicyProblem::reason)
    }

    /// Every problem, separated by `; `.
    pub fn message(&self) -> String {
        self.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// A set's categories and severities, for quick membership tests.
struct Groups {
    categories: BTreeSet<CheckCategory>,
    severities: BTreeSet<Severity>,
}

impl Groups {
    fn of(set: &CheckSet) -> Groups {
        Groups {
            categories: set.categories.iter().copied().collect(),
            severities: set.severities.iter().copied().collect(),
        }
    }

    fn contains(&self, category: Option<CheckCategory>, risk: u8) -> bool {
        category.is_some_and(|c| self.categories.contains(&c)) || self.severities.contains(&Severity::from_risk(risk))
    }
}

/// Compiles a `SecurityPolicy` into the engine's [`Policy`], or says everything that is wrong with it.
pub fn compile_policy(object: &SecurityPolicy) -> Result<Policy, PolicyError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let spec = &object.spec;
    let mut problems = Vec::new();
    if name == DEFAULT_POLICY_NAME {
        problems.push(PolicyProblem::ReservedName);
    }
    if let Some(selector) = &spec.namespace_selector
        && let Err(message) = crate::checks::support::network::validate_selector(selector)
    {
        problems.push(PolicyProblem::InvalidValue { field: "namespaceSelector".into(), message });
    }

    // Custom checks first: the check lists below may name them.
    let mut custom_checks: Vec<CustomCheck> = Vec::new();
    for custom in &spec.custom_checks {
        let id = custom.id.as_str();
        if let Some(message) = invalid_id(id) {
            problems.push(PolicyProblem::InvalidCheckId { id: id.into(), message });
        } else if crate::checks::catalog::find(id).is_some() {
            problems.push(PolicyProblem::InvalidCheckId { id: id.into(), message: "is a catalog check's id".into() });
        } else if custom_checks.iter().any(|c| c.id == id) {
            problems.push(PolicyProblem::ConflictingSettings(format!("custom check {id:?} is defined twice")));
        }
        if custom.risk > 10 {
            problems.push(PolicyProblem::InvalidValue {
                field: format!("customChecks[{id}].risk"),
                message: format!("{} is out of range 0-10", custom.risk),
            });
        }
        if custom.message.trim().is_empty() {
            problems.push(PolicyProblem::InvalidValue {
                field: format!("customChecks[{id}].message"),
                message: "must not be empty".into(),
            });
        }
        match CustomCheck::compile(custom) {
            Ok(check) => custom_checks.push(check),
            Err(message) => problems.push(PolicyProblem::InvalidExpression { id: id.into(), message }),
        }
    }
    let is_known =
        |id: &str| crate::checks::catalog::find(id).is_some() || spec.custom_checks.iter().any(|c| c.id == id);

    let checks = &spec.checks;
    for (field, ids) in [("checks.enabled.ids", &checks.enabled.ids), ("checks.disabled.ids", &checks.disabled.ids)] {
        for id in ids.iter().filter(|id| !is_known(id)) {
            problems.push(PolicyProblem::UnknownCheck { field: field.into(), id: id.clone() });
        }
    }
    let mut risk_overrides = BTreeMap::new();
    for o in &checks.risk_overrides {
        if !is_known(&o.id) {
            problems.push(PolicyProblem::UnknownCheck { field: "checks.riskOverrides".into(), id: o.id.clone() });
        }
        if o.risk > 10 {
            problems.push(PolicyProblem::InvalidValue {
                field: format!("checks.riskOverrides[{}].risk", o.id),
                message: format!("{} is out of range 0-10", o.risk),
            });
        }
        if risk_overrides.insert(o.id.clone(), o.risk).is_some() {
            problems.push(PolicyProblem::ConflictingSettings(format!("risk of {:?} is overridden twice", o.id)));
        }
    }
    problems.extend(conflicts(checks.enabled.ids.iter(), checks.disabled.ids.iter(), "check id"));
    problems.extend(conflicts(checks.enabled.categories.iter(), checks.disabled.categories.iter(), "category"));
    problems.extend(conflicts(checks.enabled.severities.iter(), checks.disabled.severities.iter(), "severity"));

    if !problems.is_empty() {
        return Err(PolicyError { policy: name, problems });
    }

    // Resolve every switch into the id sets, so evaluation only looks ids up.
    let (enabled_ids, disabled_ids): (BTreeSet<&str>, BTreeSet<&str>) = (
        checks.enabled.ids.iter().map(String::as_str).collect(),
        checks.disabled.ids.iter().map(String::as_str).collect(),
    );
    let (enabled_groups, disabled_groups) = (Groups::of(&checks.enabled), Groups::of(&checks.disabled));
    let mut enabled = BTreeSet::new();
    let mut disabled = BTreeSet::new();
    let switched_on = |id: &str, category: Option<CheckCategory>, risk: u8, default: bool| {
        if enabled_ids.contains(id) {
            true
        } else if disabled_ids.contains(id) || disabled_groups.contains(category, risk) {
            false
        } else {
            enabled_groups.contains(category, risk) || default
        }
    };
    for check in catalog() {
        let risk = risk_overrides.get(check.id).copied().unwrap_or(check.risk);
        match (switched_on(check.id, Some(check.category), risk, check.enabled_by_default), check.enabled_by_default) {
            (true, false) => drop(enabled.insert(check.id.to_string())),
            (false, _) => drop(disabled.insert(check.id.to_string())),
            (true, true) => {}
        }
    }
    for custom in &custom_checks {
        let risk = risk_overrides.get(&custom.id).copied().unwrap_or(custom.risk);
        if !switched_on(&custom.id, None, risk, true) {
            disabled.insert(custom.id.clone());
        }
    }
    Ok(Policy {
        name,
        priority: spec.priority,
        namespace_selector: spec.namespace_selector.clone(),
        enabled,
        disabled,
        risk_overrides,
        parameters: spec.parameters.clone(),
        custom_checks,
        frameworks: spec.frameworks.iter().copied().collect(),
    })
}

/// Why a custom check id is not a valid id (kebab-case, at most 63 characters).
fn invalid_id(id: &str) -> Option<String> {
    let kebab = !id.is_empty()
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !kebab {
        return Some("must be kebab-case: lowercase letters, digits and inner dashes".into());
    }
    (id.len() > 63).then(|| "must be at most 63 characters".into())
}

fn conflicts<'a, T: PartialEq + std::fmt::Debug + 'a>(
    enabled: impl Iterator<Item = &'a T>,
    disabled: impl Iterator<Item = &'a T> + Clone,
    what: &str,
) -> Vec<PolicyProblem> {
    let mut out: Vec<PolicyProblem> = Vec::new();
    for item in enabled {
        if disabled.clone().any(|d| d == item) {
            out.push(PolicyProblem::ConflictingSettings(format!("{what} {item:?} is both enabled and disabled")));
        }
    }
    out
}

/// The status of a `SecurityPolicy` after compiling `generation`: `Accepted` True, or False with the
/// first problem's reason and every problem in the message.
pub fn policy_status(
    compiled: &Result<Policy, PolicyError>,
    generation: Option<i64>,
    previous: Option<&SecurityPolicyStatus>,
    now: Timestamp,
) -> SecurityPolicyStatus {
    let previous = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    let accepted = match compiled {
        Ok(policy) => {
            let custom = policy.custom_checks.len();
            let message = format!("in force; {custom} custom check(s)");
            condition("Accepted", true, "Accepted", message, generation, previous, now)
        }
        Err(e) => condition("Accepted", false, e.reason(), e.message(), generation, previous, now),
    };
    SecurityPolicyStatus { observed_generation: generation, conditions: vec![accepted] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_what_policies_write() {
        for c in CheckCategory::ALL {
            let parsed: CheckCategory = serde_json::from_value(serde_json::json!(c.as_str())).unwrap();
            assert_eq!(parsed, c);
            assert_eq!(CheckCategory::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn ids_must_be_kebab_case() {
        assert!(invalid_id("team-probe-2").is_none());
        for bad in ["", "-x", "x-", "Upper", "under_score", "dot.ted"] {
            assert!(invalid_id(bad).is_some(), "{bad}");
        }
    }
}
