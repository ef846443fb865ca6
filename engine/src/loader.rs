//! Turns manifest text into objects for the index: multi-document YAML and JSON, `kind: List` (kubectl
//! dumps) and typed lists, Helm-rendered output. Pure: takes text, the caller reads files.
//!
//! Nothing is lost silently: a document that does not parse, or an object that does not fit its kind's
//! schema, becomes a [`LoadError`] naming file, document and line, and loading goes on.

use std::collections::BTreeMap;

use crate::object::{KubeObject, VigilObject, group_kind};

/// Where an object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// 1-based document index within the file.
    pub document: usize,
    /// 1-based line where the document (or, for list items, the list) starts.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: document {document} (line {line}): {message}")]
pub struct LoadError {
    pub file: String,
    pub document: usize,
    pub line: usize,
    pub message: String,
}

/// What loading produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<(KubeObject, Origin)>,
    pub errors: Vec<LoadError>,
    /// Vigil's own policy objects (SecurityPolicy, SecurityException, ClusterSecurityException).
    pub vigil_objects: Vec<(VigilObject, Origin)>,
    /// Vigil policy objects that do not fit their schema: kept apart, since skipping one would change
    /// every answer it governs.
    pub vigil_errors: Vec<LoadError>,
    /// Documents of kinds Vigil does not read, counted by `apiVersion/kind`.
    pub skipped: BTreeMap<String, usize>,
    pub documents: usize,
}

impl Loaded {
    /// Loads one file's text (or stdin's, named `-`).
    pub fn add_text(&mut self, file: &str, text: &str) {
        for (document, (line, doc)) in split_documents(text).into_iter().enumerate() {
            let origin = Origin { file: file.to_string(), document: document + 1, line };
            match parse_document(doc) {
                Ok(None) => {}
                Ok(Some(value)) => {
                    self.documents += 1;
                    self.add_value(value, &origin);
                }
                Err(message) => self.errors.push(error(&origin, message)),
            }
        }
    }

    fn add_value(&mut self, value: serde_json::Value, origin: &Origin) {
        match value {
            serde_json::Value::Object(_) if is_list(&value) => {
                let (api_version, list_kind) = (str_field(&value, "apiVersion"), str_field(&value, "kind"));
                // Items of a typed list (`PodList`) may lack apiVersion and kind.
                let item_kind = list_kind.strip_suffix("List").unwrap_or("").to_string();
                let serde_json::Value::Object(mut map) = value else { unreachable!() };
                let items = match map.remove("items") {
                    Some(serde_json::Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                for mut item in items {
                    if let Some(obj) = item.as_object_mut().filter(|_| !item_kind.is_empty()) {
                        obj.entry("kind").or_insert_with(|| item_kind.clone().into());
                        obj.entry("apiVersion").or_insert_with(|| api_version.clone().into());
                    }
                    self.add_value(item, origin);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.add_value(item, origin);
                }
            }
            serde_json::Value::Object(_) => self.add_object(value, origin),
            serde_json::Value::Null => {}
            other => {
                self.errors.push(error(origin, format!("expected a Kubernetes object, found {}", type_name(&other))))
            }
        }
    }

    fn add_object(&mut self, value: serde_json::Value, origin: &Origin) {
        let api_version = str_field(&value, "apiVersion");
        let kind = str_field(&value, "kind");
        if kind.is_empty() {
            self.errors.push(error(origin, "object has no `kind`".into()));
            return;
        }
        let name = value.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("").to_string();
        if group_kind(&value).0 == vigil_crds::GROUP {
            match VigilObject::from_value(value) {
                Ok(Some(mut object)) => {
                    if let VigilObject::Exception(e) = &mut object
                        && e.metadata.namespace.as_deref().unwrap_or("").is_empty()
                    {
                        e.metadata.namespace = Some("default".into());
                    }
                    self.vigil_objects.push((object, origin.clone()));
                }
                Ok(None) => *self.skipped.entry(format!("{api_version}/{kind}")).or_default() += 1,
                Err(e) => self
                    .vigil_errors
                    .push(error(origin, format!("{kind} {name:?} does not match the {kind} schema: {e}"))),
            }
            return;
        }
        match KubeObject::from_value(value) {
            Ok(Some(mut object)) => {
                if object.is_namespaced() && object.metadata().namespace.as_deref().unwrap_or("").is_empty() {
                    // `kubectl apply` puts a manifest without a namespace into `default`.
                    object.metadata_mut().namespace = Some("default".into());
                }
                self.objects.push((object, origin.clone()));
            }
            Ok(None) => *self.skipped.entry(format!("{api_version}/{kind}")).or_default() += 1,
            Err(e) => self.errors.push(error(origin, format!("{kind} {name:?} does not match the {kind} schema: {e}"))),
        }
    }
}

fn error(origin: &Origin, message: String) -> LoadError {
    LoadError { file: origin.file.clone(), document: origin.document, line: origin.line, message }
}

fn is_list(value: &serde_json::Value) -> bool {
    let kind = str_field(value, "kind");
    (kind == "List" || kind.ends_with("List")) && value.get("items").is_some_and(|i| i.is_array())
}

fn str_field(value: &serde_json::Value, field: &str) -> String {
    value.get(field).and_then(|v| v.as_str()).unwrap_or("").to_string()
}

fn type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Splits a YAML stream at `---` lines; returns `(first line, text)` per document. JSON text (starting
/// with `{` or `[`) is one document.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with(['{', '[']) {
        return vec![(1, text)];
    }
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_separator = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") || bare == "...";
        if is_separator {
            docs.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i + 2;
            if let Some(rest) = bare.strip_prefix("---").map(str::trim).filter(|r| !r.is_empty() && !r.starts_with('#'))
            {
                // `--- {inline}` starts a document on the separator line itself.
                start = offset + 3;
                start_line = i + 1;
                let _ = rest;
            }
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs.retain(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

/// Parses one document into a JSON value; `Ok(None)` for an empty document.
fn parse_document(doc: &str) -> Result<Option<serde_json::Value>, String> {
    if doc.trim_start().starts_with(['{', '[']) {
        // JSON, possibly several values in a row (`kubectl get -o json` of several objects).
        let mut values = Vec::new();
        for value in serde_json::Deserializer::from_str(doc).into_iter::<serde_json::Value>() {
            values.push(value.map_err(|e| format!("invalid JSON: {e}"))?);
        }
        return Ok(match values.len() {
            0 => None,
            1 => values.pop(),
            _ => Some(serde_json::Value::Array(values)),
        });
    }
    serde_saphyr::from_str_with_options::<serde_json::Value>(doc, yaml_options())
        .map(|v| (!v.is_null()).then_some(v))
        .map_err(|e| format!("invalid YAML: {}", first_line(&e.to_string())))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

/// Cluster dumps are large single documents: lift the parser's event and node budgets, keep the
/// alias-bomb protections.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = usize::MAX;
    budget.max_nodes = usize::MAX;
    budget.max_total_scalar_bytes = usize::MAX;
    budget.max_reader_input_bytes = None;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_with_lines() {
        let text = "a: 1\n---\nb: 2\n--- # comment\n\n---\nc: 3\n";
        let docs = split_documents(text);
        assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 3, 7]);
    }

    #[test]
    fn lists_are_expanded_and_namespaces_defaulted() {
        let mut loaded = Loaded::default();
        loaded.add_text(
            "dump.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: a}\n- apiVersion: example.com/v1\n  kind: Widget\n  metadata: {name: w}\n",
        );
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.objects.len(), 1);
        assert_eq!(loaded.objects[0].0.metadata().namespace.as_deref(), Some("default"));
        assert_eq!(loaded.skipped.get("example.com/v1/Widget"), Some(&1));
    }

    #[test]
    fn typed_lists_give_items_their_kind() {
        let mut loaded = Loaded::default();
        loaded.add_text("pods.json", r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"p","namespace":"x"},"spec":{"containers":[]}}]}"#);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.objects[0].0.kind(), "Pod");
    }

    #[test]
    fn bad_documents_are_reported_and_loading_goes_on() {
        let mut loaded = Loaded::default();
        loaded.add_text("bad.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ok}\n---\nkey: [unclosed\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: lots}\n---\n42\n");
        assert_eq!(loaded.objects.len(), 1);
        let lines: Vec<_> = loaded.errors.iter().map(|e| (e.document, e.line)).collect();
        assert_eq!(lines, vec![(2, 5), (3, 7), (4, 12)], "{:?}", loaded.errors);
        assert!(loaded.errors[1].message.contains("Deployment \"d\""), "{}", loaded.errors[1]);
    }
}

#[cfg(test)]
mod helm_and_json_tests {
    use super::*;

    #[test]
    fn helm_rendered_output_loads() {
        let text = "---\n# Source: shop/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop\n---\n# Source: shop/templates/empty.yaml\n---\n# Source: shop/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n  namespace: web\nspec:\n  type: ClusterIP\n";
        let mut loaded = Loaded::default();
        loaded.add_text("rendered.yaml", text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let found: Vec<(&str, usize)> = loaded.objects.iter().map(|(o, origin)| (o.kind(), origin.line)).collect();
        assert_eq!(found, vec![("ServiceAccount", 2), ("Service", 10)]);
    }

    #[test]
    fn json_streams_and_arrays_load() {
        let mut loaded = Loaded::default();
        loaded.add_text(
            "objects.json",
            r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}
               {"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"b"}}"#,
        );
        loaded.add_text("array.json", r#"[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}]"#);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.objects.len(), 3);
        assert!(!loaded.objects[2].0.is_namespaced());
        assert_eq!(loaded.objects[2].0.metadata().namespace, None);
    }
}

#[cfg(test)]
mod vigil_kind_tests {
    use super::*;

    #[test]
    fn vigil_policy_objects_are_kept_apart() {
        let mut loaded = Loaded::default();
        loaded.add_text(
            "vigil.yaml",
            "apiVersion: vigil.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec: {priority: 3}\n---\napiVersion: vigil.dev/v1alpha1\nkind: SecurityException\nmetadata: {name: e}\nspec: {checks: [host-pid], reason: r, owner: o}\n---\napiVersion: vigil.dev/v1alpha1\nkind: SecurityReport\nmetadata: {name: r, namespace: x}\nspec: {subject: {apiVersion: v1, kind: Pod, name: p}}\n---\napiVersion: vigil.dev/v1alpha1\nkind: ClusterSecurityException\nmetadata: {name: c}\nspec: {reason: r, owner: o}\n",
        );
        assert!(loaded.objects.is_empty() && loaded.errors.is_empty());
        let kinds: Vec<&str> = loaded.vigil_objects.iter().map(|(o, _)| o.kind()).collect();
        assert_eq!(kinds, ["SecurityPolicy", "SecurityException"]);
        // A manifest's exception without a namespace lands in `default`, like any namespaced object.
        assert_eq!(loaded.vigil_objects[1].0.metadata().namespace.as_deref(), Some("default"));
        assert_eq!(loaded.skipped.get("vigil.dev/v1alpha1/SecurityReport"), Some(&1));
        assert_eq!(loaded.vigil_errors.len(), 1, "the cluster exception has no checks");
        assert!(
            loaded.vigil_errors[0].message.contains("ClusterSecurityException \"c\""),
            "{}",
            loaded.vigil_errors[0]
        );
    }
}
