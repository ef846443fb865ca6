//! Fixture tests for the Pod Security Standards controls (`engine/src/pod_security/controls.rs`). Each
//! file in `tests/pod_security/` is one Pod; header comments say what Pod Security Admission decides:
//!
//! - `# kube-version: 1.32` — the standard's version;
//! - `# baseline: id, id` / `# restricted: id, id` — the pod-security-admission check ids the pod fails at
//!   that level (`none` when it passes);
//! - `# detail: text` — some violation's detail must contain the text (repeatable).

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use vigil_crds::PodSecurityLevel;
use vigil_engine::checks::support::pss::PssVersion;
use vigil_engine::pod_security::controls;

fn header<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("# {key}:");
    text.lines().filter_map(|l| l.strip_prefix(&prefix)).map(str::trim).collect()
}

fn expected_ids(text: &str, key: &str, file: &str) -> Vec<String> {
    let line = header(text, key);
    assert_eq!(line.len(), 1, "{file}: one `# {key}:` line");
    let mut ids: Vec<String> =
        line[0].split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && s != "none").collect();
    ids.sort();
    ids
}

#[test]
fn every_fixture_gets_the_controls_pod_security_admission_would_apply() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pod_security");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 25, "fixtures went missing: {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let version = header(&text, "kube-version");
        let minor: u32 = version[0].strip_prefix("1.").unwrap().parse().unwrap();
        let pss = PssVersion { minor, assumed: None };
        let pod: Pod = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let spec = pod.spec.as_ref().unwrap();
        let mut details = Vec::new();
        for (key, level) in [("baseline", PodSecurityLevel::Baseline), ("restricted", PodSecurityLevel::Restricted)] {
            let violations = controls::evaluate(level, &pss, &pod.metadata, spec);
            let mut got: Vec<String> = violations.iter().map(|v| v.control.to_string()).collect();
            got.sort();
            let want = expected_ids(&text, key, &file);
            if got != want {
                failures.push(format!("{file} at {key}: got {got:?}, want {want:?} ({violations:?})"));
            }
            details.extend(violations.into_iter().map(|v| v.detail));
        }
        for want in header(&text, "detail") {
            if !details.iter().any(|d| d.contains(want)) {
                failures.push(format!("{file}: no detail contains {want:?}; details: {details:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn privileged_level_runs_no_control() {
    let pod: Pod = serde_saphyr::from_str(
        "metadata: {name: p}\nspec: {hostNetwork: true, containers: [{name: a, securityContext: {privileged: true}}]}",
    )
    .unwrap();
    let pss = PssVersion { minor: 32, assumed: None };
    assert!(
        controls::evaluate(PodSecurityLevel::Privileged, &pss, &pod.metadata, pod.spec.as_ref().unwrap()).is_empty()
    );
    assert!(
        !controls::evaluate(PodSecurityLevel::Baseline, &pss, &pod.metadata, pod.spec.as_ref().unwrap()).is_empty()
    );
}
