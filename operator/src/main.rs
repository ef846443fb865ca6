//! `vigil`: audits Kubernetes manifests and clusters against a security checklist.

mod checks;
mod cli;
mod cluster;
mod controller;
mod frameworks;
mod render;
mod scan;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Scan(args) => scan::run(args),
        cli::Command::Checks(args) => checks::print(&args).map(|_| ExitCode::SUCCESS),
        cli::Command::Operator(args) => controller::run(args).map(|_| ExitCode::SUCCESS),
        cli::Command::Crds => print_crds().map(|_| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // `vigil crds | head -1`: the reader left; that is no error of ours.
        Err(err) if err.chain().any(is_broken_pipe) => ExitCode::SUCCESS,
        Err(err) => {
            render::warn(&format!("vigil: {err:#}"));
            ExitCode::from(scan::EXIT_UNUSABLE)
        }
    }
}

fn print_crds() -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (_, crd) in vigil_crds::all() {
        write!(out, "---\n{}", vigil_crds::to_yaml(&crd)).map_err(render::output_error)?;
    }
    out.flush().map_err(render::output_error)?;
    Ok(())
}

fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let kind = err
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind)
        .or_else(|| err.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
    kind == Some(std::io::ErrorKind::BrokenPipe)
}
