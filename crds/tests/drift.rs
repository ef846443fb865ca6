//! The CRD YAML under `crds/` must be exactly what the types generate.
//! Regenerate with `make crds` (sets `VIGIL_UPDATE_CRDS=1`).

use std::path::PathBuf;

#[test]
fn crd_yaml_matches_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("VIGIL_UPDATE_CRDS").is_some();
    let mut drifted = Vec::new();
    for (file, crd) in vigil_crds::all() {
        let yaml = vigil_crds::to_yaml(&crd);
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &yaml).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != yaml {
            drifted.push(file);
        }
    }
    assert!(drifted.is_empty(), "CRD YAML drifted from the Rust types: {drifted:?}; run `make crds`");
}

#[test]
fn schemas_are_structural() {
    // A real API server rejects `{}` schemas without a type unless they preserve unknown fields; catch it early.
    fn walk(path: &str, v: &serde_json::Value, bad: &mut Vec<String>) {
        if let Some(obj) = v.as_object() {
            let is_schema = obj.contains_key("properties") || obj.contains_key("items") || obj.contains_key("type");
            let opaque = obj.get("x-kubernetes-preserve-unknown-fields").is_some()
                || obj.contains_key("x-kubernetes-int-or-string");
            if is_schema && !obj.contains_key("type") && !opaque {
                bad.push(path.to_string());
            }
            for key in ["anyOf", "oneOf", "allOf"] {
                if obj.contains_key(key) && !obj.contains_key("type") {
                    bad.push(format!("{path}.{key}"));
                }
            }
            for (k, child) in obj {
                walk(&format!("{path}.{k}"), child, bad);
            }
        }
    }
    for (file, crd) in vigil_crds::all() {
        let json = serde_json::to_value(&crd).unwrap();
        let mut bad = Vec::new();
        walk(file, &json["spec"]["versions"][0]["schema"]["openAPIV3Schema"], &mut bad);
        assert!(bad.is_empty(), "non-structural schema nodes in {file}: {bad:?}");
    }
}
