//! Turns manifest text into objects for the index: multi-document YAML and JSON, `kind: List` (kubectl
//! dumps) and typed lists, Helm-rendered output. Pure: takes text, the caller reads files.
//!
//! Nothing is lost silently: a document that does not parse, or an object that does not fit its kind's
//! schema, becomes a [`LoadError`] naming file, document and line, and loading goes on.

use std::collections::BTreeMap;

use crate::input::object::{KubeObject, VigilObject, group_kind};

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
                Ok(Some(parsed)) => {
                    self.documents += 1;
                    self.add_parsed(parsed, &origin);
                }
                Err(message) => self.errors.push(error(&origin, message)),
            }
        }
    }

    fn add_parsed(&mut self, parsed: ParsedDocument, origin: &Origin) {
        for item in parsed.items {
            self.add_converted(item, origin);
        }
        if let Some(value) = parsed.rest {
            self.add_value(value, origin);
        }
    }

    fn add_converted(&mut self, converted: Converted, origin: &Origin) {
        match converted {
            Converted::Object(object) => self.objects.push((*object, origin.clone())),
            Converted::Skipped(kind) => *self.skipped.entry(kind).or_default() += 1,
            Converted::Error(message) => self.errors.push(error(origin, message)),
            Converted::Vigil(object) => self.vigil_objects.push((*object, origin.clone())),
            Converted::VigilError(message) => self.vigil_errors.push(error(origin, message)),
        }
    }

    fn add_value(&mut self, value: serde_json::Value, origin: &Origin) {
        match value {
            serde_json::Value::Object(_) if is_list(&value) => {
                let (api_version, list_kind) = (str_field(&value, "apiVersion"), str_field(&value, "kind"));
                let serde_json::Value::Object(mut map) = value else { unreachable!() };
                let items = match map.remove("items") {
                    Some(serde_json::Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                for item in items {
                    self.add_value(with_list_kind(item, &api_version, &list_kind), origin);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.add_value(item, origin);
                }
            }
            serde_json::Value::Null => {}
            value => self.add_converted(convert(value), origin),
        }
    }
}

/// Items of a typed list (`PodList`) may lack apiVersion and kind: they are the list's.
fn with_list_kind(mut item: serde_json::Value, api_version: &str, list_kind: &str) -> serde_json::Value {
    let item_kind = list_kind.strip_suffix("List").unwrap_or("");
    if let Some(obj) = item.as_object_mut().filter(|_| !item_kind.is_empty() && list_kind != "List") {
        obj.entry("kind").or_insert_with(|| item_kind.into());
        obj.entry("apiVersion").or_insert_with(|| api_version.into());
    }
    item
}

/// One parsed value, turned into what the index takes.
enum Converted {
    Object(Box<KubeObject>),
    /// A Vigil policy object (`vigil.dev`): kept apart from what the index takes.
    Vigil(Box<VigilObject>),
    /// A kind Vigil does not read: `apiVersion/kind`.
    Skipped(String),
    Error(String),
    /// A Vigil policy object that does not fit its schema.
    VigilError(String),
}

fn convert(value: serde_json::Value) -> Converted {
    if !value.is_object() {
        return Converted::Error(format!("expected a Kubernetes object, found {}", type_name(&value)));
    }
    let api_version = str_field(&value, "apiVersion");
    let kind = str_field(&value, "kind");
    if kind.is_empty() {
        return Converted::Error("object has no `kind`".into());
    }
    let name = value.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    if group_kind(&value).0 == vigil_crds::GROUP {
        return match VigilObject::from_value(value) {
            Ok(Some(mut object)) => {
                if let VigilObject::Exception(e) = &mut object
                    && e.metadata.namespace.as_deref().unwrap_or("").is_empty()
                {
                    e.metadata.namespace = Some("default".into());
                }
                Converted::Vigil(Box::new(object))
            }
            Ok(None) => Converted::Skipped(format!("{api_version}/{kind}")),
            Err(e) => Converted::VigilError(format!("{kind} {name:?} does not match the {kind} schema: {e}")),
        };
    }
    match KubeObject::from_value(value) {
        Ok(Some(mut object)) => {
            if object.is_namespaced() && object.metadata().namespace.as_deref().unwrap_or("").is_empty() {
                // `kubectl apply` puts a manifest without a namespace into `default`.
                object.metadata_mut().namespace = Some("default".into());
            }
            object.strip();
            Converted::Object(Box::new(object))
        }
        Ok(None) => Converted::Skipped(format!("{api_version}/{kind}")),
        Err(e) => Converted::Error(format!("{kind} {name:?} does not match the {kind} schema: {e}")),
    }
}

/// A document as parsed: the items of a list, converted one by one as the parser reads them (a 50 MB
/// cluster dump is never held as one JSON tree), and whatever else the document is.
struct ParsedDocument {
    items: Vec<Converted>,
    rest: Option<serde_json::Value>,
}

impl<'de> serde::Deserialize<'de> for ParsedDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> serde::de::Visitor<'de> for DocumentVisitor {
    type Value = ParsedDocument;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object or list")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ParsedDocument, A::Error> {
        let mut fields = serde_json::Map::new();
        let mut items = Vec::new();
        // Items without a kind wait for the list's kind, which may come after `items` (kubectl sorts keys).
        let mut kindless = Vec::new();
        let mut saw_items = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && !saw_items {
                saw_items = true;
                map.next_value_seed(ItemsSeed { items: &mut items, kindless: &mut kindless })?;
            } else {
                let value: serde_json::Value = map.next_value()?;
                fields.insert(key, value);
            }
        }
        let api_version = fields.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let kind = fields.get("kind").and_then(|v| v.as_str()).unwrap_or("").to_string();
        if saw_items && kind.ends_with("List") {
            items.extend(kindless.into_iter().map(|item| convert(with_list_kind(item, &api_version, &kind))));
            return Ok(ParsedDocument { items, rest: None });
        }
        if saw_items {
            // Not a list after all: an object with an `items` field. Rebuild it whole.
            let restored: Vec<serde_json::Value> = kindless;
            if !items.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "{kind} has a top-level `items` field but is not a List"
                )));
            }
            fields.insert("items".into(), serde_json::Value::Array(restored));
        }
        Ok(ParsedDocument { items, rest: Some(serde_json::Value::Object(fields)) })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedDocument, A::Error> {
        let mut items = Vec::new();
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            items.push(value);
        }
        Ok(ParsedDocument { items: Vec::new(), rest: Some(serde_json::Value::Array(items)) })
    }

    fn visit_unit<E>(self) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: None })
    }

    fn visit_none<E>(self) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: None })
    }

    fn visit_bool<E>(self, v: bool) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: Some(v.into()) })
    }

    fn visit_i64<E>(self, v: i64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: Some(v.into()) })
    }

    fn visit_u64<E>(self, v: u64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: Some(v.into()) })
    }

    fn visit_f64<E>(self, v: f64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: Some(v.into()) })
    }

    fn visit_str<E>(self, v: &str) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument { items: Vec::new(), rest: Some(v.into()) })
    }
}

/// Reads a list's `items`, converting each item that names its kind right away.
struct ItemsSeed<'a> {
    items: &'a mut Vec<Converted>,
    kindless: &'a mut Vec<serde_json::Value>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            if item.get("kind").is_some_and(|k| k.is_string()) {
                self.items.push(convert(item));
            } else {
                self.kindless.push(item);
            }
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
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

/// Parses one document; `Ok(None)` for an empty document.
fn parse_document(doc: &str) -> Result<Option<ParsedDocument>, String> {
    if doc.trim_start().starts_with(['{', '[']) {
        // JSON, possibly several values in a row (`kubectl get -o json` of several objects).
        let mut parsed = Vec::new();
        for value in serde_json::Deserializer::from_str(doc).into_iter::<ParsedDocument>() {
            parsed.push(value.map_err(|e| format!("invalid JSON: {e}"))?);
        }
        return Ok(match parsed.len() {
            0 => None,
            1 => parsed.pop(),
            _ => Some(ParsedDocument {
                items: parsed.iter_mut().flat_map(|p| std::mem::take(&mut p.items)).collect(),
                rest: Some(serde_json::Value::Array(parsed.into_iter().filter_map(|p| p.rest).collect())),
            }),
        });
    }
    serde_saphyr::from_str_with_options::<ParsedDocument>(doc, yaml_options())
        .map(|p| (!p.items.is_empty() || p.rest.as_ref().is_some_and(|v| !v.is_null())).then_some(p))
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

#[cfg(test)]
mod streaming_tests {
    use super::*;

    #[test]
    fn list_items_are_stripped_and_kindless_items_take_the_list_kind() {
        // kubectl sorts keys: `items` comes before `kind`, so kindless items wait for it.
        let mut loaded = Loaded::default();
        loaded.add_text(
            "dump.yaml",
            "apiVersion: v1\nitems:\n- metadata:\n    name: a\n    namespace: x\n    managedFields: [{manager: kubectl}]\n    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: '{}'\n      keep: me\n  spec:\n    containers: []\n  status:\n    phase: Running\nkind: PodList\nmetadata: {resourceVersion: \"1\"}\n",
        );
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let KubeObject::Pod(pod) = &loaded.objects[0].0 else { panic!("not a pod") };
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!(pod.metadata.annotations.as_ref().unwrap().keys().collect::<Vec<_>>(), vec!["keep"]);
        assert!(pod.status.is_none());
    }

    #[test]
    fn an_object_with_an_items_field_that_is_no_list_is_kept_whole() {
        let mut loaded = Loaded::default();
        loaded.add_text("x.yaml", "apiVersion: example.com/v1\nkind: Basket\nmetadata: {name: b}\nitems: [1, 2]\n");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.skipped.get("example.com/v1/Basket"), Some(&1));
    }

    #[test]
    fn vigil_objects_in_a_streamed_list_are_kept_apart() {
        // `kubectl get securitypolicies,securityexceptions -A -o yaml`: items are converted while parsing.
        let mut loaded = Loaded::default();
        loaded.add_text(
            "dump.yaml",
            "apiVersion: v1\nitems:\n- apiVersion: vigil.dev/v1alpha1\n  kind: SecurityPolicy\n  metadata: {name: p}\n  spec: {priority: 1}\n- apiVersion: vigil.dev/v1alpha1\n  kind: SecurityException\n  metadata: {name: e, namespace: shop}\n  spec: {checks: [host-pid], reason: r, owner: o}\n- apiVersion: vigil.dev/v1alpha1\n  kind: SecurityException\n  metadata: {name: bad, namespace: shop}\n  spec: {reason: r}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop}\nkind: List\nmetadata: {resourceVersion: \"\"}\n",
        );
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.objects.len(), 1);
        let kinds: Vec<&str> = loaded.vigil_objects.iter().map(|(o, _)| o.kind()).collect();
        assert_eq!(kinds, ["SecurityPolicy", "SecurityException"]);
        assert_eq!(loaded.vigil_errors.len(), 1, "{:?}", loaded.vigil_errors);
        assert!(loaded.vigil_errors[0].message.contains("SecurityException \"bad\""), "{}", loaded.vigil_errors[0]);
    }
}
