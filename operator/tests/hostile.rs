//! The `vigil` binary against hostile or odd input and flags: no crash (exit 101/134), bounded, nothing
//! printed raw, nothing dropped silently (issue 13).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vigil() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command.current_dir(root()).env("VIGIL_NOW", "2026-11-27T00:00:00Z");
    command
}

fn run(args: &[&str]) -> Output {
    vigil().args(args).output().unwrap()
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child =
        vigil().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `sh -c script` in the repository root with the binary as `$V`; returns (status, stderr).
fn shell(script: &str) -> (Option<i32>, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(root())
        .env("V", env!("CARGO_BIN_EXE_vigil"))
        .env("VIGIL_NOW", "2026-11-27T00:00:00Z")
        .output()
        .unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_usual_status() {
    for command in [
        "$V crds",
        "$V checks",
        "$V checks -o json",
        "$V scan examples",
        "$V scan examples -o json",
        "$V scan examples -o yaml",
        "$V scan examples -o sarif",
        "$V scan examples -o policyreport",
        "$V scan examples -o html",
    ] {
        // `head -c1` leaves at once; a large output then meets a closed pipe.
        let (status, err) =
            shell(&format!("{command} | head -c1 >/dev/null; echo \"status ${{PIPESTATUS:-}}\" >&2; exit 0"));
        assert_eq!(status, Some(0));
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("vigil:"),
            "{command}: {err}"
        );
        // The command's own status: write it from a subshell that waits for it.
        let (status, err) = shell(&format!("( {command}; echo $? >&2 ) | head -c1 >/dev/null"));
        assert_eq!(status, Some(0));
        assert_eq!(err.trim().lines().last(), Some("0"), "{command}: {err}");
    }
    let (_, err) =
        shell("( $V scan examples/insecure-app --fail-on critical -o sarif; echo $? >&2 ) | head -c1 >/dev/null");
    assert_eq!(err.trim().lines().last(), Some("1"), "--fail-on still decides the status: {err}");
}

#[test]
fn a_full_disk_is_one_clear_error() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    for command in [
        "$V crds",
        "$V checks",
        "$V checks -o json",
        "$V scan examples",
        "$V scan examples -o sarif",
        "$V scan examples -o html",
    ] {
        let (status, err) = shell(&format!("{command} > /dev/full"));
        assert_eq!(status, Some(2), "{command}: {err}");
        assert_eq!(err.trim(), "vigil: cannot write the output: No space left on device (os error 28)", "{command}");
    }
}

#[test]
fn numeric_flags_are_refused_at_parse_time() {
    let cases: &[&[&str]] = &[
        &["--write-rate", "1e10"],
        &["--write-rate", "inf"],
        &["--write-rate", "0"],
        &["--write-rate=-1"],
        &["--write-rate", "NaN"],
        &["--concurrency", "0"],
        &["--concurrency", "99999999999999999999"],
        &["--full-pass-interval", "0"],
        &["--full-pass-interval", "99999999999999999h"],
        &["--debounce", "18446744073709551615h"],
        &["--metrics-addr", "0.0.0.0:70000"],
        &["--metrics-addr", "0.0.0.0:-1"],
    ];
    for args in cases {
        let out = run(&[&["operator"], *args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.starts_with("error: invalid value") && !err.contains("panicked"), "{args:?}: {err}");
    }
    for size in ["0", "2Ti", "12XB", "-5"] {
        let out = run(&["scan", "examples", &format!("--max-input-size={size}")]);
        assert_eq!(out.status.code(), Some(2), "{size}: {}", text(&out.stderr));
    }
}

#[test]
fn endless_input_ends_at_the_size_cap() {
    let out = run(&["scan", "/dev/zero", "--max-input-size", "8Mi"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("larger than the input limit of 8388608 bytes (--max-input-size)"), "{err}");
    let out = run_stdin(&["scan", "-", "--max-input-size", "1k"], &vec![b'#'; 5000]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-: larger than the input limit of 1000 bytes"), "{}", text(&out.stderr));
}

#[test]
fn terminal_controls_in_input_are_escaped() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"evil\\e[31m\\a\\r\\nSummary: 0 reports\\u202e\"\n  namespace: \"ns\\e]8;;http://x\\e\\\\\"\nspec:\n  containers: [{name: \"c\\e[2J\", image: \"nginx:1.27\", securityContext: {privileged: true}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: \"bad\\e[31m\"}\nspec: {containers: 7}\n";
    let out = run_stdin(&["scan", "-", "--color", "never"], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for stream in [text(&out.stdout), text(&out.stderr)] {
        assert!(!stream.contains('\x1b') && !stream.contains('\x07') && !stream.contains('\r'), "{stream}");
        assert!(!stream.contains('\u{202e}'), "{stream}");
        assert!(!stream.lines().any(|l| l.starts_with("Summary: 0")), "a forged line: {stream}");
    }
    assert!(
        text(&out.stdout).contains("evil\\u{1b}[31m\\u{7}\\r\\nSummary: 0 reports\\u{202e}"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("bad\\u{1b}[31m"), "{}", text(&out.stderr));
}

#[test]
fn sarif_uris_are_percent_encoded_references() {
    let dir = std::env::temp_dir().join(format!("vigil-sarif-{}", std::process::id()));
    let sub = dir.join("a dir#1");
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("pod?[x]%.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: \"nginx:1.27\", securityContext: {privileged: true}}]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["scan", ".", "-o", "sarif"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].clone();
    assert_eq!(uri, "a%20dir%231/pod%3F%5Bx%5D%25.yaml");
    // An absolute path outside the working folder is a file: URI.
    let out = run(&["scan", file.to_str().unwrap(), "-o", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].clone();
    assert!(
        uri.as_str().unwrap().starts_with("file:///")
            && uri.as_str().unwrap().ends_with("/a%20dir%231/pod%3F%5Bx%5D%25.yaml"),
        "{uri}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME, namespace: x}\nspec:\n  containers: [{name: c, image: \"nginx:1.27\"}]\n";

fn pod(name: &str) -> String {
    POD.replace("NAME", name)
}

#[test]
fn bad_files_and_documents_are_reported_and_the_scan_goes_on() {
    let dir = std::env::temp_dir().join(format!("vigil-odd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain(pod("utf16").encode_utf16().flat_map(u16::to_le_bytes)).collect();
    std::fs::write(dir.join("01-utf16.yaml"), utf16).unwrap();
    std::fs::write(dir.join("02-latin1.yaml"), b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n").unwrap();
    std::fs::write(dir.join("03-binary.yaml"), b"\x7fELF\x02\x01\x01\0\0\0").unwrap();
    std::fs::write(dir.join("04-cr.yaml"), format!("{}---\n{}", pod("cr1"), pod("cr2")).replace('\n', "\r")).unwrap();
    let stream = format!(
        "{}\n{}\n{}\n",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j1","namespace":"x"},"spec":{"containers":[]}}"#,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"broken" "namespace":"x"}}"#,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j3","namespace":"x"},"spec":{"containers":[]}}"#
    );
    std::fs::write(dir.join("05-stream.json"), stream).unwrap();
    let mixed = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"m1\",\"namespace\":\"x\"}}}}\n---\n{}",
        pod("m2")
    );
    std::fs::write(dir.join("06-mixed.yaml"), mixed).unwrap();
    std::fs::write(
        dir.join("07-nested.yaml"),
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {}\n",
            "{apiVersion: v1, kind: Pod, metadata: {name: nested, namespace: x}, spec: {containers: []}}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("08-noname.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n").unwrap();
    std::fs::write(dir.join("09-dup.yaml"), pod("j1")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root().join("examples/insecure-app/storefront.yaml"), dir.join("10-link.yaml")).unwrap();

    let out = run(&["scan", dir.to_str().unwrap(), "-o", "json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().filter_map(|i| i["spec"]["subject"]["name"].as_str()).collect();
    for name in ["utf16", "cr1", "cr2", "j1", "j3", "m1", "m2", "nested", "storefront"] {
        assert!(names.contains(&name), "{name} missing from {names:?}\n{err}");
    }
    assert!(err.contains("02-latin1.yaml: is not UTF-8 text (an invalid byte at line 3"), "{err}");
    assert!(err.contains("03-binary.yaml: is binary data"), "{err}");
    assert!(err.contains("05-stream.json: document 2 (line 2): invalid JSON"), "{err}");
    assert!(err.contains("08-noname.yaml: document 1 (line 1): Pod has no metadata.name"), "{err}");
    assert!(
        err.contains("Pod x/j1 is defined twice: ") && err.contains("05-stream.json document 1 (line 1) and "),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("saphyr") && !err.contains("hint"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn process_substitution_and_fifos_are_read() {
    let (status, err) = shell("$V scan <(cat examples/insecure-app/storefront.yaml) -o json >/dev/null");
    // `sh` may lack process substitution; bash has it.
    if err.contains("Syntax error") || err.contains("syntax error") {
        let out = Command::new("bash")
            .args(["-c", "$V scan <(cat examples/insecure-app/storefront.yaml) -o json >/dev/null"])
            .current_dir(root())
            .env("V", env!("CARGO_BIN_EXE_vigil"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    } else {
        assert_eq!(status, Some(0), "{err}");
    }
}

#[test]
fn policy_and_exception_folders_are_read_and_unknown_ids_refused() {
    let dir = std::env::temp_dir().join(format!("vigil-dirs-{}", std::process::id()));
    let (policies, exceptions) = (dir.join("policies"), dir.join("exceptions"));
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::create_dir_all(&exceptions).unwrap();
    std::fs::copy(root().join("operator/tests/policy/policy.yaml"), policies.join("policy.yaml")).unwrap();
    std::fs::copy(root().join("operator/tests/policy/exceptions.yaml"), exceptions.join("exceptions.yaml")).unwrap();
    let shop = root().join("operator/tests/policy/shop.yaml");
    let args = |e: &Path| {
        vec![
            "scan".to_string(),
            shop.display().to_string(),
            "--policy".into(),
            policies.display().to_string(),
            "--exceptions".into(),
            e.display().to_string(),
            "-o".into(),
            "json".into(),
        ]
    };
    let out = vigil().args(args(&exceptions)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"waivedBy\": \"shop/legacy-agent\""));

    std::fs::write(
        exceptions.join("typo.yaml"),
        "apiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: typo, namespace: shop}\nspec: {checks: [privileged-containr], reason: r, owner: o}\n",
    )
    .unwrap();
    let out = vigil().args(args(&exceptions)).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("exception \"shop/typo\" is invalid: spec.checks names unknown check \"privileged-containr\""),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
