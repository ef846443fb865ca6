//! Whether an input shows a whole cluster or only some manifests: checks that need the whole cluster
//! ([`CheckScope::WholeCluster`](crate::checks::catalog::CheckScope)) are judged only on the former.

use crate::input::index::Index;

/// What the index holds: a whole cluster, or the manifests someone wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputScope {
    /// A live cluster (the operator, `vigil scan --cluster`) or a dump of one: every check is judged.
    #[default]
    WholeCluster,
    /// Plain manifests (a repository's folder, Helm output): checks that need the whole cluster say
    /// `NotApplicable` and how to get them judged.
    Manifests,
}

/// The Namespace every cluster has (the API server creates it) and no application declares.
const SYSTEM_NAMESPACE: &str = "kube-system";

impl InputScope {
    /// The scope of objects read from files: a whole-cluster dump when they include the `kube-system`
    /// Namespace as an API server returns it (with the `metadata.uid` only a server assigns), as
    /// `kubectl get ns,... -A -o yaml` always does; plain manifests otherwise. A dump without Namespaces is
    /// read as manifests: checks that need the whole cluster then say NotApplicable rather than judge
    /// from a partial view.
    pub fn of_files(index: &Index) -> InputScope {
        let dumped = index.namespaces.get("", SYSTEM_NAMESPACE).is_some_and(|ns| ns.metadata.uid.is_some());
        if dumped { InputScope::WholeCluster } else { InputScope::Manifests }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputScope::WholeCluster => "whole cluster",
            InputScope::Manifests => "manifests",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_is_recognised_by_the_system_namespace_as_a_server_returns_it() {
        let dump = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: kube-system, uid: 5e0c3a52-1d2b-4b7e-9a51-0f6d0c0c1e11, resourceVersion: \"12\"}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop, uid: 8f1d2e3c-0000-4000-8000-000000000001}\n";
        assert_eq!(InputScope::of_files(&Index::from_yaml(dump).unwrap()), InputScope::WholeCluster);
        // Written by hand (no uid), or without kube-system: manifests.
        let declared = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n";
        assert_eq!(InputScope::of_files(&Index::from_yaml(declared).unwrap()), InputScope::Manifests);
        let app =
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, uid: 8f1d2e3c-0000-4000-8000-000000000001}\n";
        assert_eq!(InputScope::of_files(&Index::from_yaml(app).unwrap()), InputScope::Manifests);
    }
}
