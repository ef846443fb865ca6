//! NetworkPolicy semantics: label-selector matching and the directions a policy governs.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A traffic direction a NetworkPolicy can isolate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// True when the selector selects an object with these labels: every `matchLabels` entry and every
/// `matchExpressions` requirement must hold; an empty selector selects everything. A requirement with an
/// unknown operator selects nothing (the API server rejects it anyway).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|req| {
        let values = req.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&req.key);
        match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            // Like Kubernetes: an object without the key satisfies NotIn.
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// Checks a selector the way the API server does for built-in kinds (a custom resource's schema cannot):
/// `In`/`NotIn` need values, `Exists`/`DoesNotExist` take none, no other operator exists.
pub fn validate_selector(selector: &LabelSelector) -> Result<(), String> {
    for req in selector.match_expressions.iter().flatten() {
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        match req.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                return Err(format!("key {:?}: operator {} needs values", req.key, req.operator));
            }
            "Exists" | "DoesNotExist" if has_values => {
                return Err(format!("key {:?}: operator {} takes no values", req.key, req.operator));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err(format!(
                    "key {:?}: unknown operator {other:?} (In, NotIn, Exists or DoesNotExist)",
                    req.key
                ));
            }
        }
    }
    Ok(())
}

/// True when the selector has neither labels nor expressions, so it selects everything.
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

fn spec(policy: &NetworkPolicy) -> &NetworkPolicySpec {
    static EMPTY: std::sync::OnceLock<NetworkPolicySpec> = std::sync::OnceLock::new();
    policy.spec.as_ref().unwrap_or_else(|| EMPTY.get_or_init(NetworkPolicySpec::default))
}

/// True when the policy's podSelector selects pods with these labels (an absent podSelector is empty).
pub fn selects_pods(policy: &NetworkPolicy, pod_labels: &BTreeMap<String, String>) -> bool {
    spec(policy).pod_selector.as_ref().is_none_or(|s| selector_matches(s, pod_labels))
}

/// True when the policy's podSelector is empty: it applies to every pod of its namespace.
pub fn selects_all_pods(policy: &NetworkPolicy) -> bool {
    spec(policy).pod_selector.as_ref().is_none_or(selector_is_empty)
}

/// True when the policy isolates the selected pods in this direction. With `policyTypes` unset or empty,
/// the API server stores Ingress always and Egress only when the egress list is non-empty: `egress: []`
/// does not imply Egress (k8s pkg/apis/networking/v1/defaults.go SetDefaults_NetworkPolicy).
pub fn governs(policy: &NetworkPolicy, direction: Direction) -> bool {
    let spec = spec(policy);
    match &spec.policy_types {
        Some(types) if !types.is_empty() => types.iter().any(|t| t == direction.as_str()),
        _ => match direction {
            Direction::Ingress => true,
            Direction::Egress => spec.egress.as_ref().is_some_and(|rules| !rules.is_empty()),
        },
    }
}

/// True when the policy isolates its pods in this direction and allows nothing: no rules at all
/// (an empty rule `{}` allows everything, so it does not count).
pub fn denies_all(policy: &NetworkPolicy, direction: Direction) -> bool {
    let spec = spec(policy);
    let no_rules = match direction {
        Direction::Ingress => spec.ingress.as_ref().is_none_or(Vec::is_empty),
        Direction::Egress => spec.egress.as_ref().is_none_or(Vec::is_empty),
    };
    governs(policy, direction) && no_rules
}

/// The directions a check must see covered: Ingress, plus Egress when the policy requires egress control.
pub fn required_directions(egress_required: bool) -> &'static [Direction] {
    if egress_required { &[Direction::Ingress, Direction::Egress] } else { &[Direction::Ingress] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn expressions(reqs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector { match_expressions: Some(reqs), match_labels: None }
    }

    fn policy(json: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": json})).unwrap()
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[("app", "web")])));
        assert!(selector_is_empty(&LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(vec![])
        }));
    }

    #[test]
    fn match_labels_must_all_hold() {
        let sel =
            LabelSelector { match_labels: Some(labels(&[("app", "web"), ("tier", "front")])), match_expressions: None };
        assert!(selector_matches(&sel, &labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "web")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn expression_operators() {
        let web = labels(&[("app", "web")]);
        let none = labels(&[]);
        let in_ = expressions(vec![requirement("app", "In", &["web", "api"])]);
        assert!(selector_matches(&in_, &web));
        assert!(!selector_matches(&in_, &none));
        let not_in = expressions(vec![requirement("app", "NotIn", &["web"])]);
        assert!(!selector_matches(&not_in, &web));
        assert!(selector_matches(&not_in, &none), "a missing key satisfies NotIn");
        let exists = expressions(vec![requirement("app", "Exists", &[])]);
        assert!(selector_matches(&exists, &web));
        assert!(!selector_matches(&exists, &none));
        let absent = expressions(vec![requirement("app", "DoesNotExist", &[])]);
        assert!(!selector_matches(&absent, &web));
        assert!(selector_matches(&absent, &none));
        assert!(!selector_matches(&expressions(vec![requirement("app", "Gt", &["1"])]), &web));
    }

    #[test]
    fn labels_and_expressions_combine_with_and() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![requirement("env", "In", &["prod"])]),
        };
        assert!(selector_matches(&sel, &labels(&[("app", "web"), ("env", "prod")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "web"), ("env", "dev")])));
        assert!(!selector_matches(&sel, &labels(&[("env", "prod")])));
    }

    #[test]
    fn policy_types_are_inferred_when_unset() {
        let ingress_only = policy(serde_json::json!({"podSelector": {}}));
        assert!(governs(&ingress_only, Direction::Ingress));
        assert!(!governs(&ingress_only, Direction::Egress));
        let with_egress = policy(serde_json::json!({"podSelector": {}, "egress": [{}]}));
        assert!(governs(&with_egress, Direction::Egress));
        let empty_egress = policy(serde_json::json!({"podSelector": {}, "egress": []}));
        assert!(governs(&empty_egress, Direction::Ingress));
        assert!(!governs(&empty_egress, Direction::Egress), "an empty egress list does not imply Egress");
        let empty_types = policy(serde_json::json!({"podSelector": {}, "policyTypes": [], "egress": []}));
        assert!(!governs(&empty_types, Direction::Egress), "empty policyTypes are inferred like unset ones");
        let explicit = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert!(!governs(&explicit, Direction::Ingress));
        assert!(governs(&explicit, Direction::Egress));
    }

    #[test]
    fn deny_all_needs_no_rules() {
        let deny = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}));
        assert!(denies_all(&deny, Direction::Ingress) && denies_all(&deny, Direction::Egress));
        assert!(selects_all_pods(&deny));
        let allow_all = policy(serde_json::json!({"podSelector": {}, "ingress": [{}]}));
        assert!(!denies_all(&allow_all, Direction::Ingress));
        let egress_unset = policy(serde_json::json!({"podSelector": {}}));
        assert!(!denies_all(&egress_unset, Direction::Egress), "Egress is not governed without policyTypes");
        let selective = policy(serde_json::json!({"podSelector": {"matchLabels": {"app": "web"}}}));
        assert!(!selects_all_pods(&selective));
        assert!(selects_pods(&selective, &labels(&[("app", "web")])));
    }
}
