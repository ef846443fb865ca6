//! The CRDs' validation rules (`x-kubernetes-validations`), evaluated client-side as the API server does at
//! apply time: the samples pass, and what the rules exist for is rejected with their messages.

use std::path::PathBuf;

use kube_cel::Validator;
use serde_json::{Value, json};

fn schema_of(kind: &str) -> Value {
    let (_, crd) =
        vigil_crds::all().into_iter().find(|(_, crd)| crd.spec.names.kind == kind).expect("a CRD of that kind");
    let crd = serde_json::to_value(&crd).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The messages of the rules the object breaks.
fn violations(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().unwrap();
    match Validator::new().validate(&schema_of(kind), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.as_slice().iter().map(|e| e.message.clone()).collect(),
    }
}

fn policy(spec: Value) -> Value {
    json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "SecurityPolicy", "metadata": {"name": "p"}, "spec": spec})
}

fn exception(spec: Value) -> Value {
    json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "SecurityException", "metadata": {"name": "e", "namespace": "n"}, "spec": spec})
}

#[test]
fn the_samples_pass_every_rule() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let object: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(violations(&object), Vec::<String>::new(), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 4);
}

#[test]
fn policy_rules_reject_what_the_api_server_should() {
    let custom = |risk: u8| json!({"customChecks": [{"id": "c", "title": "t", "risk": risk, "expression": "true", "message": "m"}]});
    assert_eq!(violations(&policy(custom(10))), Vec::<String>::new());
    assert_eq!(violations(&policy(custom(11))), ["risk is 0 to 10"]);
    assert_eq!(
        violations(&policy(json!({"checks": {"riskOverrides": [{"id": "host-pid", "risk": 12}]}}))),
        ["risk is 0 to 10"]
    );
    assert_eq!(
        violations(&policy(
            json!({"checks": {"enabled": {"ids": ["host-pid"]}, "disabled": {"ids": ["host-pid", "host-ipc"]}}})
        )),
        ["a check id is both enabled and disabled"]
    );
    assert_eq!(
        violations(&policy(
            json!({"checks": {"enabled": {"severities": ["Low"]}, "disabled": {"severities": ["Low"]}}})
        )),
        ["a severity is both enabled and disabled"]
    );
    assert_eq!(
        violations(&policy(
            json!({"checks": {"enabled": {"ids": ["host-pid"]}, "disabled": {"categories": ["rbac"]}}})
        )),
        Vec::<String>::new()
    );
    let mut reserved = policy(json!({}));
    reserved["metadata"]["name"] = json!("default");
    assert_eq!(violations(&reserved), ["the name `default` is reserved for the built-in policy"]);
}

#[test]
fn exception_rules_reject_what_the_api_server_should() {
    let ok = json!({"checks": ["host-pid"], "reason": "because", "owner": "team"});
    assert_eq!(violations(&exception(ok.clone())), Vec::<String>::new());
    let mut blank_reason = ok.clone();
    blank_reason["reason"] = json!("  \n");
    assert_eq!(violations(&exception(blank_reason)), ["reason must not be empty"]);
    let mut no_owner = ok.clone();
    no_owner["owner"] = json!("");
    assert_eq!(violations(&exception(no_owner)), ["owner must not be empty"]);
    let mut no_checks = ok;
    no_checks["checks"] = json!([]);
    assert_eq!(violations(&exception(no_checks)), ["name at least one check"]);
}

#[test]
fn every_rule_compiles_and_fits_the_api_servers_cost_budget() {
    fn walk(path: &str, node: &Value, out: &mut Vec<String>) {
        let Some(obj) = node.as_object() else { return };
        if let Some(rules) = obj.get("x-kubernetes-validations").and_then(Value::as_array) {
            let compiled = kube_cel::compile_schema(node);
            for error in compiled.compilation_errors() {
                out.push(format!("{path}: {error:?}"));
            }
            for rule in rules.iter().filter_map(|r| r["rule"].as_str()) {
                // Cost and bounds only: kube-cel's scope check takes comprehension variables for undeclared ones,
                // and the tests above evaluate every rule anyway.
                for warning in kube_cel::estimate_rule_cost(rule, &compiled) {
                    out.push(format!("{path}: {rule}: {}", warning.message));
                }
            }
        }
        for (key, child) in obj {
            walk(&format!("{path}.{key}"), child, out);
        }
    }
    let mut problems = Vec::new();
    for (file, crd) in vigil_crds::all() {
        let crd = serde_json::to_value(&crd).unwrap();
        walk(file, &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
