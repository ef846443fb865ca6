//! The image builder (`image/build.py`, run by `make image`) is reproducible and builds what
//! config/manager pins: the same binary gives the same manifest digest, byte for byte, from two builds;
//! every entry is root-owned with the epoch as its time (but the nonroot home); the config runs `/vigil`
//! as 65532; `pin` writes the digest the kustomization then carries. Built here with no Debian packages (an
//! empty lock), so the test needs no network; `make image` adds the locked packages and runs the binary in
//! the image (docs/operator.md, "The image").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// python3, or None (outside CI the test then says it skipped; under CI=true that is a failure).
fn python() -> Option<&'static str> {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        let why = "no python3 on PATH (.ci/run installs it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "cannot run under CI=true: {why}");
        println!("skipped the image builder test: {why}");
        return None;
    }
    Some("python3")
}

fn builder(python: &str, args: &[&str]) -> Output {
    Command::new(python).arg(root().join("image/build.py")).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vigil-image-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build(python: &str, dir: &Scratch, binary: &str, out: &str) -> String {
    let (lock, debs) = (dir.path("empty.lock"), dir.path("debs"));
    let args = ["build", "--lock", &lock, "--debs", &debs, "--binary", binary, "--out", out, "--tag", "0.1.0"];
    let mut args = args.to_vec();
    let tar = format!("{out}.tar");
    args.extend(["--tar", &tar, "--print-digest"]);
    ok(builder(python, &args)).trim().to_string()
}

#[test]
fn the_image_is_reproducible_and_runs_vigil_as_nonroot() {
    let Some(python) = python() else { return };
    let dir = Scratch::new("build");
    std::fs::write(dir.path("empty.lock"), "# no packages\n").unwrap();
    std::fs::write(dir.path("vigil"), b"the binary").unwrap();
    std::fs::write(dir.path("other"), b"another binary").unwrap();

    let first = build(python, &dir, &dir.path("vigil"), &dir.path("one"));
    // A second build, later (other file times), into another directory: the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build(python, &dir, &dir.path("vigil"), &dir.path("two"));
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
    assert_eq!(first, second);
    let tar = |name: &str| std::fs::read(dir.path(&format!("{name}.tar"))).unwrap();
    assert!(tar("one") == tar("two"), "the layout tars differ");
    // Another binary, another digest.
    let other = build(python, &dir, &dir.path("other"), &dir.path("three"));
    assert_ne!(first, other);

    ok(builder(python, &["verify", "--image", &dir.path("one"), "--no-run"]));
    let listing: Value = serde_json::from_str(&ok(builder(python, &["list", "--image", &dir.path("one")]))).unwrap();
    assert_eq!(listing["digest"], first.as_str());
    let config = &listing["config"]["config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/vigil"]));
    assert_eq!(listing["config"]["created"], "1970-01-01T00:00:00Z");
    let layers = listing["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "base and binary");
    let entries = |layer: &Value| layer["entries"].as_array().unwrap().clone();
    let app = entries(&layers[1]);
    assert_eq!(app.len(), 1);
    assert_eq!(app[0]["path"], "vigil");
    assert_eq!(app[0]["mode"], 0o755);
    let binary_sha256: String = Sha256::digest(b"the binary").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(app[0]["sha256"], binary_sha256.as_str());
    let base = entries(&layers[0]);
    let entry = |path: &str| base.iter().find(|e| e["path"] == path).unwrap_or_else(|| panic!("no {path}: {base:?}"));
    let passwd = entry("etc/passwd");
    assert_eq!(passwd["mode"], 0o644);
    assert_eq!(entry("home/nonroot")["uid"], 65532);
    assert_eq!(entry("home/nonroot")["mode"], 0o700);
    assert_eq!(entry("tmp")["mode"], 0o1777);
    for e in base.iter().chain(&app) {
        assert_eq!(e["mtime"], 0, "{e}");
        if e["path"] != "home/nonroot" {
            assert_eq!((&e["uid"], &e["gid"]), (&Value::from(0), &Value::from(0)), "{e}");
        }
    }
    let paths: Vec<&str> = base.iter().map(|e| e["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries in path order");
}

#[test]
fn pin_writes_the_digest_the_kustomization_carries() {
    let Some(python) = python() else { return };
    let dir = Scratch::new("pin");
    std::fs::write(dir.path("empty.lock"), "").unwrap();
    std::fs::write(dir.path("vigil"), b"the binary").unwrap();
    let digest = build(python, &dir, &dir.path("vigil"), &dir.path("image"));
    let kustomization = dir.path("kustomization.yaml");
    std::fs::copy(root().join("config/manager/kustomization.yaml"), &kustomization).unwrap();
    let image = dir.path("image");
    let pin = |check: bool| {
        let mut args = vec!["pin", "--image", &image, "--kustomization", &kustomization];
        if check {
            args.push("--check");
        }
        builder(python, &args)
    };
    // The repository's pin is a real image's, not this test binary's: --check says so and exits 2.
    let differs = pin(true);
    assert_eq!(differs.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&differs.stderr).contains(&format!("this tree builds {digest}")));
    ok(pin(false));
    let text = std::fs::read_to_string(&kustomization).unwrap();
    assert!(
        text.contains(&format!("- name: ghcr.io/vigil-dev/vigil\n  newTag: 0.1.0\n  digest: {digest}\n")),
        "{text}"
    );
    ok(pin(true));
}

#[test]
fn a_bad_lock_or_a_missing_package_is_a_clear_error() {
    let Some(python) = python() else { return };
    let dir = Scratch::new("errors");
    std::fs::write(dir.path("vigil"), b"the binary").unwrap();
    let run = |lock: &str| {
        std::fs::write(dir.path("lock"), lock).unwrap();
        let (lock, debs, binary, out) = (dir.path("lock"), dir.path("debs"), dir.path("vigil"), dir.path("out"));
        builder(python, &["build", "--lock", &lock, "--debs", &debs, "--binary", &binary, "--out", &out, "--tag", "t"])
    };
    let malformed = run("libc6 2.36\n");
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains(":1: expected `package version architecture sha256`"));
    let missing = run(&format!("libc6 2.36-9 amd64 {}\n", "0".repeat(64)));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("libc6_2.36-9_amd64.deb is missing"));
}
