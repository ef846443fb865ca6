//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vigil_crds::Severity;

#[derive(Parser, Debug)]
#[command(name = "vigil", version, about = "Audits Kubernetes clusters and manifests against a security checklist")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Audit manifests or cluster dumps (files, folders, `-` for stdin) as one cluster snapshot.
    Scan(ScanArgs),
    /// List the check catalog.
    Checks(ChecksArgs),
    /// Print the CustomResourceDefinitions Vigil uses.
    Crds,
    /// Run the operator: keep SecurityReports true for the cluster (in a pod, or on the current kubeconfig
    /// context).
    Operator(OperatorArgs),
}

#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// Only audit these namespaces (repeatable or comma-separated; default: all).
    #[arg(long = "namespace", value_delimiter = ',', env = "VIGIL_NAMESPACES")]
    pub namespaces: Vec<String>,
    /// Never audit these namespaces (repeatable or comma-separated).
    #[arg(long = "exclude-namespace", value_delimiter = ',', env = "VIGIL_EXCLUDE_NAMESPACES")]
    pub exclude_namespaces: Vec<String>,
    /// Interval of the full pass that catches time-based changes (end-of-life dates, expiries).
    #[arg(long, default_value = "10m", value_parser = parse_interval, env = "VIGIL_FULL_PASS_INTERVAL")]
    pub full_pass_interval: std::time::Duration,
    /// Most report writes (apply or delete) per second. The pace adapts below it: it starts at half,
    /// halves when the API server refuses writes for load (429/503, waiting its `Retry-After`), slows
    /// when its answers get slower, and climbs back while they stay fast.
    #[arg(long, default_value_t = 200.0, value_parser = parse_write_rate, env = "VIGIL_WRITE_RATE")]
    pub write_rate: f64,
    /// Subjects evaluated and written concurrently (writes in flight: enough that the write pace, not the
    /// API server's answer time, bounds a first pass).
    #[arg(long, default_value_t = 8, value_parser = parse_concurrency, env = "VIGIL_CONCURRENCY")]
    pub concurrency: usize,
    /// How long a burst of changes is collected before it is evaluated.
    #[arg(long, default_value = "500ms", value_parser = parse_duration, env = "VIGIL_DEBOUNCE")]
    pub debounce: std::time::Duration,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", env = "VIGIL_METRICS_ADDR")]
    pub metrics_addr: std::net::SocketAddr,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "VIGIL_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "vigil-leader", env = "VIGIL_LEASE_NAME")]
    pub lease_name: String,
    /// This replica's identity in the Lease (default: the pod name, else host name and process id).
    #[arg(long, env = "VIGIL_IDENTITY")]
    pub identity: Option<String>,
    /// How long a Lease holds without renewal: a standby takes over after seeing it unchanged this long.
    #[arg(long, default_value = "15s", value_parser = parse_interval, env = "VIGIL_LEASE_DURATION")]
    pub lease_duration: std::time::Duration,
    /// The leader stops writing when it could not renew the Lease for this long (less than the lease
    /// duration).
    #[arg(long, default_value = "10s", value_parser = parse_interval, env = "VIGIL_RENEW_DEADLINE")]
    pub renew_deadline: std::time::Duration,
    /// How often the leader renews and a standby looks at the Lease.
    #[arg(long, default_value = "2s", value_parser = parse_interval, env = "VIGIL_RETRY_PERIOD")]
    pub retry_period: std::time::Duration,
    /// Bound of every API request but watches (connect, send, response).
    #[arg(long, default_value = "30s", value_parser = parse_interval, env = "VIGIL_REQUEST_TIMEOUT")]
    pub request_timeout: std::time::Duration,
    /// `/healthz` fails when subjects are queued and the reconcile loop has not progressed for this long.
    #[arg(long, default_value = "5m", value_parser = parse_interval, env = "VIGIL_STALL_TIMEOUT")]
    pub stall_timeout: std::time::Duration,
    /// This install's name, in the `vigil.dev/instance` label of every report it writes: an install only
    /// reads, heals and deletes reports with its own instance, so two installs (e.g. scoped to different
    /// namespaces) never touch each other's reports. Give each install its own.
    #[arg(long, default_value = "vigil", value_parser = parse_instance, env = "VIGIL_INSTANCE")]
    pub instance: String,
    /// Log as JSON lines.
    #[arg(long, env = "VIGIL_LOG_JSON")]
    pub log_json: bool,
    /// Also write each report as a policy report for Policy Reporter, Kyverno's and Kubewarden's tools:
    /// OpenReports `Report` / `ClusterReport` (openreports.io/v1alpha1), wg-policy `PolicyReport` /
    /// `ClusterPolicyReport` (wgpolicyk8s.io/v1alpha2), both, or none. Each format is written while its
    /// CRDs are installed (found through discovery, at start or later). A bare `--policy-reports` (the
    /// old switch) means `wgpolicyk8s`.
    #[arg(
        long,
        value_enum,
        default_value_t = PolicyReports::Openreports,
        num_args = 0..=1,
        default_missing_value = "wgpolicyk8s",
        env = "VIGIL_POLICY_REPORTS"
    )]
    pub policy_reports: PolicyReports,
    /// Which results policy reports carry: `failing` (fail and error; the summary still counts passes and
    /// skips) or `all`.
    #[arg(long, value_enum, default_value_t = PolicyReportResults::Failing, env = "VIGIL_POLICY_REPORT_RESULTS")]
    pub policy_report_results: PolicyReportResults,
}

/// The policy-report formats the operator writes (`--policy-reports`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyReports {
    /// OpenReports (openreports.io/v1alpha1): Policy Reporter 3.2+, Kyverno 1.15+ (opt-in), Kubewarden.
    Openreports,
    /// wg-policy (wgpolicyk8s.io/v1alpha2), the legacy format. `true` is the old switch's value.
    #[value(alias = "true")]
    Wgpolicyk8s,
    Both,
    /// `false` is the old switch's value.
    #[value(alias = "false")]
    None,
}

/// Which results a policy report carries (`--policy-report-results`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyReportResults {
    /// fail and error (a check that could not be evaluated); pass and skip only in the summary.
    Failing,
    /// Every result, pass and skip (waived, not applicable) too.
    All,
}

impl From<PolicyReportResults> for vigil_engine::report::ResultFilter {
    fn from(results: PolicyReportResults) -> Self {
        match results {
            PolicyReportResults::Failing => vigil_engine::report::ResultFilter::Failing,
            PolicyReportResults::All => vigil_engine::report::ResultFilter::All,
        }
    }
}

/// A label value (at most 63 alphanumerics, `-`, `_`, `.`; alphanumeric at both ends).
fn parse_instance(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid { Ok(text.to_string()) } else { Err(format!("{text:?} is not a valid label value")) }
}

/// The longest duration a flag takes: a year (far beyond any sensible setting, far below what a timer
/// can hold).
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// `10m`, `30s`, `500ms`, `1h`; at most a year.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 10m or 500ms"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" | "" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    n.checked_mul(unit_ms)
        .map(std::time::Duration::from_millis)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| format!("{text:?} is longer than a year"))
}

/// A duration that is also a timer's period: not zero.
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{:?} is zero; an interval must be at least 1ms", text.trim()));
    }
    Ok(duration)
}

/// `1048576`, `64k`, `100M`, `512Mi`, `2Gi`: a size in bytes, at least 1 and at most 1 TiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a size like 512Mi, 2Gi or 1000000"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        other => return Err(format!("{text:?}: unknown unit {other:?} (k, M, G, Ki, Mi, Gi)")),
    };
    match n.checked_mul(factor) {
        Some(bytes) if (1..=1 << 40).contains(&bytes) => Ok(bytes),
        _ => Err(format!("{text:?} is out of range: from 1 byte to 1Ti")),
    }
}

/// Subjects at once: 1 to 1024.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number from 1 to 1024")),
    }
}

/// Report writes per second: a finite number from 0.01 (one write every 100 s) to 10000.
pub fn parse_write_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if !rate.is_finite() || !(0.01..=10_000.0).contains(&rate) {
        return Err(format!("{text:?} is out of range: writes per second go from 0.01 to 10000"));
    }
    Ok(rate)
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or folders (searched recursively for .yaml, .yml and .json); `-` reads stdin.
    #[arg(required_unless_present = "cluster", conflicts_with = "cluster", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Audit the live cluster of the kubeconfig's current context instead of files: lists (read-only,
    /// paginated) every kind Vigil reads, with the operator's RBAC; a kind it may not list makes the checks
    /// that read it Error. Exit 2 when the cluster cannot be reached.
    #[arg(long, conflicts_with_all = ["whole_cluster", "kube_version"])]
    pub cluster: bool,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file to use (default: KUBECONFIG, else ~/.kube/config, else in-cluster config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// With --cluster: only audit these namespaces (repeatable or comma-separated; default: all).
    #[arg(long = "namespace", value_name = "NAME", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// With --cluster: never audit these namespaces (repeatable or comma-separated).
    #[arg(long = "exclude-namespace", value_name = "NAME", value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ScanFormat::Table)]
    pub output: ScanFormat,
    /// With -o openreports or -o policyreport: which results each report carries.
    #[arg(long, value_enum, default_value_t = PolicyReportResults::Failing)]
    pub policy_report_results: PolicyReportResults,
    /// Exit 1 when a failing finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Judge the input as a whole cluster even when it is not recognised as a dump of one (see
    /// docs/checks.md, "Scope"): checks that need the whole cluster then judge what it holds.
    #[arg(long)]
    pub whole_cluster: bool,
    /// Judge the input against a compliance framework (pss, cis, nsa, mitre): print each control's verdict
    /// (pass, fail with the failing subjects, not evaluated with the reason) instead of the reports; with
    /// `-o table` or `-o json`.
    #[arg(long, value_name = "NAME", value_parser = crate::frameworks::parse_framework)]
    pub framework: Option<vigil_crds::FrameworkName>,
    /// The API server version the manifests will run on (e.g. 1.31), for version checks.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// A file or folder of SecurityPolicy objects to judge by (repeatable). SecurityPolicies among the
    /// scanned manifests count too; each namespace is judged by the policy that wins for it.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// A file or folder of SecurityException / ClusterSecurityException objects (repeatable). Exceptions
    /// among the scanned manifests count too.
    #[arg(long = "exceptions", value_name = "PATH")]
    pub exceptions: Vec<PathBuf>,
    /// The largest input read, per file and for stdin (bytes, or with a unit: 512Mi, 2Gi, 100M, 64k). A
    /// larger one is reported and skipped. The default holds a dump of 100k typical objects.
    #[arg(long, value_name = "SIZE", default_value = "512Mi", value_parser = parse_size)]
    pub max_input_size: u64,
    /// Colour in the table output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Evaluation time (RFC 3339) instead of the clock: makes output reproducible.
    #[arg(long, value_name = "TIME", hide = true, env = "VIGIL_NOW")]
    pub now: Option<jiff::Timestamp>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    Table,
    Json,
    Yaml,
    Sarif,
    /// wg-policy PolicyReport / ClusterPolicyReport objects (YAML), as `--policy-reports wgpolicyk8s`
    /// writes them.
    Policyreport,
    /// OpenReports Report / ClusterReport objects (YAML), as `vigil operator` writes them.
    Openreports,
    /// One self-contained HTML page: score, charts, findings table.
    Html,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct ChecksArgs {
    #[arg(short, long, value_enum, default_value_t = ChecksFormat::Table)]
    pub output: ChecksFormat,
    /// List a compliance framework's controls (pss, cis, nsa, mitre) and the checks evidencing each.
    #[arg(long, value_name = "NAME", value_parser = crate::frameworks::parse_framework)]
    pub framework: Option<vigil_crds::FrameworkName>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksFormat {
    Table,
    Json,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse()
}
