//! `vigil`: audits Kubernetes manifests and clusters against a security checklist.

mod checks;
mod cli;
mod controller;
mod render;
mod scan;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Scan(args) => scan::run(args),
        cli::Command::Checks(args) => checks::print(&args).map(|_| ExitCode::SUCCESS),
        cli::Command::Operator(args) => controller::run(args).map(|_| ExitCode::SUCCESS),
        cli::Command::Crds => {
            for (_, crd) in vigil_crds::all() {
                print!("---\n{}", vigil_crds::to_yaml(&crd));
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        // `vigil scan ... | head`: the reader left; that is no error of ours.
        Err(err) if err.chain().any(is_broken_pipe) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vigil: {err:#}");
            ExitCode::from(scan::EXIT_UNUSABLE)
        }
    }
}

fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
