use vigil_crds::VulnerabilityThreshold;

use super::prelude::*;
use crate::input::index::crd_names::TRIVY_VULNERABILITY_REPORT;
use crate::input::object::CustomObject;
use crate::checks::support::pod::ImageRef;

pub static CHECK: Check = Check {
    id: "image-vulnerabilities",
    risk: 10,
    category: CheckCategory::Images,
    source: Source::Seed,
    seed_item: "Image must be scanned for vulnerability and signed before it can be deployed in prod",
    title: "Images have no critical vulnerabilities",
    fails_when: "a trivy-operator VulnerabilityReport for a container's image counts critical (or, per policy, high) vulnerabilities",
    remediation: "Rebuild the image on a patched base or upgrade the vulnerable packages, then redeploy.",
    rule: "Kubernetes has no vulnerability data; Vigil reads trivy-operator's VulnerabilityReports (`aquasecurity.github.io/v1alpha1`) for the workload's containers and is NotApplicable without them. Source: aquasecurity/trivy-operator `deploy/helm/crds/aquasecurity.github.io_vulnerabilityreports.yaml`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::VulnerabilityReport, Kind::CustomResourceDefinition],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    if !ctx.index.installed_crds.contains(TRIVY_VULNERABILITY_REPORT) {
        return Outcome::not_applicable("trivy-operator's VulnerabilityReport CRD is not installed");
    }
    let reports: Vec<&CustomObject> =
        ctx.index.vulnerability_reports.in_namespace(w.namespace()).map(AsRef::as_ref).collect();
    let high_fails = ctx.policy.parameters.vulnerability_threshold == VulnerabilityThreshold::High;
    let mut scanned = false;
    let mut violations = Vec::new();
    for c in w.containers() {
        let Some(report) = report_for(&reports, w, &c) else { continue };
        scanned = true;
        let report_name = report.metadata.name.as_deref().unwrap_or("");
        let Some(counts) = Counts::of(report) else {
            return Outcome::error(format!("VulnerabilityReport {report_name} has no report.summary"));
        };
        if counts.critical > 0 || (high_fails && counts.high > 0) {
            violations.push(Violation::container(
                c.name,
                format!(
                    "{} image {} has {} critical, {} high vulnerabilities (VulnerabilityReport {report_name})",
                    c.describe(),
                    c.image(),
                    counts.critical,
                    counts.high
                ),
            ));
        }
    }
    if !scanned {
        return Outcome::not_applicable("no VulnerabilityReport for this workload yet");
    }
    Outcome::from_violations(violations)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Counts {
    critical: u64,
    high: u64,
}

impl Counts {
    fn of(report: &CustomObject) -> Option<Counts> {
        let summary = report.report.get("summary")?;
        let count = |field: &str| summary.get(field).and_then(|v| v.as_u64()).unwrap_or(0);
        Some(Counts { critical: count("criticalCount"), high: count("highCount") })
    }
}

/// The report for a container: those of the container's current image when there are any (reports of
/// older ReplicaSets may linger), else those labelled with the workload and container; the worst of them.
fn report_for<'a>(reports: &[&'a CustomObject], w: &Workload, c: &ContainerView) -> Option<&'a CustomObject> {
    let by_labels: Vec<&CustomObject> = reports.iter().copied().filter(|r| labelled_for(r, w, c.name)).collect();
    let by_image: Vec<&CustomObject> = reports.iter().copied().filter(|r| scanned_image(r, c.image())).collect();
    let chosen = if by_image.is_empty() { by_labels } else { by_image };
    // A report without a summary only comes out when no other candidate has one.
    chosen.into_iter().max_by_key(|r| Counts::of(r))
}

/// True when trivy-operator's labels name this workload and container. For a Deployment trivy reports
/// on its ReplicaSets, named `<deployment>-<pod-template-hash>`.
fn labelled_for(report: &CustomObject, w: &Workload, container: &str) -> bool {
    let labels = report.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str).unwrap_or("");
    let (kind, name) = (label("trivy-operator.resource.kind"), label("trivy-operator.resource.name"));
    let owner = (kind == w.kind && name == w.name())
        || (w.kind == "Deployment"
            && kind == "ReplicaSet"
            && name
                .strip_prefix(w.name())
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|hash| !hash.is_empty() && !hash.contains('-')));
    owner && label("trivy-operator.container.name") == container
}

/// True when the report's artifact is this image: same registry (when the report names one), repository
/// and digest or tag.
fn scanned_image(report: &CustomObject, image: &str) -> bool {
    let artifact = ImageRef::parse(image);
    let field = |pointer: &str| report.report.pointer(pointer).and_then(|v| v.as_str());
    let Some(repository) = field("/artifact/repository") else { return false };
    let registry_matches =
        field("/registry/server").is_none_or(|server| docker_hub(server) == docker_hub(artifact.registry));
    let version_matches = match (artifact.digest, field("/artifact/digest")) {
        (Some(digest), Some(scanned)) => digest == scanned,
        // trivy reports an image without tag or digest as `:latest`.
        _ => field("/artifact/tag") == Some(artifact.tag.unwrap_or("latest")),
    };
    registry_matches && strip_library(repository) == strip_library(artifact.repository) && version_matches
}

/// Docker Hub goes by several names.
fn docker_hub(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

/// Docker Hub's official images live under `library/`, which image references usually leave out.
fn strip_library(repository: &str) -> &str {
    repository.strip_prefix("library/").unwrap_or(repository)
}
