//! Index and affected, the pure steps between a watch event and the queue: apply one change to the
//! index and name the subjects it affects (those the old state reached and those the new state
//! reaches); after a relist, find what the index holds that the list no longer has. No client, no
//! locks: `watch` calls these under the index lock, and the tests feed objects.

use std::collections::BTreeSet;

use vigil_engine::input::index::ObjectKey;
use vigil_engine::subject::SubjectKey;
use vigil_engine::subject::affected::affected;
use vigil_engine::{Index, KubeObject, PolicySet};

use super::NamespaceFilter;

/// What one watch event does to the index.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Apply(KubeObject),
    Delete(KubeObject),
}

/// Applies a change of an object of `kind` (as watched) to the index. Returns the subjects to queue, or
/// `None` when the index did not change: the namespace is filtered out, or the object equals what is
/// stored (a change that only touched stripped fields: status, managedFields, resourceVersion).
pub fn apply_change(
    index: &mut Index,
    policies: &PolicySet,
    filter: &NamespaceFilter,
    kind: &str,
    change: Change,
) -> Option<BTreeSet<SubjectKey>> {
    let (object, deleting) = match change {
        Change::Apply(o) => (o, false),
        Change::Delete(o) => (o, true),
    };
    if !filter.admits(&object) {
        return None;
    }
    let meta = object.metadata();
    let namespace = if object.is_namespaced() { meta.namespace.clone().unwrap_or_default() } else { String::new() };
    let name = meta.name.clone().unwrap_or_default();
    let old = index.get_object(kind, &namespace, &name);
    if !deleting && old.as_ref() == Some(&object) {
        return None;
    }
    let mut keys = BTreeSet::new();
    if let Some(old) = &old {
        keys.extend(affected(index, policies, old));
    }
    if deleting {
        index.remove(kind, &namespace, &name);
        if old.is_none() {
            keys.extend(affected(index, policies, &object));
        }
    } else {
        index.insert(object.clone());
        keys.extend(affected(index, policies, &object));
    }
    Some(keys)
}

/// After a relist of `kind` that listed `seen`: the stored objects the list no longer has (deleted while
/// the watch was down), as deletes to apply.
pub fn gone_after_relist(index: &Index, kind: &str, seen: &BTreeSet<ObjectKey>) -> Vec<Change> {
    index
        .keys(kind)
        .into_iter()
        .filter(|key| !seen.contains(key))
        .filter_map(|(namespace, name)| index.get_object(kind, &namespace, &name))
        .map(Change::Delete)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(yaml: &str) -> KubeObject {
        let value = serde_saphyr::from_str(yaml).unwrap();
        let mut object = KubeObject::from_value(value).unwrap().unwrap();
        object.strip();
        object
    }

    fn deployment(privileged: bool, status: &str) -> KubeObject {
        object(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop, resourceVersion: \"{status}00\", generation: {status}}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: \"nginx:1.27\", securityContext: {{privileged: {privileged}}}}}]\nstatus: {{replicas: {status}}}\n"
        ))
    }

    fn keys(set: Option<BTreeSet<SubjectKey>>) -> Option<Vec<String>> {
        set.map(|s| s.iter().map(ToString::to_string).collect())
    }

    fn everything() -> NamespaceFilter {
        NamespaceFilter { include: BTreeSet::new(), exclude: BTreeSet::new() }
    }

    #[test]
    fn a_new_object_queues_its_subject_and_a_status_only_update_queues_nothing() {
        let (mut index, policies) = (Index::new(), PolicySet::default());
        let queued =
            apply_change(&mut index, &policies, &everything(), "Deployment", Change::Apply(deployment(true, "1")));
        assert_eq!(keys(queued), Some(vec!["Deployment/shop/web".to_string(), "Namespace/shop".to_string()]));
        // Only the status, resourceVersion and generation moved (the controller-manager's writes): stripped,
        // so equal, so no work.
        let queued =
            apply_change(&mut index, &policies, &everything(), "Deployment", Change::Apply(deployment(true, "3")));
        assert_eq!(queued, None);
        let queued =
            apply_change(&mut index, &policies, &everything(), "Deployment", Change::Apply(deployment(false, "3")));
        assert_eq!(keys(queued), Some(vec!["Deployment/shop/web".to_string(), "Namespace/shop".to_string()]));
    }

    #[test]
    fn a_filtered_namespace_never_enters_the_index() {
        let (mut index, policies) = (Index::new(), PolicySet::default());
        let filter = NamespaceFilter { include: BTreeSet::new(), exclude: BTreeSet::from(["shop".to_string()]) };
        assert_eq!(
            apply_change(&mut index, &policies, &filter, "Deployment", Change::Apply(deployment(true, "1"))),
            None
        );
        let namespace = object("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
        assert_eq!(apply_change(&mut index, &policies, &filter, "Namespace", Change::Apply(namespace)), None);
        assert!(index.deployments.is_empty() && index.namespaces.is_empty());
    }

    #[test]
    fn a_pod_owned_by_a_replica_set_queues_the_owner_and_a_delete_removes_it() {
        let (mut index, policies) = (Index::new(), PolicySet::default());
        let rs = object(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-1\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: \"nginx:1.27\"}]}\n",
        );
        apply_change(&mut index, &policies, &everything(), "Deployment", Change::Apply(deployment(false, "1")));
        apply_change(&mut index, &policies, &everything(), "ReplicaSet", Change::Apply(rs));
        let pod = object(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1-x\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: r1, controller: true}]\nspec: {containers: [{name: app, image: \"nginx:1.27\"}]}\n",
        );
        let queued = apply_change(&mut index, &policies, &everything(), "Pod", Change::Apply(pod.clone()));
        assert_eq!(keys(queued), Some(vec!["Deployment/shop/web".to_string(), "Namespace/shop".to_string()]));
        let queued = apply_change(&mut index, &policies, &everything(), "Pod", Change::Delete(pod));
        assert_eq!(keys(queued), Some(vec!["Deployment/shop/web".to_string(), "Namespace/shop".to_string()]));
        assert!(index.pods.is_empty());
    }

    #[test]
    fn a_relist_deletes_what_the_list_no_longer_has() {
        let (mut index, policies) = (Index::new(), PolicySet::default());
        for name in ["a", "b"] {
            let pod = object(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{containers: [{{name: app, image: \"nginx:1.27\"}}]}}\n"
            ));
            apply_change(&mut index, &policies, &everything(), "Pod", Change::Apply(pod));
        }
        let seen = BTreeSet::from([("shop".to_string(), "a".to_string())]);
        let gone = gone_after_relist(&index, "Pod", &seen);
        assert_eq!(gone.len(), 1);
        for change in gone {
            let queued = apply_change(&mut index, &policies, &everything(), "Pod", change);
            assert_eq!(keys(queued), Some(vec!["Namespace/shop".to_string(), "Pod/shop/b".to_string()]));
        }
        assert_eq!(index.keys("Pod"), vec![("shop".to_string(), "a".to_string())]);
    }
}
