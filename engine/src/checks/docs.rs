//! The catalog as data for `vigil checks -o json` and as the Markdown of `docs/checks.md`, both generated
//! from the one table in `checks/mod.rs` (a test fails when `docs/checks.md` drifts).

use serde::Serialize;
use vigil_crds::Severity;

use crate::checks::catalog::{CheckScope, Source, SubjectKind, catalog};
use crate::frameworks::{self, Evidence};

/// One catalog entry as `vigil checks -o json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub id: &'static str,
    pub risk: u8,
    pub severity: Severity,
    pub category: &'static str,
    pub subjects: Vec<SubjectKind>,
    /// `seed` when the risk comes from the user's checklist, `ours` when set by analogy.
    pub source: &'static str,
    pub seed_item: &'static str,
    pub title: &'static str,
    pub fails_when: &'static str,
    pub remediation: &'static str,
    /// The Kubernetes rule the check follows and its source.
    pub rule: &'static str,
    pub enabled_by_default: bool,
    /// `manifests` when plain manifests can show what the check needs, `whole-cluster` when only a whole
    /// cluster can (it is `NotApplicable` on plain manifests).
    pub scope: CheckScope,
    /// The framework controls the check evidences (empty: see `unmapped`).
    pub frameworks: Vec<ControlRef>,
    /// Why the check evidences no framework control, when it evidences none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<&'static str>,
}

/// A control of a compliance framework, as a check's entry names it.
#[derive(Debug, Serialize)]
pub struct ControlRef {
    pub framework: &'static str,
    pub control: &'static str,
}

pub fn entries() -> Vec<CatalogEntry> {
    catalog()
        .iter()
        .map(|c| CatalogEntry {
            id: c.id,
            risk: c.risk,
            severity: c.severity(),
            category: c.category.as_str(),
            subjects: c.subjects(),
            source: match c.source {
                Source::Seed => "seed",
                Source::Ours => "ours",
            },
            seed_item: c.seed_item,
            title: c.title,
            fails_when: c.fails_when,
            remediation: c.remediation,
            rule: c.rule,
            enabled_by_default: c.enabled_by_default,
            scope: c.scope,
            frameworks: frameworks::controls_of(c.id)
                .into_iter()
                .map(|(f, control)| ControlRef { framework: f.name.as_str(), control: control.id })
                .collect(),
            unmapped: frameworks::UNMAPPED.iter().find(|(id, _)| *id == c.id).map(|(_, why)| *why),
        })
        .collect()
}

/// Seed checklist items that no Kubernetes API object can show, and why. Vigil does not pretend to
/// check them.
pub const UNOBSERVABLE: &[(&str, &str)] = &[
    (
        "Developers should use minimal OS and don't stuff the whole runtime and OS (10)",
        "what is inside an image is not in any API object; an image scanner sees it (Vigil reads trivy-operator's VulnerabilityReports where installed)",
    ),
    (
        "No access to a person in prod gcr; a way of promoting images to prod (10)",
        "registry IAM and promotion pipelines live in the registry and CI, not in the cluster; Vigil checks which registry each environment pulls from (`image-registry-allowed`)",
    ),
    (
        "Binary Auth for gcr images (9)",
        "Binary Authorization is a cloud-provider setting outside the Kubernetes API; Vigil checks for in-cluster signature verification instead (`image-signature-enforced`)",
    ),
    (
        "GKE: subscribe to the Regular or Stable channel (9)",
        "the release channel is cloud-provider configuration; Vigil checks the versions it leads to (`api-server-version-supported`, `kubelet-version-skew`)",
    ),
    (
        "Limit who can talk to the API server (9) — the network part",
        "authorized networks and firewalls around the control plane are not API objects; Vigil checks the RBAC part (`rbac-anonymous-access`)",
    ),
    (
        "API server, kubelet upgrade SLA: follow kubernetes-announce and take action (5)",
        "a team's process; Vigil reports the versions that are past end of life",
    ),
    (
        "Pipeline: use official base images; lock down who can push/pull; static analysis of code and libraries",
        "build-time facts of images and source code, not visible in a running cluster",
    ),
    (
        "Container runtimes: restrict access to the container runtime daemon/APIs",
        "runtime sockets and daemon configuration live on the nodes; Vigil flags workloads that mount host paths (`host-path-mount`), such as a runtime socket",
    ),
    (
        "Network: segregate workloads with separate groups of hosts; log unsuccessful connection attempts",
        "scheduling intent and connection logs are not a property of one object Vigil can judge",
    ),
    (
        "Orchestration: version control and change review for cluster definitions; rotate encryption keys",
        "process and key-management facts outside the API",
    ),
    (
        "Cloud environment: provider defaults, modified components, Terraform/CloudFormation/ARM scanning",
        "cloud-provider configuration outside the Kubernetes API",
    ),
    (
        "Data: filesystem encryption for container storage; scan images for sensitive data; log access to sensitive data",
        "storage encryption, image contents and access logs are not visible in API objects (literal secrets in env vars are: `secret-in-env`)",
    ),
];

/// `docs/checks.md`.
pub fn markdown() -> String {
    let mut md = String::from(
        "<!-- Generated from the check table (engine/src/checks/mod.rs) by `make docs`; do not edit. -->\n\
         # Check catalog\n\n\
         Every check Vigil runs, with its stable id (what policies and exceptions name), its risk (0-10) and\n\
         severity (9-10 critical, 7-8 high, 4-6 medium, 1-3 low). `seed` risks come from the user's checklist;\n\
         `ours` are set by analogy (mostly Pod Security Standards). `vigil checks` prints the same table.\n\n\
         A result is `Pass`, `Fail`, `Waived` (an exception covers it), `NotApplicable` (with the reason) or\n\
         `Error` (could not be evaluated, with the reason).\n\n\
         Each check states the Kubernetes rule its verdict follows and where that rule is defined (paths are in\n\
         the Kubernetes source unless another project is named). Manifests are judged after the defaulting the\n\
         API server would apply; version-dependent Pod Security Standards controls follow the version judged\n\
         (`--kube-version`, or the live API server's; the newest known when unknown).\n\n\
         ## Scores\n\n\
         Two scores, each with one name:\n\n\
         - **score** (of a report, `status.score`, the `Score` column of `kubectl get secr`):\n\
         `round(100 * (1 - failed_risk / evaluated_risk))` over the report's own checks that Passed, Failed or\n\
         were Waived (Waived counts as passed; NotApplicable and Error are left out), each weighed by its risk\n\
         under the policy that judged the subject. The `cluster` report's score covers only the cluster-level\n\
         checks it carries.\n\
         - **overall score** (the `cluster` report's `status.cluster.score`, the `Summary:` line of\n\
         `vigil scan -o table`, the gauge of `-o html`, the `vigil_cluster_score` metric): the same formula over\n\
         every evaluated check of every report, the `cluster` report's included: the risk failed over the risk\n\
         evaluated, pooled across reports (not an average of report scores).\n\n\
         ## Scope\n\n\
         The `scope` column says what input a check needs. `manifests`: judged on what the input contains (the\n\
         subject and the objects given with it), so a repository can fix what fails. `whole-cluster`: the verdict\n\
         rests on facts only a whole cluster shows (admission webhooks and policies, Nodes, the API server, an\n\
         installed mesh and its mesh-wide policy, an in-cluster scanner's reports); on plain manifests such a\n\
         check is `NotApplicable`, with a reason saying how to get it judged. The operator and\n\
         `vigil scan --cluster` always judge the whole cluster; `vigil scan` of files does when they are a\n\
         whole-cluster dump (they hold the `kube-system` Namespace as an API server returns it, with its\n\
         `metadata.uid`, as `kubectl get ns,... -A -o yaml` does) or with `--whole-cluster`.\n\n\
         ## Catalog\n\n\
         | id | risk | severity | category | subject | scope | source | default | title |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let entries = entries();
    for e in &entries {
        let subjects = e.subjects.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        md.push_str(&format!(
            "| [`{id}`](#{id}) | {} | {} | {} | {subjects} | {} | {} | {} | {} |\n",
            e.risk,
            e.severity,
            e.category,
            e.scope.as_str(),
            e.source,
            if e.enabled_by_default { "on" } else { "off" },
            e.title,
            id = e.id,
        ));
    }
    md.push_str("\n## Checks\n");
    for e in &entries {
        md.push_str(&format!(
            "\n### {}\n\n{}\n\n- **Fails when:** {}\n- **Kubernetes rule:** {}\n- **Fix:** {}\n- **Seed item:** {}\n",
            e.id, e.title, e.fails_when, e.rule, e.remediation, e.seed_item
        ));
        let controls = match (e.frameworks.is_empty(), e.unmapped) {
            (true, Some(why)) => format!("none: {why}"),
            _ => e
                .frameworks
                .iter()
                .map(|r| format!("[{} {}](#{})", short_name(r.framework), r.control, anchor(r.framework, r.control)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        md.push_str(&format!("- **Frameworks:** {controls}\n"));
    }
    md.push_str(&frameworks_markdown());
    md.push_str(
        "\n## Seed items no API object can show\n\n\
         These items of the checklist are real, but nothing in the Kubernetes API shows whether they hold, so no\n\
         check claims to verify them:\n\n\
         | seed item | why not, and what Vigil checks instead |\n| --- | --- |\n",
    );
    for (item, why) in UNOBSERVABLE {
        md.push_str(&format!("| {item} | {why} |\n"));
    }
    md
}

/// How docs and tables name a framework: `PSS`, `CIS`, `NSA-CISA`, `ATT&CK`.
pub fn short_name(framework: &str) -> &'static str {
    match framework {
        "pss" => "PSS",
        "cis" => "CIS",
        "nsa" => "NSA-CISA",
        "mitre" => "ATT&CK",
        _ => "?",
    }
}

/// The Markdown anchor of a control's row: `pss-baseline-host-namespaces`, `cis-5-2-2`, `mitre-t1611`.
fn anchor(framework: &str, control: &str) -> String {
    let id: String =
        control.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("{framework}-{id}")
}

/// The section of every framework: its controls and the checks that evidence each.
fn frameworks_markdown() -> String {
    let mut md = String::from(
        "\n## Compliance frameworks\n\n\
         Every check evidences the controls below (a check that evidences none says why). A control fails when one\n\
         of its checks fails on some subject; passes when none fails and one was evaluated (Pass, or Waived by an\n\
         exception, as scores count it); is `NotEvaluated` when its checks ran on no subject or were all\n\
         `NotApplicable` or `Error`. `NotObservable`: no Kubernetes API object can show it. `NotChecked`: the API\n\
         shows it, but no Vigil check judges it yet. A framework's score is `round(100 * passed / (passed + failed))`\n\
         over its controls. `vigil checks --framework <name>` lists a framework, `vigil scan --framework <name>`\n\
         judges one, and the operator writes a `ComplianceReport` for each framework a SecurityPolicy enables\n\
         (`spec.frameworks`).\n",
    );
    for f in frameworks::all() {
        md.push_str(&format!(
            "\n### {} ({}, `{}`)\n\n{} Source: <{}>.\n\n| control | title | group | evidence |\n| --- | --- | --- | --- |\n",
            f.title,
            f.version,
            f.name.as_str(),
            f.note,
            f.source
        ));
        for c in f.controls {
            let evidence = match c.evidence {
                Evidence::Checks(ids) => ids.iter().map(|id| format!("[`{id}`](#{id})")).collect::<Vec<_>>().join(", "),
                Evidence::NotObservable(why) => format!("not observable: {why}"),
                Evidence::NotChecked(why) => format!("not checked: {why}"),
            };
            let since = if c.since_minor > 0 { format!(" (from v1.{})", c.since_minor) } else { String::new() };
            md.push_str(&format!(
                "| <a id=\"{}\"></a>`{}` | {}{since} | {} | {evidence} |\n",
                anchor(f.name.as_str(), c.id),
                c.id,
                c.title.replace('|', "\\|"),
                c.group
            ));
        }
    }
    md
}
