//! A bounded fuzz run of the `vigil scan` binary: generated and mutated manifests on stdin through every
//! printer. Asserts no crash (only exit 0, 1 or 2), nothing raw on a terminal, bounded output.

use std::io::Write;
use std::process::{Command, Stdio};

#[path = "../../engine/tests/fuzz/generate.rs"]
mod generate;
use generate::{Rng, document_stream};

#[test]
fn every_printer_survives_generated_input() {
    let cases: usize = std::env::var("VIGIL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(25);
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut reported = 0;
    for case in 0..cases {
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(3) {
            input.extend(document_stream(&mut rng));
            input.extend(b"\n---\n");
        }
        for format in ["table", "json", "yaml", "sarif", "policyreport", "html"] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
                .args(["scan", "-", "--color", "never", "--max-input-size", "1Mi", "-o", format])
                .env("VIGIL_NOW", "2026-11-27T00:00:00Z")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(&input).unwrap();
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let shown = String::from_utf8_lossy(&input);
            assert!(
                matches!(out.status.code(), Some(0..=2)),
                "case {case} -o {format}: {:?}\n{err}\n{shown}",
                out.status
            );
            assert!(!err.contains("panicked"), "case {case} -o {format}: {err}\n{shown}");
            assert!(!err.contains('\u{1b}') && !err.contains('\u{202e}'), "case {case}: raw control text on stderr");
            if format == "table" {
                let table = String::from_utf8_lossy(&out.stdout);
                assert!(!table.contains('\u{1b}') && !table.contains('\u{202e}'), "case {case}: raw control text");
            }
            if matches!(format, "json" | "sarif") && out.status.code() != Some(2) {
                serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .unwrap_or_else(|e| panic!("case {case} -o {format}: not JSON: {e}"));
            }
            // Reports are bounded by the catalog: a few hundred KB per subject at most.
            assert!(
                out.stdout.len() <= 64 * input.len() + (4 << 20),
                "case {case} -o {format}: {} bytes",
                out.stdout.len()
            );
            reported += usize::from(out.status.code() != Some(2));
        }
    }
    assert!(reported * 5 >= cases * 6, "only {reported} of {} runs produced a report", cases * 6);
}
