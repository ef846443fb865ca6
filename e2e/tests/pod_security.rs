//! Pod Security readiness checked against the API server's own Pod Security Admission: for each namespace,
//! labelling it (server-side dry run) with the level Vigil says is safe draws no violation, and one level
//! stricter draws warnings that name the workloads Vigil names, for the reasons Vigil gives.
//!
//! Pods come from the harness's controller-manager (Deployments) or are created bare; they stay Pending
//! (no scheduler), which is all admission needs: it judges the stored pods.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use vigil_e2e::{TestCluster, eventually};

const WAIT: Duration = Duration::from_secs(90);

const RESTRICTED_POD: &str = "
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - {name: app, image: registry.example/app:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}";

fn deployment(namespace: &str, name: &str, replicas: u32, pod_spec: &str) -> String {
    format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:{pod_spec}
"
    )
}

/// `kubectl label --dry-run=server` of the enforce label; the warnings it prints (stderr, `Warning: `
/// stripped).
fn dry_run_enforce(cluster: &TestCluster, namespace: &str, level: &str) -> anyhow::Result<Vec<String>> {
    let label = format!("pod-security.kubernetes.io/enforce={level}");
    let out = cluster.kubectl(&["label", "namespace", namespace, &label, "--overwrite", "--dry-run=server"])?;
    anyhow::ensure!(out.status.success(), "kubectl label failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: "))
        .map(str::to_string)
        .collect())
}

/// The per-pod warnings of a namespace label change, as `(pod, other pods, reasons)`:
/// `web-6d4-x (and 1 other pod): host namespaces, privileged` (`EvaluatePodsInNamespace` in
/// `pod-security-admission/admission/admission.go` groups pods by their reasons and names the first).
fn pod_warnings(warnings: &[String]) -> Vec<(String, usize, String)> {
    warnings
        .iter()
        .filter(|w| !w.starts_with("existing pods in namespace") && !w.starts_with("new PodSecurity enforce level"))
        .filter_map(|w| {
            let (head, reasons) = w.split_once(": ")?;
            let (pod, others) = match head.split_once(" (and ") {
                Some((pod, rest)) => (pod, rest.split(' ').next()?.parse().ok()?),
                None => (head, 0),
            };
            Some((pod.to_string(), others, reasons.to_string()))
        })
        .collect()
}

/// The workload a pod belongs to in this test: Deployments' pods are `<deployment>-<hash>-<suffix>`,
/// bare pods keep their name (the test's names share no prefix).
fn workload_of(pod: &str, workloads: &[&str]) -> String {
    workloads
        .iter()
        .find(|w| pod == **w || pod.starts_with(&format!("{w}-")))
        .map_or(pod.to_string(), |w| w.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_level_vigil_calls_safe_is_accepted_and_the_next_is_refused_for_the_same_workloads() -> anyhow::Result<()> {
    let Some(cluster) = TestCluster::start().await? else { return Ok(()) };
    if std::env::var("VIGIL_E2E_CLUSTER").is_ok() {
        return Ok(()); // the dry runs would judge whatever else lives in an existing cluster's namespaces
    }
    let restricted = cluster.namespace("pss-restricted").await?;
    let baseline = cluster.namespace("pss-baseline").await?;
    let privileged = cluster.namespace("pss-privileged").await?;

    let plain = "\n      containers: [{name: app, image: registry.example/app:1}]";
    let root_user = "
      securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}
      containers:
      - {name: app, image: registry.example/app:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}";
    let agent = "
      hostNetwork: true
      containers: [{name: agent, image: registry.example/agent:1, securityContext: {privileged: true}}]";
    let mut yaml = deployment(&restricted, "web", 2, RESTRICTED_POD);
    yaml += &deployment(&baseline, "web", 1, RESTRICTED_POD);
    yaml += &deployment(&baseline, "legacy", 2, plain);
    yaml += &deployment(&baseline, "rootuser", 1, root_user);
    yaml += &deployment(&privileged, "agent", 2, agent);
    yaml += &deployment(&privileged, "legacy", 1, plain);
    yaml += &format!(
        "---
apiVersion: v1
kind: Pod
metadata: {{name: debug, namespace: {privileged}}}
spec:
  volumes: [{{name: root, hostPath: {{path: /}}}}]
  containers: [{{name: shell, image: registry.example/shell:1, volumeMounts: [{{name: root, mountPath: /host}}]}}]
"
    );
    cluster.apply_yaml(&yaml).await?;
    let expected_pods = [(&restricted, 2), (&baseline, 4), (&privileged, 4)];
    for (namespace, count) in expected_pods {
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
        eventually(WAIT, &format!("{count} pods in {namespace}"), || {
            let pods = pods.clone();
            async move { pods.list(&ListParams::default()).await.ok().filter(|l| l.items.len() >= count).map(|_| ()) }
        })
        .await?;
    }

    let kubeconfig = std::env::temp_dir().join(format!("vigil-e2e-pss-{}.kubeconfig", std::process::id()));
    cluster.write_admin_kubeconfig(&kubeconfig)?;
    let mut args = vec!["scan".to_string(), "--cluster".into(), "-o".into(), "json".into(), "--kubeconfig".into()];
    args.push(kubeconfig.display().to_string());
    for namespace in [&restricted, &baseline, &privileged] {
        args.extend(["--namespace".to_string(), namespace.to_string()]);
    }
    let out = std::process::Command::new(vigil_e2e::vigil_bin()).args(&args).output()?;
    let _ = std::fs::remove_file(&kubeconfig);
    anyhow::ensure!(out.status.code() == Some(0), "vigil scan --cluster: {}", String::from_utf8_lossy(&out.stderr));
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let readiness: BTreeMap<String, serde_json::Value> = scanned["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["spec"]["subject"]["kind"] == "Namespace")
        .map(|r| (r["spec"]["subject"]["name"].as_str().unwrap_or("").to_string(), r["status"]["podSecurity"].clone()))
        .collect();

    let cases = [
        (&restricted, "restricted", None, vec!["web"]),
        (&baseline, "baseline", Some("restricted"), vec!["web", "legacy", "rootuser"]),
        (&privileged, "privileged", Some("baseline"), vec!["agent", "legacy", "debug"]),
    ];
    for (namespace, want_level, next, workloads) in cases {
        let r =
            readiness.get(namespace.as_str()).ok_or_else(|| anyhow::anyhow!("no Namespace report for {namespace}"))?;
        assert_eq!(r["readyLevel"], want_level, "{namespace}: {r:#}");
        assert_eq!(r["version"], "v1.32", "judged by the API server's version");
        assert_eq!(r["workloads"].as_u64(), Some(workloads.len() as u64), "{namespace}: {r:#}");

        // The level Vigil calls safe: the API server finds no existing pod that would violate it.
        let warnings = dry_run_enforce(&cluster, namespace, want_level)?;
        assert!(warnings.is_empty(), "{namespace} at {want_level}: the server warned {warnings:#?}");

        let Some(next) = next else {
            assert!(r["nextLevel"].is_null(), "{r:#}");
            continue;
        };
        assert_eq!(r["nextLevel"], next);
        // One level stricter: the server names pods of exactly the workloads Vigil names, for the reasons
        // Vigil gives (each blocking workload here fails for its own set of reasons, so no group hides one).
        let warnings = dry_run_enforce(&cluster, namespace, next)?;
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("violate the new PodSecurity enforce level \"{next}:latest\""))),
            "{namespace} at {next}: {warnings:#?}"
        );
        let from_server: BTreeMap<String, String> = pod_warnings(&warnings)
            .into_iter()
            .map(|(pod, _, reasons)| (workload_of(&pod, &workloads), reasons))
            .collect();
        let from_vigil: BTreeMap<String, String> = r["blockers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                let reasons: Vec<&str> =
                    b["violations"].as_array().into_iter().flatten().filter_map(|v| v["reason"].as_str()).collect();
                (b["name"].as_str().unwrap_or("").to_string(), reasons.join(", "))
            })
            .collect();
        assert_eq!(from_vigil, from_server, "{namespace} at {next}: Vigil (left) and the API server (right) differ");
        // And as many pods as those workloads have.
        let pods_warned: usize = pod_warnings(&warnings).iter().map(|(_, others, _)| 1 + others).sum();
        let replicas = |w: &str| match (w, next) {
            ("legacy", "restricted") => 2,
            ("agent", _) => 2,
            _ => 1,
        };
        let pods_blocked: usize = from_vigil.keys().map(|w| replicas(w)).sum();
        assert_eq!(pods_warned, pods_blocked, "{namespace}: {warnings:#?}");
        assert_eq!(r["blockingWorkloads"].as_u64(), Some(from_vigil.len() as u64));
    }
    Ok(())
}
