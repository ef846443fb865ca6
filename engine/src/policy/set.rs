//! Which compiled [`Policy`] judges which subject. Precedence:
//!
//! - a namespace is judged by the policy with the highest `priority` among those whose
//!   `namespaceSelector` selects it (ties: the name that sorts first); none: the built-in default;
//! - cluster-scoped subjects (ClusterRoles, ClusterRoleBindings, Nodes, the cluster report) by the same
//!   rule among the policies whose selector is empty;
//! - within a policy, an id in `checks.enabled.ids` / `checks.disabled.ids` decides; otherwise a category
//!   or severity in `checks.disabled` switches a check off, else one in `checks.enabled` switches it on,
//!   else the catalog's default holds. Severity is the one the policy's risk gives.

use std::collections::BTreeMap;

use vigil_crds::Subject;

use crate::input::index::Index;
use crate::policy::Policy;

/// The label the API server puts on every namespace; `vigil scan` adds it too, so selectors by name
/// give the same answer on manifests.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The compiled policies in force, plus the fallback for subjects none of them selects.
#[derive(Clone, Debug)]
pub struct PolicySet {
    fallback: Policy,
    /// Highest priority first, then by name: the first that selects a namespace wins.
    policies: Vec<Policy>,
}

impl Default for PolicySet {
    fn default() -> Self {
        PolicySet::single(Policy::default())
    }
}

impl PolicySet {
    /// The given policies over the built-in default. Of two policies with one name, the first is kept.
    pub fn new(policies: impl IntoIterator<Item = Policy>) -> Self {
        PolicySet::with_fallback(Policy::default(), policies)
    }

    /// One policy for every subject, whatever its selector (tests, and a plain `vigil scan`).
    pub fn single(policy: Policy) -> Self {
        PolicySet { fallback: policy, policies: Vec::new() }
    }

    /// The given policies over another fallback.
    pub fn with_fallback(fallback: Policy, policies: impl IntoIterator<Item = Policy>) -> Self {
        let mut kept: Vec<Policy> = Vec::new();
        for policy in policies {
            if !kept.iter().any(|p| p.name == policy.name) {
                kept.push(policy);
            }
        }
        kept.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
        PolicySet { fallback, policies: kept }
    }

    /// The policies in precedence order (the fallback not included).
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn fallback(&self) -> &Policy {
        &self.fallback
    }

    /// The compliance frameworks any policy in force enables (the fallback's included).
    pub fn frameworks(&self) -> std::collections::BTreeSet<vigil_crds::FrameworkName> {
        self.policies.iter().chain([&self.fallback]).flat_map(|p| p.frameworks.iter().copied()).collect()
    }

    /// A policy by name (the fallback's included), e.g. the one a report names.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name).or((self.fallback.name == name).then_some(&self.fallback))
    }

    /// The policy for a namespace with these labels (`None`: the Namespace object is unknown). The
    /// `kubernetes.io/metadata.name` label is implied.
    pub fn for_namespace(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>) -> &Policy {
        if self.policies.is_empty() {
            return &self.fallback;
        }
        let mut labels = labels.cloned().unwrap_or_default();
        labels.entry(NAMESPACE_NAME_LABEL.to_string()).or_insert_with(|| namespace.to_string());
        self.policies.iter().find(|p| p.selects_namespace(&labels)).unwrap_or(&self.fallback)
    }

    /// The policy for a namespace, its labels looked up in the index.
    pub fn for_namespace_in(&self, index: &Index, namespace: &str) -> &Policy {
        if self.policies.is_empty() {
            return &self.fallback;
        }
        self.for_namespace(namespace, index.namespace_labels(namespace))
    }

    /// The policy for cluster-scoped subjects: the first of those that select every namespace.
    pub fn for_cluster(&self) -> &Policy {
        self.policies.iter().find(|p| p.selects_all_namespaces()).unwrap_or(&self.fallback)
    }

    /// The policy that judges a report's subject.
    pub fn for_subject(&self, index: &Index, subject: &Subject) -> &Policy {
        match &subject.namespace {
            Some(namespace) => self.for_namespace_in(index, namespace),
            None => self.for_cluster(),
        }
    }
}
