//! `vigil scan --cluster` against a real API server: the same answers as the operator on the same cluster,
//! check by check for every subject (the `cluster` report included), with the operator's RBAC; and a kind
//! the scan may not list makes the checks that read it `Error` with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use vigil_e2e::{TestCluster, Vigil, eventually, install_vigil, vigil_resource};

const WAIT: Duration = Duration::from_secs(60);
/// The operator and the scan both leave this namespace out (`--exclude-namespace`): it holds the
/// examples' CronJob.
const EXCLUDED: &str = "default";

fn report_resource(kind: &str) -> ApiResource {
    let plural = if kind == "SecurityReport" { "securityreports" } else { "clustersecurityreports" };
    vigil_resource(kind, plural)
}

/// `(report kind, namespace, name)`.
type ReportKey = (String, String, String);

fn key_of(item: &serde_json::Value) -> ReportKey {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    (text(&item["kind"]), text(&item["metadata"]["namespace"]), text(&item["metadata"]["name"]))
}

/// The operator's reports, by key.
async fn live_reports(cluster: &TestCluster) -> anyhow::Result<BTreeMap<ReportKey, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for kind in ["SecurityReport", "ClusterSecurityReport"] {
        let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &report_resource(kind));
        for item in api.list(&ListParams::default()).await?.items {
            let mut value = serde_json::to_value(&item)?;
            value["kind"] = kind.into();
            out.insert(key_of(&value), value);
        }
    }
    Ok(out)
}

/// Runs `vigil scan --cluster -o json` with a kubeconfig; the parsed output and how long it took.
fn scan_cluster(kubeconfig: &Path, extra: &[&str]) -> anyhow::Result<(serde_json::Value, Duration)> {
    let started = Instant::now();
    let out = std::process::Command::new(vigil_e2e::vigil_bin())
        .args(["scan", "--cluster", "-o", "json", "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra)
        .output()?;
    let took = started.elapsed();
    anyhow::ensure!(
        out.status.code() == Some(0),
        "vigil scan --cluster exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow::anyhow!("scan output: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok((value, took))
}

/// Every difference between the scan's reports and the operator's: missing reports on either side, and
/// each check whose result differs.
fn differences(
    scanned: &serde_json::Value,
    live: &BTreeMap<ReportKey, serde_json::Value>,
) -> (Vec<String>, usize, usize) {
    let mut diffs = Vec::new();
    let (mut reports, mut checks) = (0, 0);
    let mut seen = BTreeSet::new();
    for item in scanned["items"].as_array().into_iter().flatten() {
        let key = key_of(item);
        seen.insert(key.clone());
        let Some(operator) = live.get(&key) else {
            diffs.push(format!("{key:?}: in the scan, not written by the operator"));
            continue;
        };
        reports += 1;
        // A Namespace's Pod Security readiness is the engine's too: both doors must agree on it.
        let (scan_pss, operator_pss) = (&item["status"]["podSecurity"], &operator["status"]["podSecurity"]);
        if scan_pss != operator_pss {
            diffs.push(format!("{key:?} podSecurity: scan {scan_pss} / operator {operator_pss}"));
        }
        let (scan, operator) = (vigil_e2e::check_results(item), vigil_e2e::check_results(operator));
        for check in scan.keys().chain(operator.keys()).collect::<BTreeSet<_>>() {
            checks += 1;
            let (s, o) = (scan.get(check), operator.get(check));
            if s != o {
                diffs.push(format!(
                    "{key:?} {check}: scan {} / operator {}",
                    s.map_or("-", String::as_str),
                    o.map_or("-", String::as_str)
                ));
            }
        }
    }
    for key in live.keys().filter(|k| !seen.contains(*k)) {
        diffs.push(format!("{key:?}: written by the operator, not in the scan"));
    }
    (diffs, reports, checks)
}

/// A token for a ServiceAccount of `vigil-system`.
async fn token_for(cluster: &TestCluster, account: &str) -> anyhow::Result<String> {
    let api: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), "vigil-system");
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let token = api.create_token_request(account, &PostParams::default(), &request).await?;
    token.status.map(|s| s.token).ok_or_else(|| anyhow::anyhow!("no token in the TokenRequest status"))
}

/// The examples (minus kinds whose CRDs this server lacks), Istio's PeerAuthentication CRD with a
/// mesh-wide STRICT policy (a custom kind read through discovery), an admission webhook, and a
/// SecurityPolicy with an exception (the cluster's own policies judge both sides).
fn corpus() -> anyhow::Result<Vec<String>> {
    let mut documents = vigil_e2e::example_documents()?;
    documents.push(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: peerauthentications.security.istio.io}\nspec:\n  group: security.istio.io\n  scope: Namespaced\n  names: {kind: PeerAuthentication, plural: peerauthentications}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n".into(),
    );
    documents.push(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: e2e-policy-engine}\nwebhooks:\n- name: validate.e2e.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n  clientConfig: {url: \"https://policy.example.com/validate\"}\n  rules: [{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [pods]}]\n".into(),
    );
    Ok(documents)
}

const AFTER_CRDS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n---\napiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: payments-strict}\nspec:\n  priority: 10\n  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: payments}}\n  checks:\n    disabled: {ids: [owner-annotation]}\n---\napiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: storefront-host-network, namespace: shop}\nspec:\n  checks: [host-network]\n  match: {kinds: [Deployment], names: [storefront]}\n  reason: the e2e test waives it\n  owner: e2e@example.com\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_of_the_live_cluster_gives_the_operators_answers() -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(cluster) = TestCluster::start().await? else { return Ok(()) };
    if std::env::var("VIGIL_E2E_CLUSTER").is_ok() {
        return Ok(()); // an existing cluster changes under the comparison
    }
    let token = install_vigil(&cluster).await?;
    cluster.apply_yaml(&corpus()?.join("\n---\n")).await?;
    // The Istio CRD must be served before its objects can be applied.
    eventually(WAIT, "the PeerAuthentication CRD", || async { cluster.apply_yaml(AFTER_CRDS).await.ok() }).await?;

    let vigil = Vigil::start(&cluster, &token, "replica-a", &["--exclude-namespace", EXCLUDED])?;
    vigil.wait_ready(WAIT).await?;
    eventually(WAIT, "a full pass", || async { (vigil.metric("vigil_full_passes").await >= 1.0).then_some(()) })
        .await?;

    let dir = std::env::temp_dir().join(format!("vigil-e2e-scan-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    cluster.write_kubeconfig(&token, &kubeconfig)?;

    // The controller-manager keeps creating objects for a while (ReplicaSets, Pods, default
    // ServiceAccounts): compare once the operator has caught up with what the scan saw.
    let mut last = Vec::new();
    let mut compared = (0, 0);
    let mut took = Duration::ZERO;
    for _attempt in 0..6 {
        let (scanned, elapsed) = scan_cluster(&kubeconfig, &["--exclude-namespace", EXCLUDED])?;
        took = elapsed;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (diffs, reports, checks) = differences(&scanned, &live_reports(&cluster).await?);
        compared = (reports, checks);
        last = diffs;
        if last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    println!(
        "scan-cluster: {} reports and {} check results compared; the scan took {took:.1?}; test {:.0?}",
        compared.0,
        compared.1,
        started.elapsed()
    );
    assert!(last.is_empty(), "{} differences:\n{}\n{}", last.len(), last.join("\n"), vigil.log());
    assert!(compared.0 >= 15 && compared.1 >= 100, "compared only {compared:?}");

    // What the corpus exercises was judged, not left out: the custom kind, the webhook, the policy and
    // the exception, the version from /version.
    let (scanned, _) = scan_cluster(&kubeconfig, &["--exclude-namespace", EXCLUDED])?;
    let items = scanned["items"].as_array().unwrap();
    let find = |kind: &str, ns: &str, name: &str| {
        items
            .iter()
            .find(|i| key_of(i) == (kind.to_string(), ns.to_string(), name.to_string()))
            .map(vigil_e2e::check_results)
    };
    let shop = find("SecurityReport", "shop", "namespace-shop").expect("the shop namespace report");
    assert_eq!(shop.get("mesh-mtls-strict").map(String::as_str), Some("Fail"), "{shop:?}");
    let storefront = find("SecurityReport", "shop", "deployment-storefront").expect("the storefront report");
    assert_eq!(storefront.get("host-network").map(String::as_str), Some("Waived"));
    let payments = find("SecurityReport", "payments", "deployment-payments-api").expect("the payments report");
    assert!(!payments.contains_key("owner-annotation"), "the policy switched it off: {payments:?}");
    let whole = find("ClusterSecurityReport", "", "cluster").expect("the cluster report");
    // Judged from /version (v1.32 is past upstream support by now), not NotApplicable as without one.
    let version = items.iter().find(|i| i["metadata"]["name"] == "cluster").unwrap()["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["checkId"] == "api-server-version-supported")
        .cloned()
        .unwrap_or_default();
    assert!(version["result"] == "Fail" && version["message"].as_str().unwrap_or("").contains("1.32"), "{version}");
    assert!(whole.contains_key("admission-policy-enforced"), "{whole:?}");
    assert!(!items.iter().any(|i| i["metadata"]["namespace"] == EXCLUDED), "the excluded namespace was audited");

    // A ServiceAccount that may list only Namespaces and Pods: checks that read NetworkPolicies say Error
    // with the reason; checks that read nothing else are judged as before.
    cluster
        .apply_yaml(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: narrow, namespace: vigil-system}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: vigil-narrow}\nrules:\n- apiGroups: [\"\"]\n  resources: [namespaces, pods]\n  verbs: [list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: vigil-narrow}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-narrow}\nsubjects: [{kind: ServiceAccount, name: narrow, namespace: vigil-system}]\n",
        )
        .await?;
    let narrow = dir.join("narrow.kubeconfig");
    cluster.write_kubeconfig(&token_for(&cluster, "narrow").await?, &narrow)?;
    let (scanned, _) = scan_cluster(&narrow, &[])?;
    let shop = scanned["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| key_of(i) == ("SecurityReport".into(), "shop".into(), "namespace-shop".into()))
        .expect("the shop namespace report");
    let finding = shop["status"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["checkId"] == "network-policy-default-deny")
        .expect("a network-policy-default-deny finding");
    assert_eq!(finding["result"], "Error", "{finding}");
    assert!(finding["message"].as_str().unwrap_or("").contains("may not list NetworkPolicy"), "{finding}");
    assert_eq!(vigil_e2e::check_results(shop).get("pod-security-admission").map(String::as_str), Some("Fail"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
