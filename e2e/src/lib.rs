//! The e2e harness: a real control plane for each test, and Vigil running against it with exactly the
//! RBAC `config/rbac` grants.
//!
//! Where the API server comes from:
//! - `VIGIL_E2E_CLUSTER=1`: the cluster of the current `KUBECONFIG` (never touched by accident);
//! - else the envtest folder (`KUBEBUILDER_ASSETS`, default `/opt/vigil-envtest/bin`, filled by
//!   `e2e/install-tools.sh`): the harness starts etcd, kube-apiserver and kube-controller-manager on
//!   free loopback ports (RBAC on; garbage collection, Deployments, ReplicaSets, Jobs and namespace
//!   deletion work; no scheduler or kubelet, so Pods stay Pending) and stops them afterwards;
//! - else, under `CI=true`, the test fails with one line naming what is missing; elsewhere it skips
//!   with that line (`make test` leaves the suite out when the tools are missing, and says so).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery};
use kube::{Client, Config};

/// The envtest folder when `KUBEBUILDER_ASSETS` is not set (where `e2e/install-tools.sh` installs).
pub const DEFAULT_ASSETS: &str = "/opt/vigil-envtest/bin";

/// The binaries a test cluster needs from the envtest folder.
pub const TOOLS: [&str; 4] = ["kube-apiserver", "kube-controller-manager", "etcd", "kubectl"];

/// The envtest folder, if every tool in [`TOOLS`] is there. Otherwise `Ok(None)` after printing why the
/// test skips, or, under `CI=true` (where a test that cannot run must not pass), an error naming what is
/// missing and how `.ci/run` installs it.
pub fn envtest_assets() -> anyhow::Result<Option<PathBuf>> {
    let assets = std::env::var_os("KUBEBUILDER_ASSETS").map_or_else(|| PathBuf::from(DEFAULT_ASSETS), PathBuf::from);
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|tool| !assets.join(tool).is_file()).collect();
    if missing.is_empty() {
        return Ok(Some(assets));
    }
    let why = format!(
        "{} missing from {} (.ci/run installs them with `bash e2e/install-tools.sh`; or set VIGIL_E2E_CLUSTER=1 \
         to use the current KUBECONFIG)",
        missing.join(", "),
        assets.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        bail!("e2e: cannot run under CI=true: {why}");
    }
    println!("e2e: skipped: {why}");
    Ok(None)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("e2e/ has a parent").to_path_buf()
}

/// The example manifests as documents, minus kinds whose CRDs the test API server lacks (Kyverno).
pub fn example_documents() -> anyhow::Result<Vec<String>> {
    let root = repo_root();
    let mut documents = Vec::new();
    for file in [
        "examples/insecure-app/storefront.yaml",
        "examples/insecure-app/rbac.yaml",
        "examples/insecure-app/nightly-report.yaml",
        "examples/hardened-app/payments.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).with_context(|| format!("cannot read {file}"))?;
        documents.extend(text.split("\n---\n").map(str::to_string));
    }
    Ok(documents)
}

/// Each check's result on a report (JSON): `Pass` when listed as passed, else the worst result of its
/// findings.
pub fn check_results(report: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for id in report["status"]["passed"].as_array().into_iter().flatten() {
        out.insert(id.as_str().unwrap_or("").to_string(), "Pass".to_string());
    }
    let rank = |r: &str| ["NotApplicable", "Waived", "Error", "Fail"].iter().position(|x| *x == r).unwrap_or(0);
    for finding in report["status"]["findings"].as_array().into_iter().flatten() {
        let id = finding["checkId"].as_str().unwrap_or("").to_string();
        let result = finding["result"].as_str().unwrap_or("").to_string();
        let entry = out.entry(id).or_insert_with(|| result.clone());
        if rank(&result) > rank(entry) {
            *entry = result;
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// An API server for one test.
pub struct TestCluster {
    /// Admin client.
    pub client: Client,
    pub server: String,
    ca_pem: String,
    admin_token: String,
    processes: Option<Processes>,
}

struct Processes {
    dir: PathBuf,
    assets: PathBuf,
    etcd: Child,
    apiserver: Child,
    /// Started once the API server is ready.
    controller_manager: Option<Child>,
    apiserver_port: u16,
    etcd_port: u16,
    /// Extra kube-apiserver flags of this cluster (kept for restarts).
    apiserver_args: Vec<String>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        // Clients before servers, or they log connection errors while stopping.
        if let Some(controller_manager) = self.controller_manager.as_mut() {
            let _ = controller_manager.kill();
            let _ = controller_manager.wait();
        }
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        if std::env::var_os("VIGIL_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl TestCluster {
    /// Starts (or connects to) a control plane; `None` means skip (see [`envtest_assets`]).
    pub async fn start() -> anyhow::Result<Option<TestCluster>> {
        Self::start_with(&[]).await
    }

    /// Like [`TestCluster::start`], with extra kube-apiserver flags (e.g. `--runtime-config` to switch an
    /// API off, as on an older cluster).
    pub async fn start_with(apiserver_args: &[&str]) -> anyhow::Result<Option<TestCluster>> {
        if std::env::var("VIGIL_E2E_CLUSTER").is_ok_and(|v| v == "1") {
            let config = Config::infer().await.context("VIGIL_E2E_CLUSTER=1 but no usable KUBECONFIG")?;
            let server = config.cluster_url.to_string();
            let client = Client::try_from(config)?;
            return Ok(Some(TestCluster {
                client,
                server,
                ca_pem: String::new(),
                admin_token: String::new(),
                processes: None,
            }));
        }
        let Some(assets) = envtest_assets()? else { return Ok(None) };
        let dir = std::env::temp_dir().join(format!("vigil-e2e-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir)?;
        let admin_token = format!("admin-{}", free_port());
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{admin_token},vigil-e2e-admin,vigil-e2e-admin,system:masters\n"),
        )?;
        openssl(&["genrsa", "-out", "sa.key", "2048"], &dir)?;
        openssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], &dir)?;
        // A CA and a serving certificate it signs (rustls refuses a self-signed CA as a server's own).
        let ca = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=vigil-e2e-ca -keyout ca.key -out ca.crt";
        let csr = "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout serving.key -out serving.csr";
        let sign = "x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile serving.ext -out serving.crt";
        std::fs::write(
            dir.join("serving.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )?;
        for step in [ca, csr, sign] {
            openssl(&step.split(' ').collect::<Vec<_>>(), &dir)?;
        }
        let ca_pem = std::fs::read_to_string(dir.join("ca.crt"))?;
        let etcd_port = free_port();
        let etcd = start_etcd(&assets, &dir, etcd_port)?;
        let apiserver_port = free_port();
        // Every write to Vigil's kinds and Leases, with who made it (user and User-Agent) and when.
        std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)?;
        let apiserver_args: Vec<String> = apiserver_args.iter().map(|a| a.to_string()).collect();
        let apiserver = start_apiserver(&assets, &dir, apiserver_port, etcd_port, &apiserver_args)?;
        let server = format!("https://127.0.0.1:{apiserver_port}");
        let client = client_for(&server, &ca_pem, &admin_token)?;
        // Held by the cluster from here on, so that every early return stops what has started.
        let processes = Processes {
            dir,
            assets,
            etcd,
            apiserver,
            controller_manager: None,
            apiserver_port,
            etcd_port,
            apiserver_args,
        };
        let mut cluster = TestCluster { client, server, ca_pem, admin_token, processes: Some(processes) };
        cluster.wait_ready(Duration::from_secs(60)).await?;
        // The controller-manager starts once the API server answers, or it spends its first seconds
        // backing off.
        let p = cluster.processes.as_mut().expect("set above");
        let kubeconfig = p.dir.join("controller-manager.kubeconfig");
        let (assets, dir) = (p.assets.clone(), p.dir.clone());
        cluster.write_admin_kubeconfig(&kubeconfig)?;
        let controller_manager = start_controller_manager(&assets, &dir, &kubeconfig)?;
        cluster.processes.as_mut().expect("set above").controller_manager = Some(controller_manager);
        Ok(Some(cluster))
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            // /readyz covers the post-start hooks (RBAC bootstrap roles among them).
            let request = http::Request::get("/readyz").body(Vec::new())?;
            let ready = self.client.request_text(request).await.is_ok_and(|body| body.trim() == "ok");
            let last = match Api::<Namespace>::all(self.client.clone()).get_opt("default").await {
                Ok(Some(_)) if ready => return Ok(()),
                Ok(Some(_)) => "/readyz is not ok yet".to_string(),
                Ok(None) => "no default namespace yet".to_string(),
                Err(e) => {
                    let mut chain = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        chain.push_str(&format!(": {s}"));
                        source = s.source();
                    }
                    chain
                }
            };
            if start.elapsed() > timeout {
                bail!("the API server did not become ready in {timeout:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The etcd client URL (plain HTTP on loopback), when this harness started etcd: the bench reads the
    /// stored bytes of each resource from it.
    pub fn etcd_url(&self) -> Option<String> {
        self.processes.as_ref().map(|p| format!("http://127.0.0.1:{}", p.etcd_port))
    }

    /// Stops and starts the API server on the same port and etcd (an API server restart mid-run).
    pub async fn restart_apiserver(&mut self) -> anyhow::Result<()> {
        let Some(p) = self.processes.as_mut() else { bail!("cannot restart an existing cluster's API server") };
        let _ = p.apiserver.kill();
        let _ = p.apiserver.wait();
        tokio::time::sleep(Duration::from_secs(1)).await;
        p.apiserver = start_apiserver(&p.assets, &p.dir, p.apiserver_port, p.etcd_port, &p.apiserver_args)?;
        self.wait_ready(Duration::from_secs(60)).await
    }

    /// The API server's audit log so far: one JSON object per write to Vigil's kinds or to Leases
    /// (see [`AUDIT_POLICY`]). Empty for an existing cluster.
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        let Some(p) = self.processes.as_ref() else { return Vec::new() };
        let text = std::fs::read_to_string(p.dir.join("audit.log")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// A kubeconfig for a bearer token, written to `path`.
    pub fn write_kubeconfig(&self, token: &str, path: &Path) -> anyhow::Result<()> {
        use std::fmt::Write;
        let ca = BASE64.encode(self.ca_pem.as_bytes());
        let mut text = String::new();
        writeln!(text, "apiVersion: v1\nkind: Config\ncurrent-context: e2e")?;
        writeln!(
            text,
            "clusters:\n- name: e2e\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}",
            self.server
        )?;
        writeln!(text, "users:\n- name: e2e\n  user:\n    token: {token}")?;
        writeln!(text, "contexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: e2e")?;
        std::fs::write(path, text)?;
        Ok(())
    }

    /// The admin kubeconfig (for kubectl in tests).
    pub fn write_admin_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        self.write_kubeconfig(&self.admin_token, path)
    }

    /// Applies every document of a YAML file or string with server-side apply (as the admin).
    pub async fn apply_yaml(&self, yaml: &str) -> anyhow::Result<()> {
        let discovery = self.discover().await?;
        for doc in serde_saphyr::from_multiple::<serde_json::Value>(yaml)? {
            if doc.is_null() {
                continue;
            }
            let object: DynamicObject = serde_json::from_value(doc.clone())?;
            let types = object.types.clone().context("object without apiVersion/kind")?;
            let (group, version) = types.api_version.rsplit_once('/').unwrap_or(("", &types.api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
            let (resource, caps) =
                discovery.resolve_gvk(&gvk).with_context(|| format!("unknown kind {}", types.kind))?;
            let api: Api<DynamicObject> = match (&caps.scope, object.metadata.namespace.as_deref()) {
                (kube::discovery::Scope::Namespaced, ns) => {
                    Api::namespaced_with(self.client.clone(), ns.unwrap_or("default"), &resource)
                }
                (kube::discovery::Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
            };
            let name = object.metadata.name.clone().context("object without a name")?;
            api.patch(&name, &PatchParams::apply("vigil-e2e").force(), &Patch::Apply(&doc))
                .await
                .with_context(|| format!("applying {} {name}", types.kind))?;
        }
        Ok(())
    }

    /// API discovery, retried: right after a CRD is created a group can answer 404 for a moment.
    async fn discover(&self) -> anyhow::Result<Discovery> {
        let mut attempt = 0;
        loop {
            match Discovery::new(self.client.clone()).run().await {
                Ok(discovery) => return Ok(discovery),
                Err(_) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Runs kubectl as the admin: the envtest folder's, or the one on PATH with the current KUBECONFIG
    /// for an existing cluster.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let Some(p) = self.processes.as_ref() else {
            return Command::new("kubectl").args(args).output().context("running kubectl");
        };
        let kubeconfig = p.dir.join("admin.kubeconfig");
        if !kubeconfig.exists() {
            self.write_admin_kubeconfig(&kubeconfig)?;
        }
        Command::new(p.assets.join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .context("running kubectl")
    }

    /// A fresh namespace for one test.
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<String> {
        let name = format!("{prefix}-{}", free_port());
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &ns).await?;
        Ok(name)
    }

    pub fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }
}

/// One of Vigil's kinds (`vigil.dev/v1alpha1`) for [`TestCluster::api`], e.g.
/// `vigil_resource("SecurityReport", "securityreports")`.
pub fn vigil_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: vigil_crds::GROUP.into(),
        version: vigil_crds::VERSION.into(),
        api_version: vigil_crds::API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn client_for(server: &str, ca_pem: &str, token: &str) -> anyhow::Result<Client> {
    let mut config = Config::new(server.parse()?);
    config.root_cert = Some(vec![pem_to_der(ca_pem)?]);
    config.auth_info.token = Some(token.to_string().into());
    Ok(Client::try_from(config)?)
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    BASE64.decode(body).context("invalid PEM")
}

fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("openssl is needed to make test certificates")?;
    if !status.success() {
        bail!("openssl {args:?} failed");
    }
    Ok(())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<Stdio> {
    Ok(Stdio::from(std::fs::File::create(dir.join(name))?))
}

fn start_etcd(assets: &Path, dir: &Path, port: u16) -> anyhow::Result<Child> {
    let peer = free_port();
    Command::new(assets.join("etcd"))
        .args(["--name", "vigil-e2e", "--data-dir"])
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &format!("http://127.0.0.1:{port}")])
        .args(["--advertise-client-urls", &format!("http://127.0.0.1:{port}")])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-cluster", &format!("vigil-e2e=http://127.0.0.1:{peer}")])
        .args(["--unsafe-no-fsync", "--log-level", "warn"])
        .stdout(log_file(dir, "etcd.log")?)
        .stderr(log_file(dir, "etcd.err")?)
        .spawn()
        .context("starting etcd")
}

/// What the test API servers audit: writes to Vigil's kinds (reports, policies, their statuses) and to
/// Leases, at Metadata level (who, what, when; no bodies).
pub const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
  resources:
  - group: vigil.dev
  - group: coordination.k8s.io
    resources: [leases]
- level: None
";

fn start_apiserver(assets: &Path, dir: &Path, port: u16, etcd_port: u16, extra: &[String]) -> anyhow::Result<Child> {
    let d = |f: &str| dir.join(f).display().to_string();
    Command::new(assets.join("kube-apiserver"))
        .args(["--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1"])
        .args(["--secure-port", &port.to_string()])
        .args(["--etcd-servers", &format!("http://127.0.0.1:{etcd_port}")])
        .args([
            "--cert-dir",
            &d("certs"),
            "--tls-cert-file",
            &d("serving.crt"),
            "--tls-private-key-file",
            &d("serving.key"),
        ])
        .args(["--authorization-mode", "RBAC", "--token-auth-file", &d("tokens.csv")])
        .args(["--service-account-issuer", "https://kubernetes.default.svc.cluster.local"])
        .args(["--service-account-key-file", &d("sa.pub"), "--service-account-signing-key-file", &d("sa.key")])
        .args(["--service-cluster-ip-range", "10.0.0.0/16", "--disable-admission-plugins", "ServiceAccount"])
        .args(["--endpoint-reconciler-type", "none", "--allow-privileged=true"])
        .args(["--audit-policy-file", &d("audit-policy.yaml"), "--audit-log-path", &d("audit.log")])
        .args(["--audit-log-mode", "blocking"])
        .args(extra)
        .stdout(log_file(dir, "apiserver.log")?)
        .stderr(log_file(dir, "apiserver.err")?)
        .spawn()
        .context("starting kube-apiserver")
}

fn start_controller_manager(assets: &Path, dir: &Path, kubeconfig: &Path) -> anyhow::Result<Child> {
    Command::new(assets.join("kube-controller-manager"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        // No serving port (nothing scrapes it) and no election (one instance per test cluster).
        .args(["--secure-port", "0", "--leader-elect=false", "--controllers", "*"])
        // Its default client limit (20 requests/s) would take many minutes to make the bench's thousands of
        // ReplicaSets and Pods; a test cluster has no other client to protect.
        .args(["--kube-api-qps", "500", "--kube-api-burst", "1000"])
        .arg("--root-ca-file")
        .arg(dir.join("ca.crt"))
        .stdout(log_file(dir, "controller-manager.log")?)
        .stderr(log_file(dir, "controller-manager.err")?)
        .spawn()
        .context("starting kube-controller-manager")
}

/// The `vigil` binary built with this test run (`VIGIL_BIN` overrides).
pub fn vigil_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("VIGIL_BIN") {
        return bin.into();
    }
    // Test binaries live in target/<profile>/deps; the vigil binary one level up.
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(Path::parent).map(|d| d.join("vigil")).expect("target/<profile>/vigil")
}

/// Installs what Vigil needs: its CRDs, its namespace and ServiceAccount, and exactly the RBAC of
/// `config/rbac`. Returns a token of that ServiceAccount.
pub async fn install_vigil(cluster: &TestCluster) -> anyhow::Result<String> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let root = repo_root();
    for (file, crd) in vigil_crds::all() {
        let _ = file;
        cluster.apply_yaml(&serde_json::to_string(&crd)?).await?;
    }
    wait_for_crds(cluster).await?;
    cluster.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: vigil-system}\n").await?;
    for file in ["service_account.yaml", "role.yaml", "role_binding.yaml", "leader_election_role.yaml"] {
        let text = std::fs::read_to_string(root.join("config/rbac").join(file))?;
        cluster.apply_yaml(&text).await.with_context(|| format!("config/rbac/{file}"))?;
    }
    let api: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), "vigil-system");
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let token = api.create_token_request("vigil", &PostParams::default(), &request).await?;
    token.status.map(|s| s.token).context("no token in the TokenRequest status")
}

async fn wait_for_crds(cluster: &TestCluster) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let discovery = cluster.discover().await?;
        let known =
            discovery.groups().any(|g| g.name() == vigil_crds::GROUP && g.recommended_kind("SecurityReport").is_some());
        if known {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the vigil.dev CRDs were not served within 30s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A running `vigil operator`, stopped (SIGTERM, then kill) when dropped.
pub struct Vigil {
    child: Child,
    pub metrics: String,
    pub log: PathBuf,
}

impl Vigil {
    /// Starts the operator with the ServiceAccount's token.
    pub fn start(cluster: &TestCluster, token: &str, identity: &str, extra: &[&str]) -> anyhow::Result<Vigil> {
        let dir = std::env::temp_dir().join(format!("vigil-e2e-op-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        cluster.write_kubeconfig(token, &kubeconfig)?;
        let port = free_port();
        let log = dir.join(format!("{identity}.log"));
        // The harness's defaults, unless `extra` sets the flag itself (clap refuses a flag given twice).
        let mut defaults: Vec<&str> = vec!["--lease-namespace", "vigil-system"];
        for (flag, value) in [("--debounce", "100ms"), ("--full-pass-interval", "30s")] {
            if !extra.contains(&flag) {
                defaults.extend([flag, value]);
            }
        }
        let child = Command::new(vigil_bin())
            .args(["operator", "--metrics-addr", &format!("127.0.0.1:{port}"), "--identity", identity])
            .args(defaults)
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(std::fs::File::create(dir.join(format!("{identity}.err")))?))
            .spawn()
            .with_context(|| format!("starting {}", vigil_bin().display()))?;
        Ok(Vigil { child, metrics: format!("http://127.0.0.1:{port}"), log })
    }

    /// The operator's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The operator's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of every series of a metric whose line starts with `name` (e.g.
    /// `vigil_report_writes_total{outcome="applied"`); 0 when the endpoint does not answer.
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, body) = http_get(&format!("{}/metrics", self.metrics)).await.unwrap_or_default();
        body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    }

    /// Waits until `/readyz` answers 200; the error carries the end of the operator's log.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        eventually(timeout, "vigil to be ready", || async {
            http_get(&format!("{}/readyz", self.metrics)).await.filter(|(s, _)| *s == 200)
        })
        .await
        .map(|_| ())
        .map_err(|e| {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            anyhow::anyhow!("{e}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        })
    }

    /// Sends a signal (`STOP`, `CONT`, `KILL`, ...) to the operator: freezes, thaws or kills it.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {} failed", self.child.id());
        Ok(())
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the operator with SIGTERM, as the kubelet would.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain HTTP GET on loopback (metrics, readiness): status code and body.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}
