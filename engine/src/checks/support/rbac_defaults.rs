//! The RBAC bootstrap policy: the default ClusterRoles and ClusterRoleBindings every cluster has, so a
//! binding to `edit` is judged by what `edit` grants even when the input does not contain it (manifests
//! never do), and what is "built in" is decided as the API server decides it, not by a `system:` prefix.
//!
//! Sources: `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/` (the defaults, labelled
//! `kubernetes.io/bootstrapping=rbac-defaults`), and `pkg/controller/clusterroleaggregation/` (an
//! aggregated ClusterRole's rules are the union of the rules of the ClusterRoles its
//! `aggregationRule.clusterRoleSelectors` select). The data: `engine/data/rbac-defaults-v1.32.json`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::checks::support::rbac::{cluster_role_binding_view, role_binding_view};
use crate::subject::BindingView;

use crate::input::index::Index;

/// The label the API server puts on the objects of its bootstrap policy.
pub const BOOTSTRAP_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

/// The bootstrap policy of one Kubernetes version.
#[derive(Debug, Default)]
pub struct Defaults {
    pub cluster_roles: BTreeMap<String, ClusterRole>,
    pub cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
    /// By `(namespace, name)` (kube-system's and kube-public's).
    pub roles: BTreeMap<(String, String), Role>,
    pub role_bindings: BTreeMap<(String, String), RoleBinding>,
}

/// The defaults the engine knows (v1.32; see `engine/data/README.md`).
pub fn defaults() -> &'static Defaults {
    static DEFAULTS: OnceLock<Defaults> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let list: serde_json::Value =
            serde_json::from_str(include_str!("../../../data/rbac-defaults-v1.32.json")).expect("valid data");
        let mut defaults = Defaults::default();
        for item in list["items"].as_array().expect("a List").iter().cloned() {
            match item["kind"].as_str() {
                Some("ClusterRole") => {
                    let role: ClusterRole = serde_json::from_value(item).expect("a ClusterRole");
                    defaults.cluster_roles.insert(role.metadata.name.clone().unwrap_or_default(), role);
                }
                Some("ClusterRoleBinding") => {
                    let binding: ClusterRoleBinding = serde_json::from_value(item).expect("a ClusterRoleBinding");
                    defaults.cluster_role_bindings.insert(binding.metadata.name.clone().unwrap_or_default(), binding);
                }
                Some("Role") => {
                    let role: Role = serde_json::from_value(item).expect("a Role");
                    defaults.roles.insert(key(&role.metadata), role);
                }
                Some("RoleBinding") => {
                    let binding: RoleBinding = serde_json::from_value(item).expect("a RoleBinding");
                    defaults.role_bindings.insert(key(&binding.metadata), binding);
                }
                other => panic!("unexpected kind {other:?} in the RBAC defaults"),
            }
        }
        defaults
    })
}

fn key(meta: &ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn labelled(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels.and_then(|l| l.get(BOOTSTRAP_LABEL.0)).is_some_and(|v| v == BOOTSTRAP_LABEL.1)
}

/// The ClusterRole `name` as the cluster has it: the input's when it has one, else the default of that
/// name (every cluster has it, whether or not the input lists it).
pub fn cluster_role<'a>(index: &'a Index, name: &str) -> Option<&'a ClusterRole> {
    index.cluster_roles.get("", name).map(|r| &**r).or_else(|| defaults().cluster_roles.get(name))
}

/// Every ClusterRole of the cluster: the input's, and the defaults it does not override.
fn all_cluster_roles(index: &Index) -> impl Iterator<Item = &ClusterRole> {
    let listed = index.cluster_roles.iter().map(|r| &**r);
    let defaults = defaults()
        .cluster_roles
        .iter()
        .filter(|(name, _)| index.cluster_roles.get("", name).is_none())
        .map(|(_, role)| role);
    listed.chain(defaults)
}

/// The rules a ClusterRole grants. For an aggregated role: the union of its own rules (a live cluster has
/// them filled in) and the rules of every ClusterRole its selectors select (manifests never have them
/// filled in), as the clusterrole-aggregation controller computes them. Aggregation chains (`admin`
/// selects `edit`, which selects `view`'s parts) are followed to their fixpoint, as the controller
/// reaches it over several syncs; a cycle ends there.
///
/// Computed once per state of the ClusterRoles (the index keeps it until one changes): every binding of
/// every workload may ask.
pub fn effective_rules<'a>(index: &'a Index, role: &'a ClusterRole) -> Cow<'a, [PolicyRule]> {
    if role.aggregation_rule.is_none() {
        return Cow::Borrowed(role.rules.as_deref().unwrap_or(&[]));
    }
    let name = role.metadata.name.as_deref().unwrap_or("");
    let aggregated = index.derived.aggregated_rules.get_or_init(|| {
        all_cluster_roles(index)
            .filter(|r| r.aggregation_rule.is_some())
            .map(|r| {
                let mut rules = Vec::new();
                collect_rules(index, r, &mut BTreeSet::new(), &mut rules);
                (r.metadata.name.clone().unwrap_or_default(), rules)
            })
            .collect()
    });
    match aggregated.get(name) {
        Some(rules) => Cow::Borrowed(rules),
        // Not the cluster's role of that name (a caller's own object): computed for it alone.
        None => {
            let mut rules = Vec::new();
            collect_rules(index, role, &mut BTreeSet::new(), &mut rules);
            Cow::Owned(rules)
        }
    }
}

fn labels_of(role: &ClusterRole) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    role.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

fn selects(selector_of: &ClusterRole, labels: &BTreeMap<String, String>) -> bool {
    selector_of
        .aggregation_rule
        .as_ref()
        .and_then(|a| a.cluster_role_selectors.as_ref())
        .is_some_and(|s| s.iter().any(|s| crate::checks::support::network::selector_matches(s, labels)))
}

fn collect_rules(index: &Index, role: &ClusterRole, visited: &mut BTreeSet<String>, rules: &mut Vec<PolicyRule>) {
    if !visited.insert(role.metadata.name.clone().unwrap_or_default()) {
        return;
    }
    for rule in role.rules.as_deref().unwrap_or(&[]) {
        if !rules.contains(rule) {
            rules.push(rule.clone());
        }
    }
    for other in all_cluster_roles(index) {
        if selects(role, labels_of(other)) {
            collect_rules(index, other, visited, rules);
        }
    }
}

/// The name of `role` and of every ClusterRole that aggregates it, directly or through others: what a
/// change of `role` alters.
pub fn aggregating(index: &Index, role: &ClusterRole) -> BTreeSet<String> {
    let mut names = BTreeSet::from([role.metadata.name.clone().unwrap_or_default()]);
    let mut frontier = vec![role];
    while let Some(selected) = frontier.pop() {
        for other in all_cluster_roles(index) {
            if selects(other, labels_of(selected)) && names.insert(other.metadata.name.clone().unwrap_or_default()) {
                frontier.push(other);
            }
        }
    }
    names
}

/// True when the ClusterRole is the bootstrap default of its name: labelled as such, and granting what
/// the default grants (the same rules, or the same aggregation).
pub fn is_default_cluster_role(role: &ClusterRole) -> bool {
    let name = role.metadata.name.as_deref().unwrap_or("");
    let Some(default) = defaults().cluster_roles.get(name) else { return false };
    labelled(role.metadata.labels.as_ref())
        && match &default.aggregation_rule {
            Some(aggregation) => role.aggregation_rule.as_ref() == Some(aggregation),
            None => same_rules(role.rules.as_deref(), default.rules.as_deref()),
        }
}

/// True when the ClusterRoleBinding is exactly the bootstrap default of its name: labelled, the same
/// roleRef and the same subjects. A binding named `system:...` that grants anything else is not.
pub fn is_default_cluster_role_binding(binding: &ClusterRoleBinding) -> bool {
    let default = defaults().cluster_role_bindings.get(binding.metadata.name.as_deref().unwrap_or(""));
    default.is_some_and(|d| {
        same_binding(&binding.metadata, &cluster_role_binding_view(binding), &cluster_role_binding_view(d))
    })
}

/// [`is_default_cluster_role`] for the namespaced defaults (kube-system's and kube-public's Roles).
pub fn is_default_role(role: &Role) -> bool {
    defaults().roles.get(&key(&role.metadata)).is_some_and(|default| {
        labelled(role.metadata.labels.as_ref()) && same_rules(role.rules.as_deref(), default.rules.as_deref())
    })
}

/// [`is_default_cluster_role_binding`] for the namespaced defaults.
pub fn is_default_role_binding(binding: &RoleBinding) -> bool {
    let default = defaults().role_bindings.get(&key(&binding.metadata));
    default.is_some_and(|d| same_binding(&binding.metadata, &role_binding_view(binding), &role_binding_view(d)))
}

/// Labelled as a default, and granting what the default grants: the same roleRef and subjects.
fn same_binding(meta: &ObjectMeta, binding: &BindingView, default: &BindingView) -> bool {
    let subjects = |b: &BindingView| -> BTreeSet<(String, String, String)> {
        b.subjects.iter().map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone().unwrap_or_default())).collect()
    };
    labelled(meta.labels.as_ref()) && binding.role_ref == default.role_ref && subjects(binding) == subjects(default)
}

fn same_rules(a: Option<&[PolicyRule]>, b: Option<&[PolicyRule]>) -> bool {
    let (a, b) = (a.unwrap_or(&[]), b.unwrap_or(&[]));
    a.len() == b.len() && a.iter().all(|r| b.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::support::rbac::{allows, secret_read_verbs};
    use crate::input::object::KubeObject;

    #[test]
    fn the_defaults_load_and_edit_aggregates_secrets_and_exec() {
        let index = Index::new();
        let edit = cluster_role(&index, "edit").expect("edit is a default");
        assert!(edit.rules.is_none(), "the API server leaves aggregated rules to the controller-manager");
        let rules = effective_rules(&index, edit);
        assert!(rules.iter().any(|r| !secret_read_verbs(r).is_empty()), "edit reads secrets");
        assert!(rules.iter().any(|r| allows(r, "create", "", "pods/exec")), "edit may exec");
        assert!(rules.iter().any(|r| allows(r, "impersonate", "", "serviceaccounts")), "edit impersonates SAs");
        let view = effective_rules(&index, cluster_role(&index, "view").unwrap());
        assert!(view.iter().all(|r| secret_read_verbs(r).is_empty()), "view does not read secrets");
    }

    #[test]
    fn a_role_labelled_for_aggregation_joins_the_aggregate() {
        let mut index = Index::new();
        let reads_secrets = |index: &Index, role: &str| {
            effective_rules(index, cluster_role(index, role).unwrap()).iter().any(|r| !secret_read_verbs(r).is_empty())
        };
        assert!(!reads_secrets(&index, "view"));
        // Joining after a first lookup: the cached aggregation follows the change.
        index.extend(
            Index::from_yaml(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: crd-reader\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules: [{apiGroups: [\"\"], resources: [secrets], verbs: [list]}]\n",
            )
            .unwrap()
            .cluster_roles
            .iter()
            .map(|r| KubeObject::from((**r).clone())),
        );
        assert!(reads_secrets(&index, "view"), "the joined rule is part of view");
        index.remove("ClusterRole", "", "crd-reader");
        assert!(!reads_secrets(&index, "view"), "and leaves it when removed");
    }

    #[test]
    fn built_in_means_labelled_and_exactly_the_default() {
        let defaults = defaults();
        let admin_binding = defaults.cluster_role_bindings["cluster-admin"].clone();
        assert!(is_default_cluster_role_binding(&admin_binding));
        let mut to_anonymous = admin_binding.clone();
        to_anonymous.metadata.name = Some("system:public-info-viewer".into());
        assert!(!is_default_cluster_role_binding(&to_anonymous), "same name as a default, other grant");
        let mut unlabelled = admin_binding;
        unlabelled.metadata.labels = None;
        assert!(!is_default_cluster_role_binding(&unlabelled));
        let node = defaults.cluster_roles["system:node"].clone();
        assert!(is_default_cluster_role(&node));
        let mut widened = node;
        widened.rules.get_or_insert_default().push(PolicyRule {
            verbs: vec!["*".into()],
            resources: Some(vec!["*".into()]),
            api_groups: Some(vec!["*".into()]),
            ..Default::default()
        });
        assert!(!is_default_cluster_role(&widened));
    }
}
