//! The check catalog: one table of every check, its stable id, risk and evaluator.
//! `vigil checks` and `docs/checks.md` are generated from it.

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;
use vigil_crds::Severity;

use crate::checks::evaluate::Ctx;
use crate::checks::outcome::Outcome;
use crate::subject::{BindingView, RoleView, Workload};

/// What kind of subject a check is evaluated on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    Workload,
    Namespace,
    Service,
    Ingress,
    Role,
    Binding,
    Node,
    Cluster,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Workload => "workload",
            SubjectKind::Namespace => "namespace",
            SubjectKind::Service => "service",
            SubjectKind::Ingress => "ingress",
            SubjectKind::Role => "role",
            SubjectKind::Binding => "binding",
            SubjectKind::Node => "node",
            SubjectKind::Cluster => "cluster",
        }
    }
}

/// Groups of checks a policy can switch on or off together: the same type the SecurityPolicy CRD names.
pub use vigil_crds::CheckCategory;

/// Where a check's risk comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The user's checklist gives the risk.
    Seed,
    /// Ours, set by analogy (PSS and the like).
    Ours,
}

/// What input a check needs to give a true verdict. The evaluator applies it in one place
/// (`checks::evaluate`): a check that needs the whole cluster is `NotApplicable` on plain manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckScope {
    /// Judged on what the input contains: the subject and the objects given with it (a repository can fix
    /// what fails).
    Manifests,
    /// Rests on facts only a whole cluster shows (admission webhooks and policies, Nodes, the API server, an
    /// installed mesh and its mesh-wide policy, an in-cluster scanner's reports): judged on a live cluster or
    /// a whole-cluster dump only.
    WholeCluster,
}

impl CheckScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckScope::Manifests => "manifests",
            CheckScope::WholeCluster => "whole-cluster",
        }
    }
}

/// One evaluator per subject kind a check applies to. A check is pure: no I/O, no clock but `ctx.now`.
#[derive(Clone, Copy)]
pub enum Evaluator {
    Workload(fn(&Ctx, &Workload) -> Outcome),
    Namespace(fn(&Ctx, &Namespace) -> Outcome),
    Service(fn(&Ctx, &Service) -> Outcome),
    Ingress(fn(&Ctx, &Ingress) -> Outcome),
    Role(fn(&Ctx, &RoleView) -> Outcome),
    Binding(fn(&Ctx, &BindingView) -> Outcome),
    Node(fn(&Ctx, &Node) -> Outcome),
    Cluster(fn(&Ctx) -> Outcome),
}

impl Evaluator {
    pub fn subject_kind(&self) -> SubjectKind {
        match self {
            Evaluator::Workload(_) => SubjectKind::Workload,
            Evaluator::Namespace(_) => SubjectKind::Namespace,
            Evaluator::Service(_) => SubjectKind::Service,
            Evaluator::Ingress(_) => SubjectKind::Ingress,
            Evaluator::Role(_) => SubjectKind::Role,
            Evaluator::Binding(_) => SubjectKind::Binding,
            Evaluator::Node(_) => SubjectKind::Node,
            Evaluator::Cluster(_) => SubjectKind::Cluster,
        }
    }
}

/// One entry of the catalog.
pub struct Check {
    /// Stable forever once released; what policies and exceptions name.
    pub id: &'static str,
    /// 0-10, from the seed checklist where `source` is `Seed`.
    pub risk: u8,
    pub category: CheckCategory,
    pub source: Source,
    /// The seed checklist item this check makes visible.
    pub seed_item: &'static str,
    /// One line: what the check wants.
    pub title: &'static str,
    /// What makes it fail.
    pub fails_when: &'static str,
    /// How to fix a failure.
    pub remediation: &'static str,
    /// The Kubernetes rule the verdict follows and its upstream source (a path in the Kubernetes source, or
    /// the project that defines the semantics), in one or two sentences.
    pub rule: &'static str,
    pub enabled_by_default: bool,
    /// Whether plain manifests can show what the check needs, or only a whole cluster.
    pub scope: CheckScope,
    /// Kinds the check reads beyond its subject: when the operator may not list one of them (RBAC), the
    /// check reports `Error` with the reason instead of judging from a partial view.
    pub reads: &'static [crate::input::kinds::Kind],
    pub evaluators: &'static [Evaluator],
}

impl Check {
    pub fn severity(&self) -> Severity {
        Severity::from_risk(self.risk)
    }

    pub fn subjects(&self) -> Vec<SubjectKind> {
        self.evaluators.iter().map(Evaluator::subject_kind).collect()
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("id", &self.id).field("risk", &self.risk).finish()
    }
}

/// The whole catalog, in the order of the spec.
pub fn catalog() -> &'static [&'static Check] {
    crate::checks::CATALOG
}

/// Looks a check up by id.
pub fn find(id: &str) -> Option<&'static Check> {
    catalog().iter().copied().find(|c| c.id == id)
}
