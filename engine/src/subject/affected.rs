//! "What does this change affect?": the subjects whose reports an object change can alter. Pure; the
//! operator calls it with an object's state before and after a change and re-evaluates exactly those.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::checks::support::{rbac, rbac_defaults};
use crate::input::index::Index;
use crate::input::object::{CustomKind, KubeObject};
use crate::policy::set::PolicySet;
use crate::subject::{
    BindingView, SubjectKey, hiding_controller, others_in, workload_keys, workload_keys_of_service_account,
};

/// The subjects a change to `object` can affect. Call it with the old state (before the index is
/// updated) and with the new state (after), and re-evaluate the union.
///
/// `policies` are the policies in force; a namespace is a system namespace when the policy that judges it
/// says so. (A change to the policies or exceptions themselves can affect every subject: the operator
/// re-evaluates everything then.)
pub fn affected(index: &Index, policies: &PolicySet, object: &KubeObject) -> BTreeSet<SubjectKey> {
    let mut out = BTreeSet::new();
    let meta = object.metadata();
    let ns = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    let system = policies.for_namespace_in(index, ns).is_system_namespace(ns);
    match object {
        KubeObject::Pod(_) | KubeObject::ReplicaSet(_) | KubeObject::Job(_) => {
            out.insert(top_level_owner(index, object.kind(), meta));
            // The Namespace's report holds its Pod Security readiness, judged from its workloads.
            out.insert(SubjectKey::new("Namespace", "", ns));
            if system {
                // api-server-hardening reads kube-system's static pods; privileged-system-plugins reads
                // system workloads.
                out.insert(SubjectKey::cluster());
            }
        }
        KubeObject::Deployment(_)
        | KubeObject::StatefulSet(_)
        | KubeObject::DaemonSet(_)
        | KubeObject::CronJob(_)
        | KubeObject::ReplicationController(_) => {
            out.insert(SubjectKey::new(object.kind(), ns, name));
            out.insert(SubjectKey::new("Namespace", "", ns));
            if system {
                out.insert(SubjectKey::cluster());
            }
        }
        KubeObject::Namespace(_) => {
            // Labels decide registry environments, Pod Security levels and mesh injection; the cluster
            // report reads every namespace's enforce label.
            out.insert(SubjectKey::new("Namespace", "", name));
            out.extend(workload_keys_in(index, policies, name));
            if !policies.policies().is_empty() {
                // Labels also pick the policy that judges the namespace: every subject in it may change.
                out.extend(others_in(index, policies, name).iter().map(|s| s.key()));
            }
            out.insert(SubjectKey::cluster());
        }
        KubeObject::NetworkPolicy(_) | KubeObject::LimitRange(_) | KubeObject::ResourceQuota(_) => {
            out.insert(SubjectKey::new("Namespace", "", ns));
            out.extend(workload_keys_in(index, policies, ns));
        }
        KubeObject::ServiceAccount(_) => out.extend(workloads_of_service_account(index, policies, ns, name)),
        KubeObject::Service(_) | KubeObject::Ingress(_) => drop(out.insert(SubjectKey::new(object.kind(), ns, name))),
        KubeObject::Role(_) => {
            out.insert(SubjectKey::new("Role", ns, name));
            for binding in index.role_bindings.in_namespace(ns) {
                let view = rbac::role_binding_view(binding);
                if view.role_ref.kind == "Role" && view.role_ref.name == name {
                    out.insert(SubjectKey::new("RoleBinding", ns, view.name));
                    out.extend(workloads_reached(index, policies, &view));
                }
            }
        }
        KubeObject::ClusterRole(role) => {
            // The role itself and every aggregated ClusterRole that takes in its rules.
            let names = rbac_defaults::aggregating(index, role);
            for name in &names {
                out.insert(SubjectKey::new("ClusterRole", "", name));
            }
            for binding in index.role_bindings.iter() {
                let view = rbac::role_binding_view(binding);
                if view.role_ref.kind == "ClusterRole" && names.contains(&view.role_ref.name) {
                    out.insert(SubjectKey::new("RoleBinding", view.namespace.unwrap_or(""), view.name));
                    out.extend(workloads_reached(index, policies, &view));
                }
            }
            for binding in index.cluster_role_bindings.iter() {
                let view = rbac::cluster_role_binding_view(binding);
                if names.contains(&view.role_ref.name) {
                    out.insert(SubjectKey::new("ClusterRoleBinding", "", view.name));
                    out.extend(workloads_reached(index, policies, &view));
                }
            }
            // privileged-system-plugins names the ClusterRoles system plugins hold.
            out.insert(SubjectKey::cluster());
        }
        KubeObject::RoleBinding(b) => {
            out.insert(SubjectKey::new("RoleBinding", ns, name));
            out.extend(workloads_reached(index, policies, &rbac::role_binding_view(b)));
        }
        KubeObject::ClusterRoleBinding(b) => {
            out.insert(SubjectKey::new("ClusterRoleBinding", "", name));
            out.extend(workloads_reached(index, policies, &rbac::cluster_role_binding_view(b)));
            out.insert(SubjectKey::cluster());
        }
        KubeObject::Node(_) => {
            out.insert(SubjectKey::new("Node", "", name));
            out.insert(SubjectKey::cluster());
        }
        KubeObject::ValidatingWebhookConfiguration(_)
        | KubeObject::ValidatingAdmissionPolicy(_)
        | KubeObject::ValidatingAdmissionPolicyBinding(_) => drop(out.insert(SubjectKey::cluster())),
        KubeObject::Custom(kind, _) => match kind {
            CustomKind::PeerAuthentication if ns == MESH_ROOT_NAMESPACE => {
                // A mesh-wide policy: every namespace and workload.
                out.extend(
                    index
                        .namespaces
                        .iter()
                        .map(|n| SubjectKey::new("Namespace", "", n.metadata.name.as_deref().unwrap_or(""))),
                );
                out.extend(workload_keys(index, policies));
            }
            CustomKind::PeerAuthentication => {
                out.insert(SubjectKey::new("Namespace", "", ns));
                out.extend(workload_keys_in(index, policies, ns));
            }
            CustomKind::AuthorizationPolicy if ns == MESH_ROOT_NAMESPACE => {
                out.extend(
                    index
                        .namespaces
                        .iter()
                        .map(|n| SubjectKey::new("Namespace", "", n.metadata.name.as_deref().unwrap_or(""))),
                );
            }
            CustomKind::AuthorizationPolicy => drop(out.insert(SubjectKey::new("Namespace", "", ns))),
            CustomKind::VulnerabilityReport => out.extend(workload_keys_in(index, policies, ns)),
            CustomKind::ImagePolicy => drop(out.insert(SubjectKey::cluster())),
            CustomKind::CustomResourceDefinition => {}
        },
    }
    out.retain(|k| !k.name.is_empty());
    out
}

/// Istio's root namespace, where mesh-wide policies live.
const MESH_ROOT_NAMESPACE: &str = "istio-system";

fn workload_keys_in(index: &Index, policies: &PolicySet, namespace: &str) -> Vec<SubjectKey> {
    crate::subject::workload_keys_in(index, policies, namespace)
}

/// The workload a pod, ReplicaSet or Job belongs to: its controller's controller, as far as the index
/// knows it (a Pod of a ReplicaSet of a Deployment -> the Deployment).
pub fn top_level_owner(index: &Index, kind: &str, meta: &ObjectMeta) -> SubjectKey {
    let ns = meta.namespace.as_deref().unwrap_or("");
    let mut current = (kind.to_string(), meta.name.clone().unwrap_or_default());
    let mut owner = hiding_controller(kind, meta);
    // Bounded: Pod -> ReplicaSet/Job -> Deployment/CronJob.
    for _ in 0..3 {
        let Some((owner_kind, owner_name)) = owner else { break };
        owner = match owner_kind.as_str() {
            "ReplicaSet" => {
                index.replica_sets.get(ns, &owner_name).and_then(|o| hiding_controller("ReplicaSet", &o.metadata))
            }
            "Job" => index.jobs.get(ns, &owner_name).and_then(|o| hiding_controller("Job", &o.metadata)),
            _ => None,
        };
        current = (owner_kind, owner_name);
    }
    SubjectKey::new(&current.0, ns, &current.1)
}

fn workloads_of_service_account(index: &Index, policies: &PolicySet, namespace: &str, name: &str) -> Vec<SubjectKey> {
    workload_keys_of_service_account(index, policies, namespace, name)
}

/// The workloads whose ServiceAccount a binding's subjects reach.
fn workloads_reached(index: &Index, policies: &PolicySet, binding: &BindingView) -> Vec<SubjectKey> {
    let mut out = Vec::new();
    for subject in binding.subjects {
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if let Some(ns) = rbac::subject_namespace(subject, binding) {
                    out.extend(workloads_of_service_account(index, policies, ns, &subject.name));
                }
            }
            "User" => {
                if let Some((ns, sa)) =
                    subject.name.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':'))
                {
                    out.extend(workloads_of_service_account(index, policies, ns, sa));
                }
            }
            "Group" => match subject.name.as_str() {
                "system:serviceaccounts" | "system:authenticated" => out.extend(workload_keys(index, policies)),
                group => {
                    if let Some(ns) = group.strip_prefix("system:serviceaccounts:") {
                        out.extend(workload_keys_in(index, policies, ns));
                    }
                }
            },
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::loader::Loaded;

    fn index(yaml: &str) -> Index {
        Index::from_yaml(yaml).unwrap()
    }

    fn object(yaml: &str) -> KubeObject {
        let mut loaded = Loaded::default();
        loaded.add_text("o.yaml", yaml);
        loaded.objects.pop().unwrap().0.decode().unwrap()
    }

    fn keys(set: &BTreeSet<SubjectKey>) -> Vec<String> {
        set.iter().map(|k| k.to_string()).collect()
    }

    const CLUSTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d1}
spec: {selector: {}, template: {spec: {serviceAccountName: web, containers: [{name: c, image: x}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-123, namespace: shop, uid: r1, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]}
spec: {selector: {}, template: {spec: {containers: [{name: c, image: x}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec: {schedule: "@daily", jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: x}]}}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: nightly-1, namespace: shop, ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: nightly, uid: c1, controller: true}]}
spec: {template: {spec: {containers: [{name: c, image: x}]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: other}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: web}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"#;

    #[test]
    fn a_pod_change_reaches_its_top_level_owner_and_its_namespace() {
        let index = index(CLUSTER);
        let pod = object(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web-123-x, namespace: shop, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-123, uid: r1, controller: true}]}\nspec: {containers: []}\n",
        );
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &pod)), vec!["Deployment/shop/web", "Namespace/shop"]);
        let job_pod = object(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: n-1-x, namespace: shop, ownerReferences: [{apiVersion: batch/v1, kind: Job, name: nightly-1, uid: j1, controller: true}]}\nspec: {containers: []}\n",
        );
        assert_eq!(
            keys(&affected(&index, &PolicySet::default(), &job_pod)),
            vec!["CronJob/shop/nightly", "Namespace/shop"]
        );
        let bare =
            object("apiVersion: v1\nkind: Pod\nmetadata: {name: lonely, namespace: other}\nspec: {containers: []}\n");
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &bare)), vec!["Namespace/other", "Pod/other/lonely"]);
    }

    #[test]
    fn namespace_scoped_objects_reach_the_namespace_and_its_workloads() {
        let index = index(CLUSTER);
        let netpol = object(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n",
        );
        assert_eq!(
            keys(&affected(&index, &PolicySet::default(), &netpol)),
            vec!["CronJob/shop/nightly", "Deployment/shop/web", "Namespace/shop"]
        );
        let ns = object("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n");
        assert!(keys(&affected(&index, &PolicySet::default(), &ns)).contains(&"Cluster/cluster".to_string()));
    }

    #[test]
    fn rbac_changes_reach_bindings_and_the_workloads_of_bound_service_accounts() {
        let index = index(CLUSTER);
        let sa = object("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n");
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &sa)), vec!["Deployment/shop/web"]);
        let role = object(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n",
        );
        assert_eq!(
            keys(&affected(&index, &PolicySet::default(), &role)),
            vec!["Cluster/cluster", "ClusterRole/reader", "Deployment/shop/web", "RoleBinding/shop/web-reader"]
        );
        let group = object(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: all}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: Group, name: \"system:serviceaccounts:other\"}]\n",
        );
        assert_eq!(
            keys(&affected(&index, &PolicySet::default(), &group)),
            vec!["Cluster/cluster", "ClusterRoleBinding/all", "Pod/other/lonely"]
        );
    }

    #[test]
    fn nodes_and_admission_objects_reach_the_cluster_report() {
        let index = index(CLUSTER);
        let node = object("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n");
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &node)), vec!["Cluster/cluster", "Node/n1"]);
        let hook = object(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: kyverno}\n",
        );
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &hook)), vec!["Cluster/cluster"]);
    }

    #[test]
    fn mesh_wide_peer_authentication_reaches_every_namespace_and_workload() {
        let index = index(CLUSTER);
        let pa = object(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n",
        );
        let got = keys(&affected(&index, &PolicySet::default(), &pa));
        assert_eq!(got, vec!["CronJob/shop/nightly", "Deployment/shop/web", "Namespace/shop", "Pod/other/lonely"]);
    }

    fn tools_policy(system: bool) -> PolicySet {
        let mut tools = crate::policy::Policy {
            name: "tools".into(),
            namespace_selector: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                match_labels: Some([("env".to_string(), "tools".to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        if system {
            tools.parameters.system_namespaces.push("tools".into());
        }
        PolicySet::new([tools])
    }

    const TOOLS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: tools, labels: {env: tools}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: tools}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: tools}\nspec: {}\n";

    #[test]
    fn the_policy_judging_a_namespace_decides_whether_it_is_a_system_namespace() {
        let index = index(TOOLS);
        let pod =
            object("apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: tools}\nspec: {containers: []}\n");
        assert_eq!(keys(&affected(&index, &PolicySet::default(), &pod)), vec!["Namespace/tools", "Pod/tools/agent"]);
        // The policy selecting `tools` makes it a system namespace: the cluster report reads its workloads.
        assert_eq!(
            keys(&affected(&index, &tools_policy(true), &pod)),
            vec!["Cluster/cluster", "Namespace/tools", "Pod/tools/agent"]
        );
    }

    #[test]
    fn with_several_policies_a_namespace_change_reaches_every_subject_in_it() {
        let index = index(TOOLS);
        let ns = object("apiVersion: v1\nkind: Namespace\nmetadata: {name: tools, labels: {env: dev}}\n");
        // Only the default policy: labels cannot change which policy judges the Service.
        assert_eq!(
            keys(&affected(&index, &PolicySet::default(), &ns)),
            vec!["Cluster/cluster", "Namespace/tools", "Pod/tools/agent"]
        );
        assert_eq!(
            keys(&affected(&index, &tools_policy(false), &ns)),
            vec!["Cluster/cluster", "Namespace/tools", "Pod/tools/agent", "Service/tools/api"]
        );
    }

    #[test]
    fn a_role_that_joins_an_aggregate_requeues_the_aggregates_bindings() {
        let index = index(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: devs-edit, namespace: apps}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\nsubjects: [{kind: Group, name: devs}]\n",
        );
        let joins_view = object(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: crd-reader\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules: []\n",
        );
        // view aggregates it, edit aggregates view, admin aggregates edit: a binding to edit is affected.
        let keys = keys(&affected(&index, &PolicySet::default(), &joins_view));
        assert!(keys.contains(&"RoleBinding/apps/devs-edit".to_string()), "{keys:?}");
        assert!(keys.contains(&"ClusterRole/admin".to_string()), "{keys:?}");
    }
}
