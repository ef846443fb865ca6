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
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or folders (searched recursively for .yaml, .yml and .json); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ScanFormat::Table)]
    pub output: ScanFormat,
    /// Exit 1 when a failing finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// The API server version the manifests will run on (e.g. 1.31), for version checks.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// A file of SecurityPolicy objects to judge by (repeatable). SecurityPolicies among the scanned
    /// manifests count too; each namespace is judged by the policy that wins for it.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A file of SecurityException / ClusterSecurityException objects (repeatable). Exceptions among the
    /// scanned manifests count too.
    #[arg(long = "exceptions", value_name = "FILE")]
    pub exceptions: Vec<PathBuf>,
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
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksFormat {
    Table,
    Json,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse()
}
