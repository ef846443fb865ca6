//! `vigil checks`: the catalog as a table or JSON.

use std::io::Write;

use crate::cli::{ChecksArgs, ChecksFormat};

/// As `vigil scan` prints: a closed pipe ends quietly, a full disk is one clear error.
pub fn print(args: &ChecksArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(crate::render::Output::new(stdout.lock()));
    write_catalog(args, &mut out).map_err(crate::render::output_error)
}

fn write_catalog(args: &ChecksArgs, out: &mut impl Write) -> std::io::Result<()> {
    if let Some(name) = args.framework {
        let json = args.output == ChecksFormat::Json;
        crate::frameworks::write_controls(vigil_engine::frameworks::of(name), json, out)?;
        return out.flush();
    }
    let entries = vigil_engine::checks::docs::entries();
    match args.output {
        ChecksFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &entries)?;
            writeln!(out)?;
        }
        ChecksFormat::Table => {
            writeln!(
                out,
                "{:<32} {:>4}  {:<8}  {:<17}  {:<13}  {:<6}  {:<7}  {:<44}  TITLE",
                "ID", "RISK", "SEVERITY", "SUBJECT", "SCOPE", "SOURCE", "DEFAULT", "SEED ITEM"
            )?;
            for e in entries {
                let mut seed = e.seed_item.to_string();
                if seed.chars().count() > 44 {
                    seed = seed.chars().take(41).collect::<String>() + "...";
                }
                let subjects = e.subjects.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                let default = if e.enabled_by_default { "on" } else { "off" };
                writeln!(
                    out,
                    "{:<32} {:>4}  {:<8}  {:<17}  {:<13}  {:<6}  {:<7}  {:<44}  {}",
                    e.id,
                    e.risk,
                    e.severity.as_str(),
                    subjects,
                    e.scope.as_str(),
                    e.source,
                    default,
                    seed,
                    e.title
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
