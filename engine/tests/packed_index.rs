//! The packed index (pod-template kinds kept as metadata plus JSON bytes): judging decodes each object at
//! most once, and an entry that does not decode is an `Error` with its reason, never a panic.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use vigil_crds::FindingResult;
use vigil_engine::input::loader::Loaded;
use vigil_engine::input::object::VigilObject;
use vigil_engine::input::packed::{Packed, decodes_on_this_thread};
use vigil_engine::subject::{self, SubjectKey};
use vigil_engine::{Exceptions, Index, PolicySet, Report, audit, compile_policy, report_for};

fn now() -> Timestamp {
    "2026-12-05T00:00:00Z".parse().unwrap()
}

/// A namespace with every pod-template kind, controller chains with live pods (one with an injected
/// sidecar), and a policy with a custom check (which reads the workload's object as JSON).
fn namespace_yaml() -> String {
    let template = |app: &str| {
        format!(
            "    metadata: {{labels: {{app: {app}}}}}\n    spec:\n      serviceAccountName: sa-{app}\n      containers: [{{name: app, image: 'nginx:1.27'}}]\n"
        )
    };
    let mut yaml = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n");
    for d in ["web", "api"] {
        yaml += &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {d}, namespace: shop, uid: d-{d}}}\nspec:\n  selector: {{matchLabels: {{app: {d}}}}}\n  template:\n{}---\n",
            template(d)
        );
        yaml += &format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {d}-1\n  namespace: shop\n  uid: rs-{d}\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: {d}, uid: d-{d}, controller: true}}]\nspec:\n  selector: {{matchLabels: {{app: {d}}}}}\n  template:\n{}---\n",
            template(d)
        );
        for p in 0..2 {
            yaml += &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {d}-1-{p}\n  namespace: shop\n  uid: p-{d}-{p}\n  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: {d}-1, uid: rs-{d}, controller: true}}]\nspec:\n  containers:\n  - {{name: app, image: 'nginx:1.27'}}\n  - {{name: sidecar, image: 'proxy:1', securityContext: {{privileged: true}}}}\n---\n"
            );
        }
    }
    for (kind, api) in [("StatefulSet", "apps/v1"), ("DaemonSet", "apps/v1")] {
        let name = kind.to_lowercase();
        yaml += &format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: shop, uid: u-{name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n{}---\n",
            template(&name)
        );
    }
    yaml += &format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly, namespace: shop, uid: cj}}\nspec:\n  schedule: '0 0 * * *'\n  jobTemplate:\n    spec:\n      template:\n{}---\n",
        template("nightly").replace("\n    ", "\n        ").replacen("    ", "        ", 1)
    );
    yaml += "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: nightly-1\n  namespace: shop\n  uid: job-1\n  ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: nightly, uid: cj, controller: true}]\nspec:\n  template:\n    spec: {containers: [{name: app, image: 'nginx:1.27'}]}\n---\n";
    yaml += &format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: once, namespace: shop, uid: job-2}}\nspec:\n  manualSelector: true\n  template:\n{}---\n",
        template("once")
    );
    yaml += &format!(
        "apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: legacy, namespace: shop}}\nspec:\n  template:\n{}---\n",
        template("legacy")
    );
    yaml += "apiVersion: v1\nkind: Pod\nmetadata: {name: lone, namespace: shop}\nspec: {containers: [{name: app, image: 'nginx:1.27'}]}\n---\n";
    yaml += "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  customChecks:\n  - {id: team-label, title: t, risk: 5, expression: \"has(object.spec) && has(template.metadata.labels)\", message: m}\n";
    yaml
}

fn load(yaml: &str) -> (Index, PolicySet) {
    let mut loaded = Loaded::default();
    loaded.add_text("shop.yaml", yaml);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let index = loaded.objects.into_iter().map(|(object, _)| object).collect();
    let policies = loaded
        .vigil_objects
        .into_iter()
        .map(|(o, _)| match o {
            VigilObject::Policy(p) => compile_policy(&p).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect::<Vec<_>>();
    (index, PolicySet::new(policies))
}

fn packed_in(index: &Index, namespace: &str) -> u64 {
    let counts = [
        index.pods.in_namespace(namespace).count(),
        index.deployments.in_namespace(namespace).count(),
        index.stateful_sets.in_namespace(namespace).count(),
        index.daemon_sets.in_namespace(namespace).count(),
        index.replica_sets.in_namespace(namespace).count(),
        index.jobs.in_namespace(namespace).count(),
        index.cron_jobs.in_namespace(namespace).count(),
        index.replication_controllers.in_namespace(namespace).count(),
    ];
    counts.iter().sum::<usize>() as u64
}

#[test]
fn judging_a_namespace_decodes_each_object_at_most_twice() {
    let (index, policies) = load(&namespace_yaml());
    let objects = packed_in(&index, "shop");
    assert_eq!(objects, 15);
    // Top-level workloads (2 Deployments, StatefulSet, DaemonSet, CronJob, Job, ReplicationController, the
    // bare Pod) once each for their template, and the four live Pods once each; the hidden ReplicaSets
    // and Job are read by metadata only. Then all of them once more for the Namespace's report, whose Pod
    // Security readiness judges every workload in it (one decoded at a time): linear, never quadratic.
    let expected = 2 * (8 + 4);

    // `vigil scan`: every subject, streamed.
    let before = decodes_on_this_thread();
    let reports = audit(&index, &policies, &Exceptions::default(), now());
    assert_eq!(decodes_on_this_thread() - before, expected);
    assert!(expected <= 2 * objects);
    // The injected privileged sidecar was judged from the decoded live pods.
    let web = reports.iter().find(|r| r.subject().name == "web").unwrap();
    let privileged = web.status().findings.iter().find(|f| f.check_id == "privileged-container").unwrap();
    assert!(privileged.message.contains("sidecar"), "{}", privileged.message);
    // The custom check read the packed object as JSON.
    assert!(web.status().passed.iter().any(|id| id == "team-label"), "{:?}", web.status());

    // The operator: listing the keys decodes nothing, judging each key decodes it once.
    let before = decodes_on_this_thread();
    let keys = subject::keys(&index, &policies);
    assert_eq!(decodes_on_this_thread(), before);
    for key in &keys {
        report_for(&index, &policies, &Exceptions::default(), key, now()).unwrap();
    }
    assert_eq!(decodes_on_this_thread() - before, expected);

    // What a ServiceAccount change affects: each workload template once, no live pod.
    let before = decodes_on_this_thread();
    let account: vigil_engine::KubeObject = serde_json::from_value::<k8s_openapi::api::core::v1::ServiceAccount>(
        serde_json::json!({"metadata": {"name": "sa-web", "namespace": "shop"}}),
    )
    .unwrap()
    .into();
    let affected = subject::affected::affected(&index, &policies, &account);
    assert!(affected.contains(&SubjectKey::new("Deployment", "shop", "web")), "{affected:?}");
    assert!(!affected.contains(&SubjectKey::new("Deployment", "shop", "api")), "{affected:?}");
    assert_eq!(decodes_on_this_thread() - before, 8);
}

fn findings_of<'r>(reports: &'r [Report], name: &str) -> &'r [vigil_crds::Finding] {
    &reports
        .iter()
        .find(|r| r.subject().name == name)
        .unwrap_or_else(|| panic!("a report for {name}"))
        .status()
        .findings
}

#[test]
fn an_entry_that_does_not_decode_is_an_error_with_its_reason() {
    let (mut index, policies) = load(&namespace_yaml());
    // A Deployment whose stored bytes do not fit its schema, and a live pod of `web` that is not JSON.
    let meta = |name: &str, uid: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some("shop".into()),
        uid: Some(uid.into()),
        ..Default::default()
    };
    index.deployments.insert(
        ("shop".into(), "broken".into()),
        Packed::<Deployment>::from_parts(meta("broken", "d-broken"), br#"{"spec": {"template": 7}}"#.to_vec()),
    );
    let mut pod_meta = meta("web-1-9", "p-web-9");
    pod_meta.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web-1".into(),
        uid: "rs-web".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    index.pods.insert(("shop".into(), "web-1-9".into()), Packed::<Pod>::from_parts(pod_meta, b"\x00".to_vec()));

    let reports = audit(&index, &policies, &Exceptions::default(), now());
    for (name, reason) in [
        ("broken", "Deployment broken: the stored object cannot be decoded: invalid type"),
        ("web", "Deployment web: live pod web-1-9: the stored object cannot be decoded"),
    ] {
        let findings = findings_of(&reports, name);
        assert!(!findings.is_empty());
        for finding in findings {
            assert_eq!(finding.result, FindingResult::Error, "{name}: {finding:?}");
            assert!(finding.message.contains(reason), "{name}: {}", finding.message);
        }
    }
    // The others are judged as before.
    assert!(findings_of(&reports, "api").iter().any(|f| f.result == FindingResult::Fail));
    // The operator's view of the old object: one that does not decode is absent, never a panic.
    assert!(index.get_object("Deployment", "shop", "broken").is_none());
    assert!(index.contains("Deployment", "shop", "broken"));
}
