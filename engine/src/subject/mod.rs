//! Subjects: what a report is about. Workloads are the top-level owners of pod templates; pods, jobs and
//! replica sets are covered by their owner's report only along the known controller chains
//! ([`hiding_controller`]).

pub mod affected;
mod by_subject;

pub use by_subject::BySubject;

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodSpec, PodTemplateSpec, ReplicationController, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use vigil_crds::Subject;

use crate::checks::catalog::SubjectKind;
use crate::checks::support::rbac_defaults;
use crate::input::index::{Index, Store};
use crate::input::packed::{DecodeError, Packed};
use crate::policy::set::PolicySet;

/// A top-level owner of a pod template. The index keeps pod-template kinds packed
/// ([`crate::input::packed`]): the workload's metadata is borrowed from the index, its pod template and
/// live pods are decoded for the time it is judged (and dereference as `ObjectMeta`, `PodSpec` and `Pod`).
#[derive(Clone, Debug)]
pub struct Workload<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The workload's own metadata.
    pub meta: &'a ObjectMeta,
    /// The pod template's metadata (for a bare Pod, the pod's own).
    pub template_meta: Cow<'a, ObjectMeta>,
    pub spec: Cow<'a, PodSpec>,
    /// Live pods of this workload (the operator fills these, so injected sidecars are audited too).
    pub pods: Vec<Cow<'a, Pod>>,
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
        service_account_of(&self.spec)
    }
}

/// A Role or ClusterRole, seen the same way.
#[derive(Clone, Debug)]
pub struct RoleView<'a> {
    pub name: &'a str,
    /// `None` for a ClusterRole.
    pub namespace: Option<&'a str>,
    /// What the role grants: its rules, or for an aggregated ClusterRole the union it aggregates.
    pub rules: std::borrow::Cow<'a, [PolicyRule]>,
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

/// The object a report is about, borrowed from the index (a workload's pod template and live pods decoded).
#[derive(Clone, Debug)]
// A workload holds its decoded pod spec inline (about 1.8 KB); subjects are built and judged one at a
// time, so the size costs a few copies, not memory.
#[allow(clippy::large_enum_variant)]
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
    Invalid {
        kind: SubjectKind,
        reason: String,
    },
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

/// The controller chains that hide an object behind its owner's report: a ReplicaSet behind its
/// Deployment, a Job behind its CronJob, a Pod behind the workload kind that made it. Only these: an
/// object whose controller is a kind Vigil does not read (an Argo Rollout, a custom job operator) gets a
/// report of its own, or a privileged pod could hide behind any CRD; so do static and mirror Pods (owned
/// by a Node).
const HIDING_CONTROLLERS: &[(&str, &[&str])] = &[
    ("ReplicaSet", &["Deployment"]),
    ("Job", &["CronJob"]),
    ("Pod", &["ReplicaSet", "Job", "StatefulSet", "DaemonSet", "ReplicationController"]),
];

/// The controller `(kind, name)` whose report covers an object of `kind`, if a known chain hides it.
pub fn hiding_controller(kind: &str, meta: &ObjectMeta) -> Option<(String, String)> {
    let owners = HIDING_CONTROLLERS.iter().find(|(k, _)| *k == kind).map(|(_, owners)| *owners)?;
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && owners.contains(&o.kind.as_str()))
        .map(|o| (o.kind.clone(), o.name.clone()))
}

/// A workload subject before its pod template is decoded: what listing, keys and filters need.
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Deployment(&'a Packed<Deployment>),
    StatefulSet(&'a Packed<StatefulSet>),
    DaemonSet(&'a Packed<DaemonSet>),
    ReplicaSet(&'a Packed<ReplicaSet>),
    CronJob(&'a Packed<CronJob>),
    Job(&'a Packed<Job>),
    ReplicationController(&'a Packed<ReplicationController>),
    Pod(&'a Packed<Pod>),
}

/// A decoded pod template: its metadata and spec (`None`: the object has none).
type Template<'a> = Option<(Cow<'a, ObjectMeta>, PodSpec)>;

fn template_of(t: Option<PodTemplateSpec>) -> Template<'static> {
    t.and_then(|t| Some((Cow::Owned(t.metadata.unwrap_or_default()), t.spec?)))
}

impl<'a> Source<'a> {
    fn meta(self) -> &'a ObjectMeta {
        match self {
            Source::Deployment(o) => &o.metadata,
            Source::StatefulSet(o) => &o.metadata,
            Source::DaemonSet(o) => &o.metadata,
            Source::ReplicaSet(o) => &o.metadata,
            Source::CronJob(o) => &o.metadata,
            Source::Job(o) => &o.metadata,
            Source::ReplicationController(o) => &o.metadata,
            Source::Pod(o) => &o.metadata,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Source::Deployment(_) => "Deployment",
            Source::StatefulSet(_) => "StatefulSet",
            Source::DaemonSet(_) => "DaemonSet",
            Source::ReplicaSet(_) => "ReplicaSet",
            Source::CronJob(_) => "CronJob",
            Source::Job(_) => "Job",
            Source::ReplicationController(_) => "ReplicationController",
            Source::Pod(_) => "Pod",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Source::Deployment(_) | Source::StatefulSet(_) | Source::DaemonSet(_) | Source::ReplicaSet(_) => "apps/v1",
            Source::CronJob(_) | Source::Job(_) => "batch/v1",
            Source::ReplicationController(_) | Source::Pod(_) => "v1",
        }
    }

    /// The key of the subject, as [`SubjectKey::of`] its reference.
    fn key(self) -> SubjectKey {
        let meta = self.meta();
        SubjectKey::new(
            self.kind(),
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// Decodes the pod template (the one decode of this object while it is judged).
    fn template(self) -> Result<Template<'a>, DecodeError> {
        Ok(match self {
            Source::Deployment(o) => template_of(o.decode_body()?.spec.map(|s| s.template)),
            Source::StatefulSet(o) => template_of(o.decode_body()?.spec.map(|s| s.template)),
            Source::DaemonSet(o) => template_of(o.decode_body()?.spec.map(|s| s.template)),
            Source::ReplicaSet(o) => template_of(o.decode_body()?.spec.and_then(|s| s.template)),
            Source::CronJob(o) => {
                template_of(o.decode_body()?.spec.and_then(|s| s.job_template.spec).map(|s| s.template))
            }
            Source::Job(o) => template_of(o.decode_body()?.spec.map(|s| s.template)),
            Source::ReplicationController(o) => template_of(o.decode_body()?.spec.and_then(|s| s.template)),
            Source::Pod(o) => o.decode_body()?.spec.map(|spec| (Cow::Borrowed(&o.metadata), spec)),
        })
    }

    /// The subject, its pod template decoded and its live pods attached.
    fn resolve(self, index: &'a Index) -> SubjectEntry<'a> {
        let (api_version, kind, meta) = (self.api_version(), self.kind(), self.meta());
        let reference = reference(api_version, kind, meta, true);
        let name = meta.name.as_deref().unwrap_or("");
        let object = match self.template() {
            Ok(Some((template_meta, spec))) => SubjectObject::Workload(Workload {
                api_version,
                kind,
                meta,
                template_meta,
                spec: Cow::Owned(spec),
                pods: Vec::new(),
            }),
            Ok(None) => SubjectObject::Invalid {
                kind: SubjectKind::Workload,
                reason: format!("{kind} {name} has no pod template spec"),
            },
            Err(error) => {
                SubjectObject::Invalid { kind: SubjectKind::Workload, reason: format!("{kind} {name}: {error}") }
            }
        };
        let mut entry = SubjectEntry { reference, object };
        attach_live_pods(index, &mut entry);
        entry
    }
}

/// A store's objects, all or one namespace's.
fn scope<'a, T>(store: &'a Store<T>, namespace: Option<&str>) -> Box<dyn Iterator<Item = &'a Arc<T>> + 'a> {
    match namespace {
        Some(ns) => Box::new(store.in_namespace(ns)),
        None => Box::new(store.iter()),
    }
}

/// Workload subjects (top-level owners only), all or one namespace's, in a stable order, undecoded.
fn workload_sources<'a>(index: &'a Index, namespace: Option<&str>) -> Vec<Source<'a>> {
    let top = |kind: &str, meta: &ObjectMeta| hiding_controller(kind, meta).is_none();
    let mut out = Vec::new();
    out.extend(scope(&index.deployments, namespace).map(|o| Source::Deployment(o)));
    out.extend(scope(&index.stateful_sets, namespace).map(|o| Source::StatefulSet(o)));
    out.extend(scope(&index.daemon_sets, namespace).map(|o| Source::DaemonSet(o)));
    out.extend(
        scope(&index.replica_sets, namespace).filter(|o| top("ReplicaSet", &o.metadata)).map(|o| Source::ReplicaSet(o)),
    );
    out.extend(scope(&index.cron_jobs, namespace).map(|o| Source::CronJob(o)));
    out.extend(scope(&index.jobs, namespace).filter(|o| top("Job", &o.metadata)).map(|o| Source::Job(o)));
    out.extend(scope(&index.replication_controllers, namespace).map(|o| Source::ReplicationController(o)));
    out.extend(scope(&index.pods, namespace).filter(|o| top("Pod", &o.metadata)).map(|o| Source::Pod(o)));
    out
}

/// Every workload source outside system namespaces, in a stable order.
fn workload_sources_judged<'a>(index: &'a Index, policies: &PolicySet) -> Vec<Source<'a>> {
    let mut out = workload_sources(index, None);
    // Sources come grouped by namespace: decide once per run of one namespace.
    let mut last: Option<(String, bool)> = None;
    out.retain(|s| {
        let namespace = s.meta().namespace.as_deref().unwrap_or("default");
        match &last {
            Some((ns, system)) if ns == namespace => !*system,
            _ => {
                let system = is_system_namespace(index, policies, namespace);
                last = Some((namespace.to_string(), system));
                !system
            }
        }
    });
    out
}

/// True when the policy judging `namespace` leaves it out of namespace and workload checks.
fn is_system_namespace(index: &Index, policies: &PolicySet, namespace: &str) -> bool {
    policies.for_namespace_in(index, namespace).is_system_namespace(namespace)
}

/// Fills a workload's live pods from the index: pods whose controller is the workload, or (Deployments,
/// CronJobs) one of its ReplicaSets or Jobs. Found by owner uid, so manifests without uids get none. Owners
/// are matched on metadata; only the workload's own pods are decoded.
fn attach_live_pods<'a>(index: &'a Index, entry: &mut SubjectEntry<'a>) {
    let SubjectObject::Workload(w) = &mut entry.object else { return };
    let (Some(uid), Some(ns)) = (w.meta.uid.as_deref(), w.meta.namespace.as_deref()) else { return };
    if w.kind == "Pod" {
        return;
    }
    let controlled_by = |meta: &ObjectMeta, uid: &str| {
        meta.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
    };
    let mut owners: Vec<&str> = vec![uid];
    match w.kind {
        "Deployment" => owners.extend(
            index
                .replica_sets
                .in_namespace(ns)
                .filter(|rs| controlled_by(&rs.metadata, uid))
                .filter_map(|rs| rs.metadata.uid.as_deref()),
        ),
        "CronJob" => owners.extend(
            index
                .jobs
                .in_namespace(ns)
                .filter(|j| controlled_by(&j.metadata, uid))
                .filter_map(|j| j.metadata.uid.as_deref()),
        ),
        _ => {}
    }
    let mut pods = Vec::new();
    for packed in index.pods.in_namespace(ns).filter(|p| owners.iter().any(|o| controlled_by(&p.metadata, o))) {
        match packed.decode() {
            Ok(pod) => pods.push(Cow::Owned(pod)),
            Err(error) => {
                // Its containers (an injected sidecar) would go unjudged: the workload cannot be judged.
                let pod_name = packed.metadata.name.as_deref().unwrap_or("");
                entry.object = SubjectObject::Invalid {
                    kind: SubjectKind::Workload,
                    reason: format!("{} {}: live pod {pod_name}: {error}", w.kind, w.name()),
                };
                return;
            }
        }
    }
    w.pods = pods;
}

/// Every workload subject in the index, in a stable order, leaving out system namespaces. Each is decoded
/// as the iterator reaches it, so judging one at a time holds one decoded workload at a time.
pub fn workloads<'a>(index: &'a Index, policies: &PolicySet) -> impl Iterator<Item = SubjectEntry<'a>> + 'a {
    workload_sources_judged(index, policies).into_iter().map(move |s| s.resolve(index))
}

/// The keys of [`workloads`], without decoding anything.
pub fn workload_keys(index: &Index, policies: &PolicySet) -> Vec<SubjectKey> {
    workload_sources_judged(index, policies).into_iter().map(Source::key).collect()
}

/// The workload subjects of one namespace (none for a system namespace).
pub fn workloads_in<'a>(index: &'a Index, policies: &PolicySet, namespace: &str) -> Vec<SubjectEntry<'a>> {
    if is_system_namespace(index, policies, namespace) {
        return Vec::new();
    }
    workload_sources(index, Some(namespace)).into_iter().map(|s| s.resolve(index)).collect()
}

/// The keys of [`workloads_in`], without decoding anything.
pub fn workload_keys_in(index: &Index, policies: &PolicySet, namespace: &str) -> Vec<SubjectKey> {
    if is_system_namespace(index, policies, namespace) {
        return Vec::new();
    }
    workload_sources(index, Some(namespace)).into_iter().map(Source::key).collect()
}

/// The keys of the workloads of one namespace whose pods run as ServiceAccount `account` (and of those
/// that cannot be decoded: re-judging them is harmless). Decodes each pod template once, no live pods.
pub fn workload_keys_of_service_account(
    index: &Index,
    policies: &PolicySet,
    namespace: &str,
    account: &str,
) -> Vec<SubjectKey> {
    if is_system_namespace(index, policies, namespace) {
        return Vec::new();
    }
    workload_sources(index, Some(namespace))
        .into_iter()
        .filter(|s| match s.template() {
            Ok(Some((_, spec))) => service_account_of(&spec) == account,
            Ok(None) | Err(_) => true,
        })
        .map(Source::key)
        .collect()
}

/// The ServiceAccount a pod spec runs as (`default` when unset).
pub fn service_account_of(spec: &PodSpec) -> &str {
    spec.service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(spec.service_account.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or("default")
}

/// Every workload of one namespace, system namespace or not (Pod Security readiness judges them all:
/// Pod Security Admission has no notion of Vigil's system namespaces).
/// Decoded one at a time, as they are reached.
pub fn every_workload_in<'a>(index: &'a Index, namespace: &str) -> impl Iterator<Item = SubjectEntry<'a>> + 'a {
    workload_sources(index, Some(namespace)).into_iter().map(move |s| s.resolve(index))
}

/// Identifies a subject across index updates: what the operator queues and what a report is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubjectKey {
    /// The subject's kind (`Deployment`, `Namespace`, ..., `Cluster`).
    pub kind: String,
    /// Empty for cluster-scoped subjects and for Namespaces.
    pub namespace: String,
    pub name: String,
}

impl SubjectKey {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        SubjectKey { kind: kind.to_string(), namespace: namespace.to_string(), name: name.to_string() }
    }

    pub fn cluster() -> Self {
        SubjectKey::new("Cluster", "", "cluster")
    }

    /// The key of the subject a report names (a Namespace's key has no namespace, whatever its
    /// reference says).
    pub fn of(subject: &Subject) -> Self {
        let namespace = if subject.kind == "Namespace" { "" } else { subject.namespace.as_deref().unwrap_or("") };
        SubjectKey::new(&subject.kind, namespace, &subject.name)
    }
}

impl std::fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl SubjectEntry<'_> {
    pub fn key(&self) -> SubjectKey {
        SubjectKey::of(&self.reference)
    }
}

/// The subject a key names, as [`all`] would list it; `None` when it is gone or not a subject (a pod with
/// a controller, a system namespace's workload, a `system:` role).
pub fn find<'a>(index: &'a Index, policies: &PolicySet, key: &SubjectKey) -> Option<SubjectEntry<'a>> {
    let (ns, name) = (key.namespace.as_str(), key.name.as_str());
    let top = |kind: &str, meta: &ObjectMeta| hiding_controller(kind, meta).is_none();
    let workload_ns = || !is_system_namespace(index, policies, ns);
    let source = match key.kind.as_str() {
        "Deployment" => index.deployments.get(ns, name).map(|o| Source::Deployment(o)),
        "StatefulSet" => index.stateful_sets.get(ns, name).map(|o| Source::StatefulSet(o)),
        "DaemonSet" => index.daemon_sets.get(ns, name).map(|o| Source::DaemonSet(o)),
        "ReplicaSet" => index.replica_sets.get(ns, name).map(|o| Source::ReplicaSet(o)),
        "CronJob" => index.cron_jobs.get(ns, name).map(|o| Source::CronJob(o)),
        "Job" => index.jobs.get(ns, name).map(|o| Source::Job(o)),
        "ReplicationController" => {
            index.replication_controllers.get(ns, name).map(|o| Source::ReplicationController(o))
        }
        "Pod" => index.pods.get(ns, name).map(|o| Source::Pod(o)),
        "Cluster" => return Some(SubjectEntry { reference: cluster_reference(), object: SubjectObject::Cluster }),
        // Only the candidates of the key's own scope: a Namespace and what is in it, or the
        // cluster-scoped subjects. (Building every subject per lookup made a full pass quadratic.)
        "Namespace" => return other_entries(index, policies, Some(name)).into_iter().find(|e| e.key() == *key),
        _ => return other_entries(index, policies, Some(ns)).into_iter().find(|e| e.key() == *key),
    }?;
    (workload_ns() && top(source.kind(), source.meta())).then(|| source.resolve(index))
}

/// Every subject in the index: workloads, namespaces, services, ingresses, RBAC objects, nodes and the
/// cluster, in a stable order. Workloads are decoded as the iterator reaches them: take one subject at a
/// time (judge it, drop it) and only one decoded workload is held.
pub fn all<'a>(index: &'a Index, policies: &PolicySet) -> impl Iterator<Item = SubjectEntry<'a>> + 'a {
    let others = others(index, policies);
    workloads(index, policies)
        .chain(others)
        .chain(std::iter::once(SubjectEntry { reference: cluster_reference(), object: SubjectObject::Cluster }))
}

/// The keys of [`all`], without decoding any workload.
pub fn keys(index: &Index, policies: &PolicySet) -> Vec<SubjectKey> {
    let mut out = workload_keys(index, policies);
    out.extend(others(index, policies).iter().map(SubjectEntry::key));
    out.push(SubjectKey::cluster());
    out
}

/// The subjects that are not workloads and not the cluster.
fn others<'a>(index: &'a Index, policies: &PolicySet) -> Vec<SubjectEntry<'a>> {
    other_entries(index, policies, None)
}

/// The subjects of one namespace that are not workloads: the Namespace itself (unless a system
/// namespace), its Services, Ingresses, Roles and RoleBindings. With several policies, a Namespace's
/// labels decide which policy judges all of these.
pub fn others_in<'a>(index: &'a Index, policies: &PolicySet, namespace: &str) -> Vec<SubjectEntry<'a>> {
    other_entries(index, policies, Some(namespace))
}

/// The subjects that are not workloads and not the cluster: all, or (`Some(namespace)`) one namespace's,
/// cluster-scoped ones left out, or (`Some("")`) the cluster-scoped ones alone.
fn other_entries<'a>(index: &'a Index, policies: &PolicySet, scoped: Option<&str>) -> Vec<SubjectEntry<'a>> {
    // The bootstrap policy's own RBAC objects (labelled `kubernetes.io/bootstrapping=rbac-defaults` and
    // exactly the default: see `rbac_defaults`) are left out unless the policy judging them includes
    // them. A name is no proof: a custom `system:...` binding is judged like any other.
    let system_rbac = |namespace: Option<&str>, built_in: bool| {
        if !built_in {
            return false;
        }
        let policy = match namespace {
            Some(ns) => policies.for_namespace_in(index, ns),
            None => policies.for_cluster(),
        };
        !policy.parameters.include_system_rbac
    };
    const RBAC: &str = "rbac.authorization.k8s.io/v1";
    let namespaces = index.namespaces.iter().filter_map(|n| {
        let name = n.metadata.name.as_deref().unwrap_or("");
        if scoped.is_some_and(|ns| ns != name) || is_system_namespace(index, policies, name) {
            return None;
        }
        let mut reference = reference("v1", "Namespace", &n.metadata, false);
        // A namespace's report lives in the namespace itself.
        reference.namespace = Some(name.to_string());
        Some(SubjectEntry { reference, object: SubjectObject::Namespace(n) })
    });
    let services = scope(&index.services, scoped).map(|s| SubjectEntry {
        reference: reference("v1", "Service", &s.metadata, true),
        object: SubjectObject::Service(s),
    });
    let ingresses = scope(&index.ingresses, scoped).map(|i| SubjectEntry {
        reference: reference("networking.k8s.io/v1", "Ingress", &i.metadata, true),
        object: SubjectObject::Ingress(i),
    });
    let namespace_of = |meta: &ObjectMeta| meta.namespace.clone().unwrap_or_else(|| "default".into());
    let roles = scope(&index.roles, scoped)
        .filter(|r| !system_rbac(Some(&namespace_of(&r.metadata)), rbac_defaults::is_default_role(r)))
        .map(|r| {
            let view = RoleView {
                name: r.metadata.name.as_deref().unwrap_or(""),
                namespace: Some(r.metadata.namespace.as_deref().unwrap_or("default")),
                rules: std::borrow::Cow::Borrowed(r.rules.as_deref().unwrap_or(&[])),
            };
            SubjectEntry { reference: reference(RBAC, "Role", &r.metadata, true), object: SubjectObject::Role(view) }
        });
    // Cluster-scoped subjects belong to no namespace.
    let cluster_scoped = scoped.is_none_or(str::is_empty);
    let cluster_roles = index
        .cluster_roles
        .iter()
        .filter(|_| cluster_scoped)
        .filter(|r| !system_rbac(None, rbac_defaults::is_default_cluster_role(r)))
        .map(|r| {
            let view = RoleView {
                name: r.metadata.name.as_deref().unwrap_or(""),
                namespace: None,
                rules: rbac_defaults::effective_rules(index, r),
            };
            SubjectEntry {
                reference: reference(RBAC, "ClusterRole", &r.metadata, false),
                object: SubjectObject::Role(view),
            }
        });
    let role_bindings = scope(&index.role_bindings, scoped)
        .filter(|b| !system_rbac(Some(&namespace_of(&b.metadata)), rbac_defaults::is_default_role_binding(b)))
        .map(|b| SubjectEntry {
            reference: reference(RBAC, "RoleBinding", &b.metadata, true),
            object: SubjectObject::Binding(crate::checks::support::rbac::role_binding_view(b)),
        });
    let cluster_role_bindings = index
        .cluster_role_bindings
        .iter()
        .filter(|_| cluster_scoped)
        .filter(|b| !system_rbac(None, rbac_defaults::is_default_cluster_role_binding(b)))
        .map(|b| SubjectEntry {
            reference: reference(RBAC, "ClusterRoleBinding", &b.metadata, false),
            object: SubjectObject::Binding(crate::checks::support::rbac::cluster_role_binding_view(b)),
        });
    let nodes = index.nodes.iter().filter(|_| cluster_scoped).map(|n| SubjectEntry {
        reference: reference("v1", "Node", &n.metadata, false),
        object: SubjectObject::Node(n),
    });
    namespaces
        .chain(services)
        .chain(ingresses)
        .chain(roles)
        .chain(cluster_roles)
        .chain(role_bindings)
        .chain(cluster_role_bindings)
        .chain(nodes)
        .collect()
}
