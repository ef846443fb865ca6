//! The YAML fast path (`input::block_yaml`) against the full YAML parser: every document the fast path
//! accepts must have exactly the value the full parser gives it. Generated block YAML full of scalars
//! that look like numbers, booleans and nulls, literal blocks, comments and odd indentation; the fuzz
//! generator's documents; and every manifest in the repository.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_engine::input::block_yaml::{resolve_with, to_json};
use vigil_engine::input::loader::split_documents;

#[path = "fuzz/generate.rs"]
mod generate;
use generate::{Rng, document_stream};

fn options() -> serde_saphyr::Options {
    // As the loader sets them: a dump's size lifts the event and node budgets.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = usize::MAX;
    budget.max_nodes = usize::MAX;
    budget.max_total_scalar_bytes = usize::MAX;
    budget.max_reader_input_bytes = None;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

fn full(doc: &str) -> Result<Value, String> {
    serde_saphyr::from_str_with_options::<Value>(doc, options()).map_err(|e| e.to_string())
}

/// The fast path's value of `doc`, if it takes it; panics when that differs from the full parser's.
fn compare(doc: &str) -> bool {
    let resolve = resolve_with(|s| serde_saphyr::from_str_with_options::<Value>(s, options()));
    let Some(json) = to_json(doc, &resolve) else { return false };
    let fast: Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("invalid JSON ({e}) from {doc:?}:\n{json}"));
    match full(doc) {
        Ok(value) => assert_eq!(fast, value, "the fast path differs on {doc:?}"),
        Err(e) => panic!("the fast path took {doc:?}, which the full parser refuses: {e}"),
    }
    true
}

/// Scalars the fast path reads (some by asking the full parser) ...
const SCALARS: &[&str] = &[
    "web",
    "100m",
    "256Mi",
    "25%",
    "1.27",
    "10.96.0.1",
    "0",
    "-0",
    "7",
    "-12",
    "007",
    "0x1F",
    "0o17",
    "1_000",
    "1e3",
    "1.5e-3",
    ".5",
    "5.",
    "+1",
    "1:20",
    "true",
    "True",
    "TRUE",
    "false",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "nan",
    "inf",
    "deadbeef",
    "face",
    "a",
    "2026-10-01T12:00:00Z",
    "2001-12-14",
    "1-2",
    "1.2.3",
    "1e-3",
    "00000000-0000-4000-8000-000000000000",
    "http://example.com:8080/x",
    "a:b",
    "a#b",
    "a # comment",
    "-v",
    "--flag=1",
    "/etc/app",
    "_x",
    "$HOME",
    "é",
    "日本",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "123456789012345678",
    "99999999999999999999",
    "\"quoted\"",
    "\"a\\tb\\u00e9\\x41\\U0001F600\"",
    "\"\\\"\\\\\\/\"",
    "'single'",
    "'it''s'",
    "''",
    "\"\"",
    "{}",
    "[]",
    "\"trailing\"  # comment",
];

/// ... and scalars it leaves to the full parser (some are errors there).
const ODD_SCALARS: &[&str] = &[
    ".inf",
    "-.inf",
    ".nan",
    "Infinity",
    "\"bad \\q\"",
    "\"\\uD800\"",
    "{a: 1}",
    "[1, 2]",
    "&anchor x",
    "*alias",
    "!!str 1",
    "!custom x",
    "@x",
    "`x",
    "%x",
    "? x",
    ": x",
    "- x",
    "-",
    "x: y",
    "x:",
    "'unterminated",
    "\"unterminated",
    "a\tb",
    "{",
    "[}",
];

fn scalar(rng: &mut Rng) -> &'static str {
    if rng.below(16) == 0 { rng.pick(ODD_SCALARS) } else { rng.pick(SCALARS) }
}

const KEYS: &[&str] = &[
    "name",
    "image",
    "a",
    "b",
    "on",
    "y",
    "1",
    "true",
    "null",
    "~",
    "\"quoted key\"",
    "'single key'",
    "k8s.io/name",
    "<<",
    "with space",
    "x:y",
    "-dash",
    "?q",
    "é",
    "",
];

fn literal(rng: &mut Rng, indent: usize) -> String {
    let header = ["|", "|-", "|", "|-", ">", ">-", "|+", "|2", "| # c"][rng.below(9)];
    let pad = " ".repeat(indent + 2);
    let mut text = format!("{header}\n");
    for line in 0..rng.below(4) + 1 {
        match rng.below(6) {
            0 if line > 0 || rng.below(4) == 0 => text.push('\n'),
            1 => text.push_str(&format!("{pad}  more indented\n")),
            2 => text.push_str(&format!("{pad}# not a comment\n")),
            3 => text.push_str(&format!("{pad}{{\"json\": [1, 2]}}\n")),
            4 => text.push_str(&format!("{pad}tab\there\n")),
            _ => text.push_str(&format!("{pad}line {}\n", rng.below(100))),
        }
    }
    text
}

/// A value for a key or entry at column `indent`: inline (after `key: `) or on the lines below.
fn value(rng: &mut Rng, indent: usize, depth: usize) -> String {
    match rng.below(if depth > 2 { 3 } else { 7 }) {
        0 => format!("{}\n", scalar(rng)),
        // A plain scalar on several lines, as kubectl wraps long text.
        1 if rng.below(3) == 0 => {
            let pad = " ".repeat(indent + 1 + rng.below(3));
            let blank = if rng.below(3) == 0 { "\n" } else { "" };
            format!("{} words\n{pad}{}\n{blank}{pad}{} end\n", scalar(rng), scalar(rng), scalar(rng))
        }
        // Quoted scalars wrapped over lines, as kubectl prints long messages.
        1 if rng.below(2) == 0 => {
            let pad = " ".repeat(indent + rng.below(3));
            let blank = if rng.below(3) == 0 { "\n" } else { "" };
            let (first, second) =
                (rng.pick(&["a", "b c", "x  ", "\\t", "it''s", ""]), rng.pick(&["d", "\\\"q\\\"", " e"]));
            match rng.below(3) {
                0 => format!("\"{first}\n{pad}{second}\n{blank}{pad}end\"\n"),
                1 => format!("\"{first}\\\n{pad}{second}\"\n"),
                _ => format!("'{first}\n{blank}{pad}{second} end'\n").replace("\\", ""),
            }
        }
        1 => format!("{}\n", scalar(rng)),
        2 => literal(rng, indent),
        3 | 4 => format!("\n{}", mapping(rng, indent + 2, depth + 1)),
        5 => {
            let at = indent + 2 * rng.below(2);
            format!("\n{}", sequence(rng, at, depth + 1))
        }
        _ => {
            let at = indent + 1 + rng.below(3);
            format!(" # comment\n{}", mapping(rng, at, depth + 1))
        }
    }
}

fn mapping(rng: &mut Rng, indent: usize, depth: usize) -> String {
    let pad = " ".repeat(indent);
    let mut text = String::new();
    let mut used = Vec::new();
    for _ in 0..rng.below(4) + 1 {
        if rng.below(8) == 0 {
            text.push_str(&format!("{}# a comment\n", " ".repeat(rng.below(6))));
        }
        if rng.below(10) == 0 {
            text.push('\n');
        }
        let mut key =
            if rng.below(6) == 0 { rng.pick(KEYS) } else { ["name", "spec", "items", "kind", "x"][rng.below(5)] }
                .to_string();
        // Now and then a duplicate key (an error for the full parser); otherwise keys are distinct.
        if used.contains(&key) && rng.below(10) != 0 {
            key = format!("{key}{}", used.len());
        }
        used.push(key.clone());
        text.push_str(&format!("{pad}{key}: {}", value(rng, indent, depth)).replace(": \n", ":\n"));
    }
    text
}

fn sequence(rng: &mut Rng, indent: usize, depth: usize) -> String {
    let pad = " ".repeat(indent);
    let mut text = String::new();
    for _ in 0..rng.below(3) + 1 {
        match rng.below(4) {
            0 => text.push_str(&format!("{pad}- {}\n", scalar(rng))),
            1 => {
                // A mapping in the entry: first key after `- `, the others below it.
                let inner = mapping(rng, indent + 2, depth + 1);
                text.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
            }
            2 => text.push_str(&format!("{pad}-\n{}", mapping(rng, indent + 2, depth + 1))),
            _ => text.push_str(&format!("{pad}- {}", literal(rng, indent))),
        }
    }
    text
}

#[test]
fn the_fast_path_agrees_with_the_full_parser_on_generated_block_yaml() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut taken, cases) = (0, 4000);
    for _ in 0..cases {
        let doc = if rng.below(4) == 0 { sequence(&mut rng, 0, 0) } else { mapping(&mut rng, 0, 0) };
        taken += usize::from(compare(&doc));
    }
    // The generator makes many documents outside the subset (on purpose: about four in five), not only
    // those.
    assert!(taken * 10 >= cases, "the fast path took only {taken} of {cases} documents");
}

#[test]
fn the_fast_path_agrees_with_the_full_parser_on_fuzzed_streams() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut docs = 0;
    for _ in 0..1500 {
        let bytes = document_stream(&mut rng);
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        for (_, doc) in split_documents(text) {
            docs += 1;
            compare(doc);
        }
    }
    assert!(docs > 1000, "{docs}");
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn the_fast_path_takes_and_agrees_on_the_repositorys_manifests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples", "config", "crds", "engine/tests/fixtures", "operator/tests"] {
        yaml_files(&root.join(dir), &mut files);
    }
    let (mut docs, mut taken) = (0, 0);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (_, doc) in split_documents(&text) {
            docs += 1;
            taken += usize::from(compare(doc));
        }
    }
    assert!(docs > 100, "{docs} documents in {} files", files.len());
    // Hand-written manifests here mostly use flow style somewhere (`labels: {app: x}`), which the fast
    // path leaves to the full parser.
    assert!(taken >= 19, "the fast path took only {taken} of {docs} documents");
}
