//! `make bench`: the engine and `vigil scan` on a synthetic cluster of 10,000 workloads in 1,000
//! namespaces (with NetworkPolicies, RBAC, ServiceAccounts, LimitRanges, quotas and nodes).
//!
//! Prints a Markdown report: deserialize alone vs deserialize + evaluate, evaluations per second, and
//! `vigil scan` end to end on the cluster written as one YAML dump and as JSON (wall time and peak RSS)
//! next to a plain JSON parse of the same objects in a process of its own, and the ratio of the YAML scan
//! to that parse.
//!
//! Usage: `vigil-bench [--namespaces N] [--per-namespace N] [--vigil PATH]`;
//! `vigil-bench parse-json FILE` is the child used for the JSON baseline.
//!
//! `vigil-bench operator [--namespaces N] [--pods-per-namespace N] [--changes N] ...` benchmarks
//! `vigil operator` against a real API server instead (see `operator.rs`; needs `KUBEBUILDER_ASSETS`).

mod operator;
mod synthetic;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vigil_engine::frameworks::evaluate::{ComplianceTallies, SubjectChecks};
use vigil_engine::subject::SubjectKey;
use vigil_engine::{Index, Policy, audit_with_policy};

struct Args {
    namespaces: usize,
    per_namespace: usize,
    vigil: PathBuf,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args { namespaces: 1000, per_namespace: 10, vigil: default_vigil() };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "generate" => {
                // Child: write the dump files, so the measuring process never holds them.
                let dir = PathBuf::from(args.next().context("generate needs a folder")?);
                let namespaces: usize = args.next().context("namespaces")?.parse()?;
                let per_namespace: usize = args.next().context("per-namespace")?.parse()?;
                let cluster = synthetic::cluster(namespaces, per_namespace);
                std::fs::write(dir.join("cluster.json"), serde_json::to_string(&cluster)?)?;
                std::fs::write(dir.join("cluster.yaml"), serde_saphyr::to_string(&cluster)?)?;
                return Ok(None);
            }
            "parse-json" => {
                let file = args.next().context("parse-json needs a file")?;
                let text = std::fs::read_to_string(&file)?;
                let value: serde_json::Value = serde_json::from_str(&text)?;
                // Keep the value alive until here so the peak includes it.
                println!("{}", value["items"].as_array().map_or(0, Vec::len));
                return Ok(None);
            }
            "--namespaces" => parsed.namespaces = args.next().context("--namespaces N")?.parse()?,
            "--per-namespace" => parsed.per_namespace = args.next().context("--per-namespace N")?.parse()?,
            "--vigil" => parsed.vigil = args.next().context("--vigil PATH")?.into(),
            "--bench" => {} // passed by `cargo bench`
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Some(parsed))
}

fn default_vigil() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("vigil")
}

/// Wall time and peak resident memory of a child process.
struct ChildRun {
    wall: Duration,
    max_rss_kib: i64,
}

fn run_child(program: &Path, args: &[&str]) -> anyhow::Result<ChildRun> {
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled by wait4 for the child we just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if rc != pid {
        bail!("wait4 failed for {}", program.display());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) > 1 {
        bail!("{} {args:?} failed (status {status})", program.display());
    }
    Ok(ChildRun { wall, max_rss_kib: usage.ru_maxrss })
}

/// Runs of each child process.
const RUNS: usize = 3;

/// Repeated runs of one child: the best wall time is the figure; the worst says how noisy the machine was.
struct Runs(Vec<ChildRun>);

impl Runs {
    fn new() -> Runs {
        Runs(Vec::new())
    }
    fn push(&mut self, run: ChildRun) {
        self.0.push(run);
    }
    fn best(&self) -> Duration {
        self.0.iter().map(|r| r.wall).min().unwrap_or_default()
    }
    fn worst(&self) -> Duration {
        self.0.iter().map(|r| r.wall).max().unwrap_or_default()
    }
    fn max_rss_kib(&self) -> i64 {
        self.0.iter().map(|r| r.max_rss_kib).max().unwrap_or_default()
    }
    /// `best s (worst s)` and peak RSS, for a table row.
    fn row(&self) -> String {
        format!(
            "{:.2} s ({:.2} s) | {:.0} MiB",
            self.best().as_secs_f64(),
            self.worst().as_secs_f64(),
            mib(self.max_rss_kib())
        )
    }
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

/// The 1-minute load average, as /proc/loadavg says (`?` where there is none).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("operator") {
        return operator::run(operator::parse_args(std::env::args().skip(2))?);
    }
    let Some(args) = parse_args()? else { return Ok(()) };
    let dir = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let json_path = dir.join("cluster.json");
    let yaml_path = dir.join("cluster.yaml");
    let dir_arg = dir.to_string_lossy().to_string();
    let (ns_arg, per_arg) = (args.namespaces.to_string(), args.per_namespace.to_string());
    run_child(&std::env::current_exe()?, &["generate", &dir_arg, &ns_arg, &per_arg])?;

    // Children first, while this process is still small: a child's peak RSS counts the pages it shares
    // with its parent before exec.
    let yaml_arg = yaml_path.to_string_lossy().to_string();
    let json_arg = json_path.to_string_lossy().to_string();
    // Interleaved and repeated: other work on the machine slows each run differently; the best of
    // `RUNS` is the figure, the worst shows the spread.
    let bench = std::env::current_exe()?;
    let (mut scan, mut scan_table, mut scan_json_input, mut baseline, mut scan_framework) =
        (Runs::new(), Runs::new(), Runs::new(), Runs::new(), Runs::new());
    for _ in 0..RUNS {
        scan.push(run_child(&args.vigil, &["scan", &yaml_arg, "-o", "json"])?);
        scan_framework.push(run_child(&args.vigil, &["scan", &yaml_arg, "--framework", "cis", "-o", "json"])?);
        scan_table.push(run_child(&args.vigil, &["scan", &yaml_arg, "--color", "never"])?);
        scan_json_input.push(run_child(&args.vigil, &["scan", &json_arg, "-o", "json"])?);
        baseline.push(run_child(&bench, &["parse-json", &json_arg])?);
    }
    let yaml_len = std::fs::metadata(&yaml_path)?.len();
    let json = std::fs::read_to_string(&json_path)?;
    std::fs::remove_dir_all(&dir).ok();
    let objects = serde_json::from_str::<serde_json::Value>(&json)?["items"].as_array().map_or(0, Vec::len);

    let policy = Policy::default();
    let now = jiff::Timestamp::now();
    let load = |text: &str| Index::from_yaml(text).unwrap_or_else(|e| panic!("{e}"));
    let (deserialize, index) = best_of(3, || load(&json));
    let (evaluate, reports) = best_of(3, || audit_with_policy(&index, &policy, now));
    let workloads = index.deployments.len();
    let (plain_parse, _) = best_of(3, || serde_json::from_str::<serde_json::Value>(&json).map(|v| v.is_object()));
    let sizes: Vec<usize> = reports.iter().map(|r| serde_json::to_vec(&r.to_json()).map_or(0, |b| b.len())).collect();
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let median_report = sorted.get(sorted.len() / 2).copied().unwrap_or(0);

    // What the operator does after each `cluster` report with every framework enabled: per-control verdicts
    // from the check states it keeps per subject.
    let mut tallies = ComplianceTallies::default();
    for report in &reports {
        tallies.set(SubjectKey::of(report.subject()), SubjectChecks::of(report.status()));
    }
    let state_bytes: usize = reports.iter().map(|r| SubjectChecks::of(r.status()).states().count() * 2).sum();
    let minor = vigil_engine::frameworks::pss::minor_judged(&index);
    let (judge_all, judged) = best_of(3, || {
        let compliance = tallies.compliance();
        vigil_engine::frameworks::all().map(|f| compliance.judge(f, f.version_judged(&index), minor))
    });
    let failing_listed: usize = judged.iter().flat_map(|r| &r.controls).map(|c| c.failing.len()).sum();

    let secs = |d: Duration| d.as_secs_f64();
    println!("## Engine ({} namespaces, {} workloads, {objects} objects)\n", args.namespaces, workloads);
    println!("| measure | value |\n| --- | --- |");
    println!(
        "| plain JSON parse to `serde_json::Value` ({:.1} MB) | {:.3} s |",
        json.len() as f64 / 1e6,
        secs(plain_parse)
    );
    println!("| deserialize alone (JSON text -> typed objects -> index) | {:.3} s |", secs(deserialize));
    println!("| evaluate alone ({} reports) | {:.3} s |", reports.len(), secs(evaluate));
    println!("| deserialize + evaluate | {:.3} s |", secs(deserialize + evaluate));
    println!("| evaluate / deserialize | {:.2} |", secs(evaluate) / secs(deserialize));
    println!("| subjects evaluated per second | {:.0} |", reports.len() as f64 / secs(evaluate));
    println!("| median report size (JSON) | {:.2} KiB |", median_report as f64 / 1024.0);
    println!("| largest report size (JSON) | {:.2} KiB |", sorted.last().copied().unwrap_or(0) as f64 / 1024.0);
    println!(
        "| compliance verdicts of all four frameworks from {} subjects' check states ({failing_listed} failing \
         subject entries) | {:.3} s |",
        tallies.len(),
        secs(judge_all)
    );
    println!(
        "| check states kept per subject for them (mean, payload only) | {:.0} B |",
        state_bytes as f64 / reports.len().max(1) as f64
    );
    println!("\n## `vigil scan` end to end (one {:.1} MB YAML dump)\n", yaml_len as f64 / 1e6);
    println!(
        "Each run {RUNS} times, interleaved; wall time is the best run (the worst in brackets). Load average at the \
         start: {}.\n",
        load_average()
    );
    println!("| run | wall time (worst) | peak RSS |\n| --- | --- | --- |");
    println!("| `vigil scan dump.yaml -o json` | {} |", scan.row());
    println!("| `vigil scan dump.yaml` (table) | {} |", scan_table.row());
    println!("| `vigil scan dump.json -o json` (the same objects as JSON) | {} |", scan_json_input.row());
    println!("| `vigil scan dump.yaml --framework cis -o json` | {} |", scan_framework.row());
    println!("| plain JSON parse of the same objects (own process) | {} |", baseline.row());
    let ratio = |runs: &Runs| secs(runs.best()) / secs(baseline.best());
    println!(
        "\n**YAML scan / plain JSON parse: {:.2}x** (goal: under 2x); JSON scan / plain JSON parse: {:.2}x; YAML \
         scan peak RSS {:.0} MiB (goal: under 300 MiB).",
        ratio(&scan),
        ratio(&scan_json_input),
        mib(scan.max_rss_kib())
    );
    Ok(())
}
