//! Subjects: what a report is about. Workloads are the top-level owners of pod templates; pods, jobs and
//! replica sets owned by a controller are covered by their owner's report.

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodSpec, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use vigil_crds::Subject;

use crate::catalog::SubjectKind;
use crate::index::Index;
use crate::policy::Policy;

/// A top-level owner of a pod template.
#[derive(Clone, Debug)]
pub struct Workload<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The workload's own metadata.
    pub meta: &'a ObjectMeta,
    /// The pod template's metadata (for a bare Pod, the pod's own).
    pub template_meta: &'a ObjectMeta,
    pub spec: &'a PodSpec,
    /// Live pods of this workload (the operator fills these, so injected sidecars are audited too).
    pub pods: Vec<&'a Pod>,
}

impl Workload<'_> {
    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or("default")
    }
    /// The ServiceAccount its pods run as (`default` when unset).
    pub fn service_account(&self) -> &str {
        self.spec
            .service_account_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.spec.service_account.as_deref().filter(|s| !s.is_empty()))
            .unwrap_or("default")
    }
    /// The labels its pods get.
    pub fn pod_labels(&self) -> &std::collections::BTreeMap<String, String> {
        static EMPTY: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        self.template_meta.labels.as_ref().unwrap_or(&EMPTY)
    }
}

/// A Role or ClusterRole, seen the same way.
#[derive(Clone, Debug)]
pub struct RoleView<'a> {
    pub name: &'a str,
    /// `None` for a ClusterRole.
    pub namespace: Option<&'a str>,
    pub rules: &'a [PolicyRule],
}

impl RoleView<'_> {
    pub fn kind(&self) -> &'static str {
        if self.namespace.is_some() { "Role" } else { "ClusterRole" }
    }
}

/// A RoleBinding or ClusterRoleBinding, seen the same way.
#[derive(Clone, Debug)]
pub struct BindingView<'a> {
    pub name: &'a str,
    /// `None` for a ClusterRoleBinding.
    pub namespace: Option<&'a str>,
    pub role_ref: &'a RoleRef,
    pub subjects: &'a [RbacSubject],
}

impl BindingView<'_> {
    pub fn kind(&self) -> &'static str {
        if self.namespace.is_some() { "RoleBinding" } else { "ClusterRoleBinding" }
    }
}

/// The object a report is about, borrowed from the index.
#[derive(Clone, Debug)]
pub enum SubjectObject<'a> {
    Workload(Workload<'a>),
    Namespace(&'a Namespace),
    Service(&'a Service),
    Ingress(&'a Ingress),
    Role(RoleView<'a>),
    Binding(BindingView<'a>),
    Node(&'a Node),
    /// The cluster as a whole (the report named `cluster`).
    Cluster,
    /// An object whose checks cannot run (e.g. a workload without a pod spec): every check of its kind
    /// reports `Error` with this reason.
    Invalid { kind: SubjectKind, reason: String },
}

/// A subject and the reference its report carries.
#[derive(Clone, Debug)]
pub struct SubjectEntry<'a> {
    pub reference: Subject,
    pub object: SubjectObject<'a>,
}

impl SubjectEntry<'_> {
    pub fn kind(&self) -> SubjectKind {
        match &self.object {
            SubjectObject::Workload(_) => SubjectKind::Workload,
            SubjectObject::Namespace(_) => SubjectKind::Namespace,
            SubjectObject::Service(_) => SubjectKind::Service,
            SubjectObject::Ingress(_) => SubjectKind::Ingress,
            SubjectObject::Role(_) => SubjectKind::Role,
            SubjectObject::Binding(_) => SubjectKind::Binding,
            SubjectObject::Node(_) => SubjectKind::Node,
            SubjectObject::Cluster => SubjectKind::Cluster,
            SubjectObject::Invalid { kind, .. } => *kind,
        }
    }

    /// Cluster-scoped subjects get ClusterSecurityReports.
    pub fn is_cluster_scoped(&self) -> bool {
        self.reference.namespace.is_none()
    }
}

pub fn reference(api_version: &str, kind: &str, meta: &ObjectMeta, namespaced: bool) -> Subject {
    Subject {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        namespace: namespaced.then(|| meta.namespace.clone().unwrap_or_else(|| "default".into())),
        uid: meta.uid.clone().filter(|u| !u.is_empty()),
    }
}

/// The reference of the cluster report.
pub fn cluster_reference() -> Subject {
    Subject { api_version: "v1".into(), kind: "Cluster".into(), name: "cluster".into(), namespace: None, uid: None }
}

/// True when an owner reference marks a controller.
fn has_controller(meta: &ObjectMeta, kinds: &[&str]) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && (kinds.is_empty() || kinds.contains(&o.kind.as_str())))
}

fn workload<'a>(
    api_version: &'static str,
    kind: &'static str,
    meta: &'a ObjectMeta,
    template: Option<(&'a ObjectMeta, Option<&'a PodSpec>)>,
) -> SubjectEntry<'a> {
    let reference = reference(api_version, kind, meta, true);
    let object = match template {
        Some((template_meta, Some(spec))) => {
            SubjectObject::Workload(Workload { api_version, kind, meta, template_meta, spec, pods: Vec::new() })
        }
        _ => SubjectObject::Invalid {
            kind: SubjectKind::Workload,
            reason: format!("{kind} {} has no pod template spec", meta.name.as_deref().unwrap_or("")),
        },
    };
    SubjectEntry { reference, object }
}

fn empty_meta() -> &'static ObjectMeta {
    static EMPTY: std::sync::OnceLock<ObjectMeta> = std::sync::OnceLock::new();
    EMPTY.get_or_init(ObjectMeta::default)
}

/// Every workload subject in the index, in a stable order, leaving out system namespaces.
pub fn workloads<'a>(index: &'a Index, policy: &Policy) -> Vec<SubjectEntry<'a>> {
    let mut out = Vec::new();
    let keep = |meta: &ObjectMeta| !policy.is_system_namespace(meta.namespace.as_deref().unwrap_or("default"));
    let tpl = |t: Option<&'a k8s_openapi::api::core::v1::PodTemplateSpec>| {
        t.map(|t| (t.metadata.as_ref().unwrap_or(empty_meta()), t.spec.as_ref()))
    };
    for d in index.deployments.iter().filter(|o| keep(&o.metadata)) {
        out.push(workload("apps/v1", "Deployment", &d.metadata, tpl(d.spec.as_ref().map(|s| &s.template))));
    }
    for s in index.stateful_sets.iter().filter(|o| keep(&o.metadata)) {
        out.push(workload("apps/v1", "StatefulSet", &s.metadata, tpl(s.spec.as_ref().map(|s| &s.template))));
    }
    for d in index.daemon_sets.iter().filter(|o| keep(&o.metadata)) {
        out.push(workload("apps/v1", "DaemonSet", &d.metadata, tpl(d.spec.as_ref().map(|s| &s.template))));
    }
    for r in index.replica_sets.iter().filter(|o| keep(&o.metadata) && !has_controller(&o.metadata, &[])) {
        out.push(workload("apps/v1", "ReplicaSet", &r.metadata, tpl(r.spec.as_ref().and_then(|s| s.template.as_ref()))));
    }
    for c in index.cron_jobs.iter().filter(|o| keep(&o.metadata)) {
        let job_spec = c.spec.as_ref().and_then(|s| s.job_template.spec.as_ref());
        out.push(workload("batch/v1", "CronJob", &c.metadata, tpl(job_spec.map(|j| &j.template))));
    }
    for j in index.jobs.iter().filter(|o| keep(&o.metadata) && !has_controller(&o.metadata, &[])) {
        out.push(workload("batch/v1", "Job", &j.metadata, tpl(j.spec.as_ref().map(|s| &s.template))));
    }
    for r in index.replication_controllers.iter().filter(|o| keep(&o.metadata)) {
        let t = r.spec.as_ref().and_then(|s| s.template.as_ref());
        out.push(workload("v1", "ReplicationController", &r.metadata, tpl(t)));
    }
    for p in index.pods.iter().filter(|o| keep(&o.metadata) && !has_controller(&o.metadata, &[])) {
        out.push(workload("v1", "Pod", &p.metadata, Some((&p.metadata, p.spec.as_ref()))));
    }
    out
}

/// Every subject in the index: workloads, namespaces, services, ingresses, RBAC objects, nodes and the
/// cluster, in a stable order.
pub fn all<'a>(index: &'a Index, policy: &Policy) -> Vec<SubjectEntry<'a>> {
    let mut out = workloads(index, policy);
    let system_rbac = |name: &str| !policy.parameters.include_system_rbac && name.starts_with("system:");
    for n in index.namespaces.iter() {
        let name = n.metadata.name.as_deref().unwrap_or("");
        if !policy.is_system_namespace(name) {
            let mut reference = reference("v1", "Namespace", &n.metadata, false);
            // A namespace's report lives in the namespace itself.
            reference.namespace = Some(name.to_string());
            out.push(SubjectEntry { reference, object: SubjectObject::Namespace(n) });
        }
    }
    for s in index.services.iter() {
        out.push(SubjectEntry { reference: reference("v1", "Service", &s.metadata, true), object: SubjectObject::Service(s) });
    }
    for i in index.ingresses.iter() {
        out.push(SubjectEntry {
            reference: reference("networking.k8s.io/v1", "Ingress", &i.metadata, true),
            object: SubjectObject::Ingress(i),
        });
    }
    const RBAC: &str = "rbac.authorization.k8s.io/v1";
    for r in index.roles.iter() {
        let name = r.metadata.name.as_deref().unwrap_or("");
        if system_rbac(name) {
            continue;
        }
        let view = RoleView { name, namespace: Some(r.metadata.namespace.as_deref().unwrap_or("default")), rules: r.rules.as_deref().unwrap_or(&[]) };
        out.push(SubjectEntry { reference: reference(RBAC, "Role", &r.metadata, true), object: SubjectObject::Role(view) });
    }
    for r in index.cluster_roles.iter() {
        let name = r.metadata.name.as_deref().unwrap_or("");
        if system_rbac(name) {
            continue;
        }
        let view = RoleView { name, namespace: None, rules: r.rules.as_deref().unwrap_or(&[]) };
        out.push(SubjectEntry { reference: reference(RBAC, "ClusterRole", &r.metadata, false), object: SubjectObject::Role(view) });
    }
    for b in index.role_bindings.iter() {
        let name = b.metadata.name.as_deref().unwrap_or("");
        if system_rbac(name) {
            continue;
        }
        let view = BindingView {
            name,
            namespace: Some(b.metadata.namespace.as_deref().unwrap_or("default")),
            role_ref: &b.role_ref,
            subjects: b.subjects.as_deref().unwrap_or(&[]),
        };
        out.push(SubjectEntry { reference: reference(RBAC, "RoleBinding", &b.metadata, true), object: SubjectObject::Binding(view) });
    }
    for b in index.cluster_role_bindings.iter() {
        let name = b.metadata.name.as_deref().unwrap_or("");
        if system_rbac(name) {
            continue;
        }
        let view = BindingView { name, namespace: None, role_ref: &b.role_ref, subjects: b.subjects.as_deref().unwrap_or(&[]) };
        out.push(SubjectEntry {
            reference: reference(RBAC, "ClusterRoleBinding", &b.metadata, false),
            object: SubjectObject::Binding(view),
        });
    }
    for n in index.nodes.iter() {
        out.push(SubjectEntry { reference: reference("v1", "Node", &n.metadata, false), object: SubjectObject::Node(n) });
    }
    out.push(SubjectEntry { reference: cluster_reference(), object: SubjectObject::Cluster });
    out
}
