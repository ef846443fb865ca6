//! `SecurityException` / `ClusterSecurityException` -> compiled [`Exception`]s, and waiving findings.
//!
//! A `Fail` finding of one of the exception's checks becomes `Waived` (with `waivedBy`) when every `match`
//! field that is set matches: the subject's kind, its name (glob), its own labels (selector), and for
//! `containers`/`images` the finding's container and that container's image (globs; findings about no
//! container never match those). A `SecurityException` only waives subjects of its own namespace; a
//! `ClusterSecurityException` only cluster-scoped subjects. From `expiresAt` on (a comparison with `now`,
//! an input) it waives nothing. When several exceptions match, the first by `waivedBy` name is named.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use vigil_crds::{
    ClusterSecurityException, Finding, FindingResult, SecurityException, SecurityExceptionSpec, SecurityExceptionStatus,
};

use crate::input::index::Index;
use crate::policy::glob::glob_matches;
use crate::report::Report;
use crate::report::conditions::condition;
use crate::subject::{SubjectEntry, SubjectObject};

/// Why an exception cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("exception {exception:?} is invalid: {message}")]
pub struct ExceptionError {
    /// `namespace/name`, or `name` for a cluster exception.
    pub exception: String,
    pub message: String,
}

/// A compiled exception.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// `namespace/name`, or `name` for a `ClusterSecurityException`: what `waivedBy` says.
    pub key: String,
    /// The namespace whose subjects it may waive; `None`: cluster-scoped subjects only.
    pub namespace: Option<String>,
    pub checks: BTreeSet<String>,
    pub kinds: Vec<String>,
    pub names: Vec<String>,
    pub selector: Option<LabelSelector>,
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub expires_at: Option<Timestamp>,
}

/// Compiles a namespaced `SecurityException`.
pub fn compile_exception(object: &SecurityException) -> Result<Exception, ExceptionError> {
    let namespace = object.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = object.metadata.name.clone().unwrap_or_default();
    compile(format!("{namespace}/{name}"), Some(namespace), &object.spec)
}

/// Compiles a `ClusterSecurityException`.
pub fn compile_cluster_exception(object: &ClusterSecurityException) -> Result<Exception, ExceptionError> {
    let name = object.metadata.name.clone().unwrap_or_default();
    compile(name, None, &SecurityExceptionSpec::from(object.spec.clone()))
}

fn compile(key: String, namespace: Option<String>, spec: &SecurityExceptionSpec) -> Result<Exception, ExceptionError> {
    let fail = |message: String| ExceptionError { exception: key.clone(), message };
    if spec.checks.is_empty() {
        return Err(fail("spec.checks must name at least one check".into()));
    }
    if let Some(id) = spec.checks.iter().find(|id| id.trim().is_empty()) {
        return Err(fail(format!("spec.checks has an empty id {id:?}")));
    }
    if spec.reason.trim().is_empty() {
        return Err(fail("spec.reason must not be empty".into()));
    }
    if spec.owner.trim().is_empty() {
        return Err(fail("spec.owner must not be empty".into()));
    }
    if let Some(selector) = &spec.matches.selector {
        crate::checks::support::network::validate_selector(selector)
            .map_err(|m| fail(format!("spec.match.selector: {m}")))?;
    }
    Ok(Exception {
        key: key.clone(),
        namespace,
        checks: spec.checks.iter().cloned().collect(),
        kinds: spec.matches.kinds.clone(),
        names: spec.matches.names.clone(),
        selector: spec.matches.selector.clone(),
        containers: spec.matches.containers.clone(),
        images: spec.matches.images.clone(),
        expires_at: spec.expires_at.as_ref().map(|t| t.0),
    })
}

impl Exception {
    /// True before `expiresAt` (always, without one).
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// True when the exception may waive this subject's findings at all: same namespace (or both
    /// cluster-scoped), kind, name and labels.
    fn covers_subject(&self, subject: &SubjectFacts) -> bool {
        self.namespace.as_deref() == subject.namespace
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == subject.kind))
            && (self.names.is_empty() || self.names.iter().any(|n| glob_matches(n, subject.name)))
            && self
                .selector
                .as_ref()
                .is_none_or(|s| crate::checks::support::network::selector_matches(s, subject.labels))
    }

    /// True when it waives this finding of a covered subject.
    fn covers_finding(&self, subject: &SubjectFacts, finding: &Finding) -> bool {
        if finding.result != FindingResult::Fail || !self.checks.contains(&finding.check_id) {
            return false;
        }
        let container = finding.container.as_deref();
        let container_ok = self.containers.is_empty()
            || container.is_some_and(|c| self.containers.iter().any(|pattern| glob_matches(pattern, c)));
        let image_ok = self.images.is_empty()
            || container
                .and_then(|c| subject.images.get(c))
                .is_some_and(|image| self.images.iter().any(|pattern| glob_matches(pattern, image)));
        container_ok && image_ok
    }
}

/// What matching reads of a subject.
struct SubjectFacts<'a> {
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    /// Container name -> image, for workloads.
    images: BTreeMap<&'a str, &'a str>,
}

fn empty_labels() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

fn labels_of(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    meta.labels.as_ref().unwrap_or(empty_labels())
}

impl<'a> SubjectFacts<'a> {
    fn of(index: &'a Index, subject: &'a SubjectEntry<'a>) -> SubjectFacts<'a> {
        let reference = &subject.reference;
        let (ns, name) = (reference.namespace.as_deref().unwrap_or(""), reference.name.as_str());
        let mut images = BTreeMap::new();
        // RBAC views carry no metadata: their labels come from the index.
        let labels = match &subject.object {
            SubjectObject::Workload(w) => {
                for c in w.containers() {
                    images.insert(c.name, c.image());
                }
                labels_of(w.meta)
            }
            SubjectObject::Namespace(n) => labels_of(&n.metadata),
            SubjectObject::Service(s) => labels_of(&s.metadata),
            SubjectObject::Ingress(i) => labels_of(&i.metadata),
            SubjectObject::Node(n) => labels_of(&n.metadata),
            SubjectObject::Role(_) | SubjectObject::Binding(_) => match reference.kind.as_str() {
                "Role" => index.roles.get(ns, name).map(|o| labels_of(&o.metadata)),
                "ClusterRole" => index.cluster_roles.get("", name).map(|o| labels_of(&o.metadata)),
                "RoleBinding" => index.role_bindings.get(ns, name).map(|o| labels_of(&o.metadata)),
                "ClusterRoleBinding" => index.cluster_role_bindings.get("", name).map(|o| labels_of(&o.metadata)),
                _ => None,
            }
            .unwrap_or(empty_labels()),
            SubjectObject::Cluster | SubjectObject::Invalid { .. } => empty_labels(),
        };
        SubjectFacts {
            kind: &reference.kind,
            name,
            // A Namespace's report lives in the namespace itself, so its own exceptions cover it.
            namespace: reference.namespace.as_deref(),
            labels,
            images,
        }
    }
}

/// The exceptions in force, in `waivedBy` name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exceptions {
    list: Vec<Exception>,
}

impl Exceptions {
    pub fn new(exceptions: impl IntoIterator<Item = Exception>) -> Self {
        let mut list: Vec<Exception> = exceptions.into_iter().collect();
        list.sort_by(|a, b| a.key.cmp(&b.key));
        list.dedup_by(|a, b| a.key == b.key);
        Exceptions { list }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Exception> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Turns the subject's matched `Fail` findings into `Waived`; returns how many.
    pub fn apply(&self, index: &Index, subject: &SubjectEntry, findings: &mut [Finding], now: Timestamp) -> usize {
        let namespace = subject.reference.namespace.as_deref();
        let mut candidates =
            self.list.iter().filter(|e| e.namespace.as_deref() == namespace && e.is_active(now)).peekable();
        if candidates.peek().is_none() || !findings.iter().any(|f| f.result == FindingResult::Fail) {
            return 0;
        }
        let facts = SubjectFacts::of(index, subject);
        let covering: Vec<&Exception> = candidates.filter(|e| e.covers_subject(&facts)).collect();
        let mut waived = 0;
        for finding in findings.iter_mut() {
            if let Some(exception) = covering.iter().find(|e| e.covers_finding(&facts, finding)) {
                finding.result = FindingResult::Waived;
                finding.waived_by = Some(exception.key.clone());
                waived += 1;
            }
        }
        waived
    }

    /// The next instant after `now` at which one of these exceptions expires: when the operator must
    /// evaluate again.
    pub fn next_expiry(&self, now: Timestamp) -> Option<Timestamp> {
        next_expiry(&self.list, now)
    }
}

/// The earliest `expiresAt` after `now` among `exceptions`.
pub fn next_expiry<'a>(exceptions: impl IntoIterator<Item = &'a Exception>, now: Timestamp) -> Option<Timestamp> {
    exceptions.into_iter().filter_map(|e| e.expires_at).filter(|at| *at > now).min()
}

/// How many findings each exception waives across these reports, by `waivedBy` name.
pub fn waived_counts<'a>(reports: impl IntoIterator<Item = &'a Report>) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for report in reports {
        for finding in &report.status().findings {
            if let (FindingResult::Waived, Some(by)) = (finding.result, &finding.waived_by) {
                *counts.entry(by.clone()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// An exception's status: `Active` True while it is in force, False with reason `Expired` or `Invalid`,
/// and how many findings it waives now (from [`waived_counts`]).
pub fn exception_status(
    compiled: &Result<Exception, ExceptionError>,
    waived_findings: u32,
    generation: Option<i64>,
    previous: Option<&SecurityExceptionStatus>,
    now: Timestamp,
) -> SecurityExceptionStatus {
    let previous = previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    let (active, reason, message, waived_findings) = match compiled {
        Err(e) => (false, "Invalid", e.message.clone(), 0),
        Ok(e) if !e.is_active(now) => {
            let at = e.expires_at.map(|t| t.to_string()).unwrap_or_default();
            (false, "Expired", format!("expired at {at}"), 0)
        }
        Ok(e) => {
            let until = e.expires_at.map(|t| format!(" until {t}")).unwrap_or_default();
            (true, "Active", format!("waives {waived_findings} finding(s){until}"), waived_findings)
        }
    };
    SecurityExceptionStatus {
        observed_generation: generation,
        waived_findings,
        conditions: vec![condition("Active", active, reason, message, generation, previous, now)],
    }
}
