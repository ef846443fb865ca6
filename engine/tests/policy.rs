//! Policies and exceptions end to end: manifests (with SecurityPolicy / SecurityException objects among
//! them) -> loader -> compile -> audit -> reports.

use std::path::PathBuf;

use jiff::Timestamp;
use vigil_crds::{FindingResult, SecurityPolicy, Severity};
use vigil_engine::input::loader::Loaded;
use vigil_engine::input::object::VigilObject;
use vigil_engine::{
    Exceptions, Index, Policy, PolicyError, PolicySet, Report, audit, compile_cluster_exception, compile_exception,
    compile_policy, exception_status, next_expiry, policy_status, waived_counts,
};

const NOW: &str = "2026-11-27T00:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// Manifests plus the policy objects among them, compiled (a test of invalid objects uses `objects`).
struct Scenario {
    index: Index,
    policies: PolicySet,
    exceptions: Exceptions,
}

fn objects(yaml: &str) -> (Index, Vec<VigilObject>) {
    let mut loaded = Loaded::default();
    loaded.add_text("scenario.yaml", yaml);
    assert!(
        loaded.errors.is_empty() && loaded.vigil_errors.is_empty(),
        "{:?} {:?}",
        loaded.errors,
        loaded.vigil_errors
    );
    let index = loaded.objects.into_iter().map(|(object, _)| object).collect();
    (index, loaded.vigil_objects.into_iter().map(|(o, _)| o).collect())
}

fn scenario(yaml: &str) -> Scenario {
    let (index, vigil) = objects(yaml);
    let mut policies = Vec::new();
    let mut exceptions = Vec::new();
    for object in vigil {
        match object {
            VigilObject::Policy(p) => policies.push(compile_policy(&p).unwrap_or_else(|e| panic!("{e}"))),
            VigilObject::Exception(e) => exceptions.push(compile_exception(&e).unwrap()),
            VigilObject::ClusterException(e) => exceptions.push(compile_cluster_exception(&e).unwrap()),
        }
    }
    Scenario { index, policies: PolicySet::new(policies), exceptions: Exceptions::new(exceptions) }
}

impl Scenario {
    fn audit_at(&self, now: Timestamp) -> Vec<Report> {
        audit(&self.index, &self.policies, &self.exceptions, now)
    }
    fn audit(&self) -> Vec<Report> {
        self.audit_at(now())
    }
}

fn report<'a>(reports: &'a [Report], kind: &str, name: &str) -> &'a Report {
    reports
        .iter()
        .find(|r| r.subject().kind == kind && r.subject().name == name)
        .unwrap_or_else(|| panic!("no report for {kind} {name}"))
}

/// `Pass`, or the worst finding result of the check; `None` when the check did not run.
fn result_of(report: &Report, check: &str) -> Option<String> {
    let status = report.status();
    if status.passed.iter().any(|p| p == check) {
        return Some("Pass".into());
    }
    let results: Vec<FindingResult> =
        status.findings.iter().filter(|f| f.check_id == check).map(|f| f.result).collect();
    results.iter().min().map(|r| format!("{r:?}"))
}

/// `(container, result, waivedBy)` of a check's findings on a report.
fn findings(report: &Report, check: &str) -> Vec<(String, FindingResult, Option<String>)> {
    report
        .status()
        .findings
        .iter()
        .filter(|f| f.check_id == check)
        .map(|f| (f.container.clone().unwrap_or_default(), f.result, f.waived_by.clone()))
        .collect()
}

fn namespace(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n---\n")
}

/// A Deployment with two privileged containers: `app` (nginx) and `sidecar` (a legacy agent image).
fn deployment(namespace: &str, name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}, labels: {{{labels}}}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: app, image: "nginx:1.27", securityContext: {{privileged: true}}}}
      - {{name: sidecar, image: "registry.example.com/legacy/agent:2", securityContext: {{privileged: true}}}}
---
"#
    )
}

fn policy(name: &str, spec: &str) -> String {
    format!("apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: {name}}}\nspec:\n{spec}\n---\n")
}

fn security_policy(name: &str, spec: &str) -> SecurityPolicy {
    let (_, objects) = objects(&policy(name, spec));
    match objects.into_iter().next() {
        Some(VigilObject::Policy(p)) => p,
        other => panic!("not a policy: {other:?}"),
    }
}

fn compile_error(name: &str, spec: &str) -> PolicyError {
    compile_policy(&security_policy(name, spec)).expect_err("the policy must be rejected")
}

// ---------------------------------------------------------------------------------------------------------
// Policy selection

#[test]
fn namespaces_get_the_highest_priority_policy_that_selects_them() {
    let yaml = [
        namespace("prod", "env: prod"),
        namespace("dev", "env: dev"),
        namespace("other", ""),
        deployment("prod", "web", ""),
        deployment("dev", "web", ""),
        deployment("other", "web", ""),
        // `unlisted` has no Namespace object: only its implied name label is known.
        deployment("unlisted", "web", ""),
        policy("prod-strict", "  priority: 10\n  namespaceSelector: {matchLabels: {env: prod}}"),
        policy("prod-lax", "  priority: 1\n  namespaceSelector: {matchLabels: {env: prod}}"),
        policy("everywhere", "  priority: 0"),
        policy("by-name", "  priority: 5\n  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: unlisted}}"),
    ]
    .concat();
    let reports = scenario(&yaml).audit();
    let policy_of = |ns: &str| {
        reports
            .iter()
            .find(|r| r.subject().kind == "Deployment" && r.subject().namespace.as_deref() == Some(ns))
            .and_then(|r| r.status().policy.clone())
            .unwrap()
    };
    assert_eq!(policy_of("prod"), "prod-strict");
    assert_eq!(policy_of("dev"), "everywhere");
    assert_eq!(policy_of("other"), "everywhere");
    assert_eq!(policy_of("unlisted"), "by-name");
    // Namespaces' own reports follow the same rule.
    assert_eq!(report(&reports, "Namespace", "prod").status().policy.as_deref(), Some("prod-strict"));
    // Cluster-scoped subjects: the winner among policies with an empty selector.
    assert_eq!(report(&reports, "Cluster", "cluster").status().policy.as_deref(), Some("everywhere"));
}

#[test]
fn ties_go_to_the_name_that_sorts_first_and_unselected_subjects_to_the_default() {
    let yaml = [
        namespace("prod", "env: prod"),
        namespace("dev", "env: dev"),
        deployment("prod", "web", ""),
        deployment("dev", "web", ""),
        policy("zeta", "  priority: 3\n  namespaceSelector: {matchLabels: {env: prod}}"),
        policy("alpha", "  priority: 3\n  namespaceSelector: {matchLabels: {env: prod}}"),
    ]
    .concat();
    let reports = scenario(&yaml).audit();
    let deployments: Vec<(String, String)> = reports
        .iter()
        .filter(|r| r.subject().kind == "Deployment")
        .map(|r| (r.subject().namespace.clone().unwrap(), r.status().policy.clone().unwrap()))
        .collect();
    assert_eq!(deployments, vec![("dev".into(), "default".into()), ("prod".into(), "alpha".into())]);
    // No policy has an empty selector: cluster-scoped subjects are judged by the built-in default.
    assert_eq!(report(&reports, "Cluster", "cluster").status().policy.as_deref(), Some("default"));
}

#[test]
fn a_namespace_policy_decides_which_namespaces_are_system_namespaces() {
    let yaml = [
        namespace("tools", "env: tools"),
        deployment("tools", "agent", ""),
        policy("tools", "  namespaceSelector: {matchLabels: {env: tools}}\n  parameters: {systemNamespaces: [tools]}"),
    ]
    .concat();
    let reports = scenario(&yaml).audit();
    assert!(!reports.iter().any(|r| r.subject().namespace.as_deref() == Some("tools")), "tools is a system namespace");
}

// ---------------------------------------------------------------------------------------------------------
// Check switches and risk overrides

fn compiled(spec: &str) -> Policy {
    compile_policy(&security_policy("p", spec)).unwrap_or_else(|e| panic!("{e}"))
}

fn enabled(policy: &Policy, id: &str) -> bool {
    policy.is_enabled(vigil_engine::checks::catalog::find(id).unwrap())
}

#[test]
fn categories_and_severities_switch_checks_and_ids_decide_over_them() {
    let policy = compiled(
        "  checks:\n    disabled: {categories: [rbac], severities: [Low]}\n    enabled: {ids: [rbac-wildcard], categories: [images]}",
    );
    assert!(!enabled(&policy, "rbac-secrets-read"), "rbac is off");
    assert!(enabled(&policy, "rbac-wildcard"), "an id decides over its category");
    assert!(!enabled(&policy, "owner-annotation"), "risk 3 is Low: off");
    assert!(enabled(&policy, "image-digest-pinned"), "off by default, on with its category");
    assert!(enabled(&policy, "privileged-container"), "untouched checks keep the catalog's default");
    assert!(!enabled(&policy, "sandboxed-runtime"), "off by default and not switched on");

    // Off wins over on among categories and severities: images on, Medium off.
    let policy = compiled("  checks:\n    enabled: {categories: [images]}\n    disabled: {severities: [Medium]}");
    assert!(!enabled(&policy, "image-digest-pinned"), "risk 6 is Medium");
    assert!(enabled(&policy, "image-tag-mutable"));
}

#[test]
fn severity_switches_follow_the_overridden_risk() {
    let policy = compiled(
        "  checks:\n    disabled: {severities: [Low]}\n    riskOverrides: [{id: privileged-container, risk: 2}]",
    );
    assert!(!enabled(&policy, "privileged-container"));
}

#[test]
fn risk_overrides_change_severity_and_score() {
    let base = [namespace("prod", ""), deployment("prod", "web", "")].concat();
    let plain = scenario(&base).audit();
    let lowered = scenario(
        &[base.clone(), policy("low", "  checks:\n    riskOverrides: [{id: privileged-container, risk: 1}]")].concat(),
    )
    .audit();
    let finding = |reports: &[Report]| {
        report(reports, "Deployment", "web")
            .status()
            .findings
            .iter()
            .find(|f| f.check_id == "privileged-container")
            .map(|f| (f.risk, f.severity))
            .unwrap()
    };
    assert_eq!(finding(&plain), (10, Severity::Critical));
    assert_eq!(finding(&lowered), (1, Severity::Low));
    assert!(report(&lowered, "Deployment", "web").status().score > report(&plain, "Deployment", "web").status().score);
}

// ---------------------------------------------------------------------------------------------------------
// Custom checks

const TEAM_LABEL: &str = r#"  customChecks:
  - id: team-label
    title: Workloads name their team
    risk: 6
    expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
    message: the workload has no team label
  - id: ns-owner
    title: The namespace names an owner
    risk: 4
    expression: "namespace != null && has(namespace.metadata.labels) && 'owner' in namespace.metadata.labels"
    message: the namespace has no owner label
  - id: probes
    title: Containers have readiness probes
    risk: 5
    expression: "template.spec.containers.all(c, has(c.readinessProbe))"
    message: a container has no readinessProbe
  - id: replicas
    title: At least two replicas
    risk: 3
    expression: "object.spec.replicas >= 2"
    message: fewer than two replicas"#;

#[test]
fn custom_checks_pass_fail_and_count_in_the_score() {
    let yaml = [
        namespace("shop", "owner: alice"),
        deployment("shop", "labelled", "team: web"),
        deployment("shop", "unlabelled", ""),
        policy("custom", TEAM_LABEL),
    ]
    .concat();
    let reports = scenario(&yaml).audit();
    let labelled = report(&reports, "Deployment", "labelled");
    let unlabelled = report(&reports, "Deployment", "unlabelled");
    assert_eq!(result_of(labelled, "team-label").as_deref(), Some("Pass"));
    assert_eq!(result_of(unlabelled, "team-label").as_deref(), Some("Fail"));
    assert_eq!(result_of(labelled, "ns-owner").as_deref(), Some("Pass"));
    assert_eq!(result_of(labelled, "probes").as_deref(), Some("Fail"));
    let failing = unlabelled.status().findings.iter().find(|f| f.check_id == "team-label").unwrap();
    assert_eq!((failing.risk, failing.severity), (6, Severity::Medium));
    assert_eq!(failing.message, "the workload has no team label");
    // `replicas` is unset in the manifest: reading it without has() is an evaluation error.
    let replicas = labelled.status().findings.iter().find(|f| f.check_id == "replicas").unwrap();
    assert_eq!(replicas.result, FindingResult::Error);
    assert!(replicas.message.contains("replicas"), "{}", replicas.message);
    // Only custom checks differ between the two, and a passing one weighs as much as a failing one.
    let labelled_scored =
        vigil_engine::report::rollup::scored_checks(labelled.status(), scenario(&yaml).policies.get("custom").unwrap());
    assert!(labelled_scored.contains(&(6, false)), "{labelled_scored:?}");
    assert!(labelled.status().score > unlabelled.status().score);
}

#[test]
fn custom_checks_see_no_namespace_when_it_is_unknown_and_run_only_on_workloads() {
    let yaml = [deployment("ghost", "web", "team: x"), policy("custom", TEAM_LABEL)].concat();
    let reports = scenario(&yaml).audit();
    assert_eq!(result_of(report(&reports, "Deployment", "web"), "ns-owner").as_deref(), Some("Fail"));
    assert_eq!(result_of(report(&reports, "Cluster", "cluster"), "team-label"), None);
}

#[test]
fn custom_checks_can_be_switched_off_and_reweighed() {
    let yaml = [
        namespace("shop", ""),
        deployment("shop", "web", ""),
        policy("custom", &format!("{TEAM_LABEL}\n  checks:\n    disabled: {{ids: [probes]}}\n    riskOverrides: [{{id: team-label, risk: 9}}]")),
    ]
    .concat();
    let reports = scenario(&yaml).audit();
    let web = report(&reports, "Deployment", "web");
    assert_eq!(result_of(web, "probes"), None);
    let team = web.status().findings.iter().find(|f| f.check_id == "team-label").unwrap();
    assert_eq!((team.risk, team.severity), (9, Severity::Critical));
}

#[test]
fn a_bad_expression_rejects_the_policy_with_the_compiler_message() {
    let spec =
        "  customChecks:\n  - {id: broken, title: t, risk: 5, expression: \"object.metadata.name ==\", message: m}";
    let error = compile_error("bad", spec);
    assert_eq!(error.reason(), "InvalidExpression");
    assert!(error.message().contains("custom check \"broken\""), "{}", error.message());
    assert!(error.message().contains("Syntax error"), "the parser's own words: {}", error.message());

    let status = policy_status(&Err(error.clone()), Some(3), None, now());
    let accepted = &status.conditions[0];
    assert_eq!((accepted.type_.as_str(), accepted.status.as_str()), ("Accepted", "False"));
    assert_eq!(accepted.reason, "InvalidExpression");
    assert!(accepted.message.contains("Syntax error"));
    assert_eq!((status.observed_generation, accepted.observed_generation), (Some(3), Some(3)));

    let undeclared = compile_error(
        "bad",
        "  customChecks:\n  - {id: x, title: t, risk: 5, expression: \"obj.kind == 'Pod'\", message: m}",
    );
    assert!(undeclared.message().contains("undeclared reference to `obj`"), "{}", undeclared.message());
}

#[test]
fn invalid_policies_say_why_and_are_never_applied_in_part() {
    let unknown = compile_error("p", "  checks:\n    disabled: {ids: [privileged-containr]}");
    assert_eq!(unknown.reason(), "UnknownCheck");
    assert!(unknown.message().contains("privileged-containr"));

    let conflict = compile_error("p", "  checks:\n    enabled: {ids: [host-pid]}\n    disabled: {ids: [host-pid]}");
    assert_eq!(conflict.reason(), "ConflictingSettings");
    assert!(conflict.message().contains("\"host-pid\" is both enabled and disabled"), "{}", conflict.message());

    let conflict =
        compile_error("p", "  checks:\n    enabled: {categories: [rbac]}\n    disabled: {categories: [rbac]}");
    assert_eq!(conflict.reason(), "ConflictingSettings");

    let collision =
        compile_error("p", "  customChecks:\n  - {id: host-pid, title: t, risk: 5, expression: \"true\", message: m}");
    assert_eq!(collision.reason(), "InvalidCheckId");

    let range = compile_error("p", "  checks:\n    riskOverrides: [{id: host-pid, risk: 11}]");
    assert_eq!(range.reason(), "InvalidValue");
    assert!(range.message().contains("11 is out of range 0-10"));

    let selector = compile_error("p", "  namespaceSelector: {matchExpressions: [{key: env, operator: In}]}");
    assert_eq!(selector.reason(), "InvalidValue");

    assert_eq!(compile_error("default", "  priority: 1").reason(), "ReservedName");

    // Several problems: all are named, the first gives the reason.
    let many = compile_error(
        "p",
        "  checks:\n    disabled: {ids: [nope]}\n  customChecks:\n  - {id: c, title: t, risk: 5, expression: \"(\", message: m}",
    );
    assert_eq!(many.problems.len(), 2, "{}", many.message());
    assert_eq!(many.reason(), "InvalidExpression");

    let ok = policy_status(&Ok(Policy::default()), Some(1), None, now());
    assert_eq!((ok.conditions[0].status.as_str(), ok.conditions[0].reason.as_str()), ("True", "Accepted"));
}

// ---------------------------------------------------------------------------------------------------------
// Exceptions

fn exception(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  reason: accepted for the test\n  owner: team@example.com\n{spec}\n---\n"
    )
}

fn shop() -> String {
    [
        namespace("shop", ""),
        namespace("other", ""),
        deployment("shop", "web-1", "tier: frontend"),
        deployment("shop", "api", "tier: backend"),
        deployment("other", "web-1", "tier: frontend"),
    ]
    .concat()
}

/// `(namespace/name, container, result)` of every privileged-container finding.
fn privileged(reports: &[Report]) -> Vec<(String, String, FindingResult)> {
    let mut out = Vec::new();
    for r in reports.iter().filter(|r| r.subject().kind == "Deployment") {
        let subject = format!("{}/{}", r.subject().namespace.as_deref().unwrap_or(""), r.subject().name);
        for (container, result, _) in findings(r, "privileged-container") {
            out.push((subject.clone(), container, result));
        }
    }
    out.sort();
    out
}

fn waived_with(spec: &str) -> Vec<(String, String)> {
    let reports = scenario(&[shop(), exception("shop", "x", spec)].concat()).audit();
    privileged(&reports).into_iter().filter(|(_, _, r)| *r == FindingResult::Waived).map(|(s, c, _)| (s, c)).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn exceptions_match_by_kind_name_labels_containers_and_images() {
    let all_in_shop =
        pairs(&[("shop/api", "app"), ("shop/api", "sidecar"), ("shop/web-1", "app"), ("shop/web-1", "sidecar")]);
    assert_eq!(
        waived_with("  checks: [privileged-container]"),
        all_in_shop,
        "no match: every subject of the namespace"
    );
    assert_eq!(waived_with("  checks: [privileged-container]\n  match: {kinds: [Deployment]}"), all_in_shop);
    assert_eq!(waived_with("  checks: [privileged-container]\n  match: {kinds: [StatefulSet]}"), vec![]);
    assert_eq!(
        waived_with("  checks: [privileged-container]\n  match: {names: [web-*]}"),
        pairs(&[("shop/web-1", "app"), ("shop/web-1", "sidecar")])
    );
    assert_eq!(
        waived_with("  checks: [privileged-container]\n  match: {selector: {matchLabels: {tier: backend}}}"),
        pairs(&[("shop/api", "app"), ("shop/api", "sidecar")])
    );
    assert_eq!(
        waived_with("  checks: [privileged-container]\n  match: {names: [web-?], containers: [side*]}"),
        pairs(&[("shop/web-1", "sidecar")])
    );
    assert_eq!(
        waived_with("  checks: [privileged-container]\n  match: {images: [\"registry.example.com/legacy/*\"]}"),
        pairs(&[("shop/api", "sidecar"), ("shop/web-1", "sidecar")])
    );
    assert_eq!(waived_with("  checks: [host-pid]"), vec![], "other checks' findings stay");
}

#[test]
fn an_exception_never_waives_anything_in_another_namespace() {
    let reports = scenario(&[shop(), exception("other", "x", "  checks: [privileged-container]")].concat()).audit();
    for (subject, _, result) in privileged(&reports) {
        let expected = if subject.starts_with("other/") { FindingResult::Waived } else { FindingResult::Fail };
        assert_eq!(result, expected, "{subject}");
    }
}

#[test]
fn waived_findings_name_the_exception_and_count_as_passed() {
    let plain = scenario(&shop()).audit();
    let waived = scenario(
        &[shop(), exception("shop", "legacy", "  checks: [privileged-container]\n  match: {names: [api]}")].concat(),
    )
    .audit();
    let api = report(&waived, "Deployment", "api");
    assert!(
        findings(api, "privileged-container")
            .iter()
            .all(|(_, r, by)| *r == FindingResult::Waived && by.as_deref() == Some("shop/legacy"))
    );
    assert_eq!(api.status().summary.waived, 1);
    assert!(api.status().score > report(&plain, "Deployment", "api").status().score);
}

#[test]
fn an_exception_stops_waiving_at_expires_at() {
    let yaml =
        [shop(), exception("shop", "temp", "  checks: [privileged-container]\n  expiresAt: \"2026-12-01T00:00:00Z\"")]
            .concat();
    let s = scenario(&yaml);
    let before = privileged(&s.audit_at("2026-11-30T23:59:59Z".parse().unwrap()));
    assert!(before.iter().filter(|(n, _, _)| n.starts_with("shop/")).all(|(_, _, r)| *r == FindingResult::Waived));
    for at in ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"] {
        let after = privileged(&s.audit_at(at.parse().unwrap()));
        assert!(after.iter().all(|(_, _, r)| *r == FindingResult::Fail), "{at}: {after:?}");
    }
}

#[test]
fn next_expiry_is_the_earliest_one_after_now() {
    let yaml = [
        exception("a", "past", "  checks: [host-pid]\n  expiresAt: \"2026-11-01T00:00:00Z\""),
        exception("a", "soon", "  checks: [host-pid]\n  expiresAt: \"2026-12-01T00:00:00Z\""),
        exception("b", "later", "  checks: [host-pid]\n  expiresAt: \"2027-01-01T00:00:00Z\""),
        exception("b", "never", "  checks: [host-pid]"),
    ]
    .concat();
    let s = scenario(&yaml);
    assert_eq!(s.exceptions.next_expiry(now()), Some("2026-12-01T00:00:00Z".parse().unwrap()));
    assert_eq!(
        next_expiry(s.exceptions.iter(), "2026-12-01T00:00:00Z".parse().unwrap()),
        Some("2027-01-01T00:00:00Z".parse().unwrap())
    );
    assert_eq!(s.exceptions.next_expiry("2027-01-01T00:00:00Z".parse().unwrap()), None);
}

#[test]
fn exception_status_counts_what_it_waives_now() {
    let yaml = [
        shop(),
        exception(
            "shop",
            "web",
            "  checks: [privileged-container]\n  match: {names: [web-*]}\n  expiresAt: \"2026-12-01T00:00:00Z\"",
        ),
    ]
    .concat();
    let s = scenario(&yaml);
    let compiled = Ok(s.exceptions.iter().next().unwrap().clone());

    let counts = waived_counts(&s.audit());
    assert_eq!(counts.get("shop/web"), Some(&2), "two containers of web-1");
    let status = exception_status(&compiled, counts["shop/web"], Some(2), None, now());
    assert_eq!(status.waived_findings, 2);
    let active = &status.conditions[0];
    assert_eq!((active.type_.as_str(), active.status.as_str(), active.reason.as_str()), ("Active", "True", "Active"));
    assert!(active.message.contains("waives 2 finding(s) until 2026-12-01"), "{}", active.message);

    let later: Timestamp = "2026-12-02T00:00:00Z".parse().unwrap();
    assert!(waived_counts(&s.audit_at(later)).is_empty());
    let expired = exception_status(&compiled, 0, Some(2), Some(&status), later);
    assert_eq!((expired.conditions[0].status.as_str(), expired.conditions[0].reason.as_str()), ("False", "Expired"));
    assert_eq!(expired.conditions[0].last_transition_time.0, later, "the status changed");
    let again = exception_status(&compiled, 0, Some(2), Some(&expired), "2026-12-03T00:00:00Z".parse().unwrap());
    assert_eq!(again.conditions[0].last_transition_time.0, later, "unchanged status keeps its transition time");
}

#[test]
fn invalid_exceptions_are_errors_and_their_status_says_so() {
    let (_, objects) = objects(&exception(
        "shop",
        "bad",
        "  checks: [host-pid]\n  match: {selector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}",
    ));
    let Some(VigilObject::Exception(e)) = objects.first() else { panic!() };
    let error = compile_exception(e).unwrap_err();
    assert!(error.to_string().contains("operator Exists takes no values"), "{error}");
    let status = exception_status(&Err(error), 0, None, None, now());
    assert_eq!(status.conditions[0].reason, "Invalid");

    let mut blank = e.clone();
    blank.spec.matches.selector = None;
    blank.spec.reason = "  ".into();
    assert!(compile_exception(&blank).unwrap_err().message.contains("reason"));
}

#[test]
fn cluster_exceptions_waive_only_cluster_scoped_subjects() {
    let rbac = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ops, labels: {team: ops}}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ops, namespace: shop}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: vigil.dev/v1alpha1
kind: ClusterSecurityException
metadata: {name: ops-wildcard}
spec:
  checks: [rbac-wildcard]
  match: {names: ["op*"], selector: {matchLabels: {team: ops}}}
  reason: break-glass role
  owner: platform
"#;
    let reports = scenario(rbac).audit();
    let cluster_role = findings(report(&reports, "ClusterRole", "ops"), "rbac-wildcard");
    assert!(cluster_role.iter().all(|(_, r, by)| *r == FindingResult::Waived && by.as_deref() == Some("ops-wildcard")));
    let role = findings(report(&reports, "Role", "ops"), "rbac-wildcard");
    assert!(role.iter().all(|(_, r, _)| *r == FindingResult::Fail), "{role:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Samples

#[test]
fn the_samples_are_accepted() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut loaded = Loaded::default();
        loaded.add_text(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap());
        assert!(
            loaded.errors.is_empty() && loaded.vigil_errors.is_empty() && loaded.objects.is_empty(),
            "{}",
            path.display()
        );
        for (object, _) in loaded.vigil_objects {
            kinds.push(object.kind());
            match object {
                VigilObject::Policy(p) => {
                    let compiled = compile_policy(&p);
                    let status = policy_status(&compiled, None, None, now());
                    assert_eq!(status.conditions[0].status, "True", "{}: {:?}", path.display(), compiled.err());
                }
                VigilObject::Exception(e) => drop(compile_exception(&e).unwrap()),
                VigilObject::ClusterException(e) => drop(compile_cluster_exception(&e).unwrap()),
            }
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["ClusterSecurityException", "SecurityException", "SecurityPolicy", "SecurityPolicy", "SecurityPolicy"]
    );
}

#[test]
fn the_compliance_sample_enables_every_framework() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples/securitypolicy-compliance.yaml");
    let mut loaded = Loaded::default();
    loaded.add_text(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap());
    let Some((VigilObject::Policy(p), _)) = loaded.vigil_objects.first() else { panic!("no SecurityPolicy") };
    let policy = compile_policy(p).unwrap();
    let set = vigil_engine::PolicySet::new([policy]);
    let names: Vec<&str> = set.frameworks().iter().map(|f| f.as_str()).collect();
    assert_eq!(names, ["pss", "cis", "nsa", "mitre"]);
    // Without the field, no framework: existing policies change nothing.
    assert!(vigil_engine::PolicySet::default().frameworks().is_empty());
}

#[test]
fn the_sample_exception_waives_the_legacy_container_until_it_expires() {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let read = |f: &str| std::fs::read_to_string(samples.join(f)).unwrap();
    let billing = r#"apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {team: payments, env: prod}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: billing-engine, namespace: payments, labels: {team: payments}}
spec:
  selector: {matchLabels: {app: billing}}
  template:
    metadata: {labels: {app: billing}}
    spec:
      containers:
      - name: legacy-engine
        image: registry.example.com/prod/billing-legacy:4.2
        securityContext: {runAsUser: 0}
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
      - name: api
        image: registry.example.com/prod/billing-api:1.0
        securityContext: {runAsUser: 0}
        readinessProbe: {httpGet: {path: /healthz, port: 8081}}
---
"#;
    let yaml = [
        billing.to_string(),
        read("securitypolicy-registries.yaml"),
        "---\n".into(),
        read("securitypolicy-custom-checks.yaml"),
        "---\n".into(),
        read("securityexception-legacy-billing.yaml"),
    ]
    .concat();
    let s = scenario(&yaml);
    let reports = s.audit();
    let engine = report(&reports, "Deployment", "billing-engine");
    assert_eq!(engine.status().policy.as_deref(), Some("payments"), "priority 20 beats 10");
    let root = findings(engine, "run-as-non-root");
    assert!(
        root.contains(&("legacy-engine".into(), FindingResult::Waived, Some("payments/legacy-billing-root".into()))),
        "{root:?}"
    );
    assert!(root.contains(&("api".into(), FindingResult::Fail, None)), "{root:?}");
    assert_eq!(result_of(engine, "payments-team-label").as_deref(), Some("Pass"));
    assert_eq!(result_of(engine, "payments-readiness-probes").as_deref(), Some("Pass"));
    assert_eq!(result_of(engine, "image-registry-allowed").as_deref(), Some("Pass"));
    assert_eq!(s.exceptions.next_expiry(now()), Some("2027-03-31T00:00:00Z".parse().unwrap()));
    let expired = s.audit_at("2027-04-01T00:00:00Z".parse().unwrap());
    let root = findings(report(&expired, "Deployment", "billing-engine"), "run-as-non-root");
    assert!(root.iter().all(|(_, r, _)| *r == FindingResult::Fail), "{root:?}");
}

// ---------------------------------------------------------------------------------------------------------
// The operator's calls: per-subject reports and the incremental roll-up agree with `audit`

#[test]
fn report_for_and_tallies_agree_with_the_streamed_audit() {
    let yaml = [
        namespace("shop", "env: prod"),
        namespace("dev", "env: dev"),
        deployment("shop", "web", ""),
        deployment("dev", "web", ""),
        // The prod policy weighs a passing check differently (a failing one carries its risk in the
        // finding): the roll-up must weigh each report by the policy that judged it.
        policy(
            "prod",
            "  priority: 1\n  namespaceSelector: {matchLabels: {env: prod}}\n  checks:\n    riskOverrides: [{id: host-pid, risk: 1}]",
        ),
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: sidecar, namespace: dev}\nspec:\n  checks: [privileged-container]\n  match: {containers: [sidecar]}\n  reason: r\n  owner: o\n---\n".into(),
    ]
    .concat();
    let s = scenario(&yaml);
    let mut streamed = Vec::new();
    vigil_engine::audit_each(&s.index, &s.policies, &s.exceptions, now(), |r| streamed.push(r));
    assert_eq!(streamed.last().map(|r| r.subject().kind.as_str()), Some("Cluster"), "the cluster report comes last");
    let shop = streamed
        .iter()
        .find(|r| r.subject().kind == "Deployment" && r.subject().namespace.as_deref() == Some("shop"))
        .unwrap();
    assert_eq!(shop.status().policy.as_deref(), Some("prod"));

    let mut rollup = vigil_engine::report::Rollup::default();
    for built in &streamed {
        let subject = built.subject();
        let key = vigil_engine::subject::SubjectKey::of(subject);
        let (one, tally) = vigil_engine::report_for(&s.index, &s.policies, &s.exceptions, &key, now())
            .unwrap_or_else(|| panic!("no report for {key}"));
        if subject.kind == "Cluster" {
            // report_for leaves the roll-up out: it needs every other report.
            assert!(one.status().cluster.is_none());
            let mut without_rollup = built.clone();
            if let Report::Cluster(c) = &mut without_rollup {
                c.status.as_mut().unwrap().cluster = None;
            }
            assert_eq!(one.to_json(), without_rollup.to_json());
        } else {
            assert_eq!(one.to_json(), built.to_json(), "{key}");
        }
        if subject.kind == "Deployment" && subject.namespace.as_deref() == Some("shop") {
            // Weighed by the default policy instead, the shop namespace would score otherwise.
            assert_ne!(vigil_engine::report::Tally::by(shop, &Policy::default()), tally);
        }
        rollup.add_tally(&tally);
    }
    let expected = report(&streamed, "Cluster", "cluster").status().cluster.clone().unwrap();
    assert_eq!(rollup.finish(), expected);
}

#[test]
fn find_names_every_subject_all_lists() {
    // The operator looks each subject up by key (`subject::find`, only the key's own scope); it must find
    // exactly what `all` lists, namespaced and cluster-scoped alike.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut yaml = String::new();
    for file in ["insecure-app/storefront.yaml", "insecure-app/rbac.yaml", "hardened-app/payments.yaml"] {
        yaml.push_str(&std::fs::read_to_string(root.join(file)).unwrap());
        yaml.push_str("\n---\n");
    }
    yaml.push_str(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n---\n\
         apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\n",
    );
    let s = scenario(&yaml);
    let all: Vec<_> = vigil_engine::subject::all(&s.index, &s.policies).collect();
    // `keys` lists the same subjects without decoding any workload.
    let keys: Vec<_> = all.iter().map(|e| e.key()).collect();
    assert_eq!(vigil_engine::subject::keys(&s.index, &s.policies), keys);
    let kinds: std::collections::BTreeSet<&str> = all.iter().map(|e| e.reference.kind.as_str()).collect();
    for kind in ["Namespace", "Service", "Ingress", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Node"]
    {
        assert!(kinds.contains(kind), "the fixture lacks a {kind} subject: {kinds:?}");
    }
    for entry in &all {
        let key = entry.key();
        let found = vigil_engine::subject::find(&s.index, &s.policies, &key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(found.key(), key);
        assert_eq!(found.reference, entry.reference, "{key}");
    }
    let missing = vigil_engine::subject::SubjectKey::new("ClusterRole", "", "no-such-role");
    assert!(vigil_engine::subject::find(&s.index, &s.policies, &missing).is_none());
}
