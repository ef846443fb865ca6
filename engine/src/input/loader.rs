//! Turns manifest text into objects for the index: multi-document YAML and JSON, `kind: List` (kubectl
//! dumps) and typed lists, Helm-rendered output. Pure: takes text, the caller reads files.
//!
//! Nothing is lost silently: a document that does not parse, or an object that does not fit its kind's
//! schema, becomes a [`LoadError`] naming file, document and line, and loading goes on.

use std::collections::BTreeMap;

use crate::input::block_yaml;
use crate::input::bounded::{Bounded, BoundedSeed, allowance, with_budget};
use crate::input::object::{KubeObject, StoredObject, VigilObject, group_kind};
use crate::input::text::escape;

/// Where an object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// 1-based document index within the file.
    pub document: usize,
    /// 1-based line where the document (or, for list items, the list) starts.
    pub line: usize,
}

/// Displayed with input-derived text escaped ([`escape`]): it goes to a terminal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub file: String,
    /// 1-based; 0 when the whole file could not be read.
    pub document: usize,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (file, message) = (escape(&self.file), escape(&self.message));
        if self.document == 0 {
            write!(f, "{file}: {message}")
        } else {
            write!(f, "{file}: document {} (line {}): {message}", self.document, self.line)
        }
    }
}

/// What loading produced.
#[derive(Debug, Default)]
pub struct Loaded {
    /// In the index's form: a pod-template object is packed as soon as it is read.
    pub objects: Vec<(StoredObject, Origin)>,
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
    /// Loads one file's bytes (or stdin's, named `-`): UTF-8 (with or without a byte-order mark) or UTF-16
    /// (with a byte-order mark, or recognised by its zero bytes). Anything else (a binary file, invalid
    /// UTF-8) is one [`LoadError`] for the file, and loading goes on with the next.
    pub fn add_bytes(&mut self, file: &str, bytes: &[u8]) {
        match decode(bytes) {
            Ok(text) => self.add_text(file, &text),
            Err(message) => self.add_file_error(file, message),
        }
    }

    /// Records that a whole file could not be read (it is not text, it is too large, ...).
    pub fn add_file_error(&mut self, file: &str, message: String) {
        self.errors.push(LoadError { file: file.to_string(), document: 0, line: 0, message });
    }

    /// Loads one file's text (or stdin's, named `-`).
    pub fn add_text(&mut self, file: &str, text: &str) {
        let text = normalize_line_breaks(text);
        let mut document = 0;
        for (line, doc) in split_documents(&text) {
            if is_json(doc) {
                // A JSON stream (`kubectl get -o json` of several objects): each value is a document of its
                // own, so one broken object costs only itself.
                let values = json_values(doc);
                let single = values.len() == 1;
                for (offset, value) in values {
                    document += 1;
                    let origin = Origin { file: file.to_string(), document, line: line + offset };
                    // A lone document in YAML flow style (`{kind: Pod, ...}`) is YAML, not broken JSON.
                    let parsed = match parse_json(value, origin.line) {
                        Err(message) if single => parse_yaml(doc).map_err(|_| message),
                        parsed => parsed,
                    };
                    match parsed {
                        Ok(Some(parsed)) => {
                            self.documents += 1;
                            self.add_parsed(parsed, &origin);
                        }
                        Ok(None) => {}
                        Err(message) => self.errors.push(error(&origin, message)),
                    }
                }
                continue;
            }
            document += 1;
            let origin = Origin { file: file.to_string(), document, line };
            match parse_yaml(doc) {
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
        for list in parsed.lists {
            self.add_value(list, origin);
        }
        if let Some(value) = parsed.rest {
            self.add_value(value, origin);
        }
    }

    fn add_converted(&mut self, converted: Converted, origin: &Origin) {
        match converted {
            Converted::Object(object) => self.objects.push((object, origin.clone())),
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
    Object(StoredObject),
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
    if name.is_empty() {
        // A kind Vigil does not read is skipped whatever it holds (a kustomization.yaml has no name); one
        // it reads, or a Vigil object, without a name is a broken document.
        let read = group_kind(&value).0 == vigil_crds::GROUP || !matches!(KubeObject::from_value(value), Ok(None));
        return if read {
            Converted::Error(format!("{kind} has no metadata.name"))
        } else {
            Converted::Skipped(format!("{api_version}/{kind}"))
        };
    }
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
            Converted::Object(object.into_stored())
        }
        Ok(None) => Converted::Skipped(format!("{api_version}/{kind}")),
        Err(e) => Converted::Error(format!("{kind} {name:?} does not match the {kind} schema: {e}")),
    }
}

/// A document as parsed: the items of a list, converted one by one as the parser reads them (a 50 MB
/// cluster dump is never held as one JSON tree), and whatever else the document is.
struct ParsedDocument {
    items: Vec<Converted>,
    /// Lists among a list's items (`kind: List` in a `kind: List`): expanded as kubectl does.
    lists: Vec<serde_json::Value>,
    rest: Option<serde_json::Value>,
}

impl ParsedDocument {
    fn of(rest: Option<serde_json::Value>) -> ParsedDocument {
        ParsedDocument { items: Vec::new(), lists: Vec::new(), rest }
    }
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
        let mut kindless = Vec::new();
        let mut lists = Vec::new();
        let mut saw_items = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && !saw_items {
                saw_items = true;
                map.next_value_seed(ItemsSeed { items: &mut items, kindless: &mut kindless, lists: &mut lists })?;
            } else {
                let value = map.next_value_seed(BoundedSeed)?;
                fields.insert(key, value);
            }
        }
        let items = saw_items.then_some(ItemsRead { items, kindless, lists });
        assemble(fields, items).map_err(serde::de::Error::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedDocument, A::Error> {
        let mut items = Vec::new();
        while let Some(value) = seq.next_element_seed(BoundedSeed)? {
            items.push(value);
        }
        Ok(ParsedDocument::of(Some(serde_json::Value::Array(items))))
    }

    fn visit_unit<E>(self) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(None))
    }

    fn visit_none<E>(self) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(None))
    }

    fn visit_bool<E>(self, v: bool) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(Some(v.into())))
    }

    fn visit_i64<E>(self, v: i64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(Some(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(Some(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(Some(v.into())))
    }

    fn visit_str<E>(self, v: &str) -> Result<ParsedDocument, E> {
        Ok(ParsedDocument::of(Some(v.into())))
    }
}

/// A list's `items` as read: converted where the item names its kind, kept as values where it does not
/// (they wait for the list's kind, which may come after `items`: kubectl sorts keys), and lists in the
/// list.
#[derive(Default)]
struct ItemsRead {
    items: Vec<Converted>,
    kindless: Vec<serde_json::Value>,
    lists: Vec<serde_json::Value>,
}

/// A document from its fields and, if it had an `items` field, what was read there: a list's items, or
/// an object with an `items` field, rebuilt whole.
fn assemble(
    mut fields: serde_json::Map<String, serde_json::Value>,
    items: Option<ItemsRead>,
) -> Result<ParsedDocument, String> {
    let Some(ItemsRead { mut items, kindless, lists }) = items else {
        return Ok(ParsedDocument::of(Some(serde_json::Value::Object(fields))));
    };
    let api_version = fields.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let kind = fields.get("kind").and_then(|v| v.as_str()).unwrap_or("").to_string();
    if kind.ends_with("List") {
        items.extend(kindless.into_iter().map(|item| convert(with_list_kind(item, &api_version, &kind))));
        return Ok(ParsedDocument { items, lists, rest: None });
    }
    // Not a list after all: an object with an `items` field. Rebuild it whole.
    if !items.is_empty() || !lists.is_empty() {
        return Err(format!("{kind} has a top-level `items` field but is not a List"));
    }
    fields.insert("items".into(), serde_json::Value::Array(kindless));
    Ok(ParsedDocument { items, lists, rest: Some(serde_json::Value::Object(fields)) })
}

/// Reads a list's `items`, converting each item that names its kind right away.
struct ItemsSeed<'a> {
    items: &'a mut Vec<Converted>,
    kindless: &'a mut Vec<serde_json::Value>,
    lists: &'a mut Vec<serde_json::Value>,
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
        while let Some(item) = seq.next_element_seed(BoundedSeed)? {
            if is_list(&item) {
                self.lists.push(item);
            } else if item.get("kind").is_some_and(|k| k.is_string()) {
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

/// Splits a stream at `---` (and `...`) lines; returns `(first line, text)` per document. A JSON document
/// never holds such a line, so a stream may mix YAML and JSON documents.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bytes = text.as_bytes();
    // Only lines that start with `---` or `...` can separate documents: find those, not every line.
    let mut candidates: Vec<usize> = memchr::memmem::find_iter(bytes, b"\n---")
        .chain(memchr::memmem::find_iter(bytes, b"\n..."))
        .map(|at| at + 1)
        .collect();
    if text.starts_with("---") || text.starts_with("...") {
        candidates.push(0);
    }
    candidates.sort_unstable();
    let mut docs = Vec::new();
    let (mut start, mut start_line) = (0usize, 1usize);
    // Line numbers counted from the last separator on, so the text is counted once.
    let (mut counted_to, mut line_there) = (0usize, 1usize);
    for offset in candidates {
        let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(text.len(), |n| offset + n + 1);
        let bare = text[offset..end].trim_end_matches(['\n', '\r']);
        let is_separator = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") || bare == "...";
        if !is_separator {
            continue;
        }
        line_there += memchr::memchr_iter(b'\n', &bytes[counted_to..offset]).count();
        counted_to = offset;
        docs.push((start_line, &text[start..offset]));
        start = end;
        start_line = line_there + 1;
        if bare.strip_prefix("---").map(str::trim).is_some_and(|r| !r.is_empty() && !r.starts_with('#')) {
            // `--- {inline}` starts a document on the separator line itself.
            start = offset + 3;
            start_line = line_there;
        }
    }
    docs.push((start_line, &text[start..]));
    docs.retain(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

/// Line breaks as `\n`: a file with CR-only line endings (classic Mac) is read line by line like any
/// other. Borrowed when there is no CR.
fn normalize_line_breaks(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\r') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// True for a document that is JSON (one value or a stream of them) rather than YAML.
fn is_json(doc: &str) -> bool {
    doc.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}').starts_with(['{', '['])
}

/// Splits a JSON stream into its top-level values: `(line offset, text)` each, by tracking strings and
/// bracket depth. A broken value ends where the next one visibly starts (`}` or `]` followed by `{` or
/// `[`, which valid JSON never has inside a value), so the values after it still load.
fn json_values(doc: &str) -> Vec<(usize, &str)> {
    let bytes = doc.as_bytes();
    let mut values = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start: Option<(usize, usize)> = None;
    let mut line = 0usize;
    let mut last_significant = b' ';
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                b'\n' => line += 1,
                _ => {}
            }
            if !in_string {
                last_significant = b'"';
            }
            continue;
        }
        match b {
            b'\n' => {
                line += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => continue,
            _ => {}
        }
        let opens = matches!(b, b'{' | b'[');
        if let Some((at, _)) = start
            && depth > 0
            && opens
            && matches!(last_significant, b'}' | b']')
        {
            // A new value while the last is still open: the last one is broken.
            values.push((start.map_or(0, |s| s.1), &doc[at..i]));
            start = None;
            depth = 0;
        }
        if start.is_none() {
            start = Some((i, line));
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        last_significant = b;
        let scalar_ends = depth == 0
            && !in_string
            && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace() || matches!(n, b'{' | b'[' | b'"'));
        if let Some((at, first_line)) = start
            && (matches!(b, b'}' | b']') && depth == 0 || scalar_ends)
        {
            values.push((first_line, &doc[at..=i]));
            start = None;
        }
    }
    if let Some((at, first_line)) = start {
        values.push((first_line, &doc[at..]));
    }
    values
}

/// Parses one JSON value; `first_line` is where it starts in the file, for the message.
fn parse_json(text: &str, first_line: usize) -> Result<Option<ParsedDocument>, String> {
    let parsed = with_budget(allowance(text.len()), || serde_json::from_str::<ParsedDocument>(text));
    match parsed {
        Ok(p) => {
            Ok((!p.items.is_empty() || !p.lists.is_empty() || p.rest.as_ref().is_some_and(|v| !v.is_null()))
                .then_some(p))
        }
        Err(e) => {
            let message = e.to_string();
            let message = message.rfind(" at line ").map_or(message.as_str(), |at| &message[..at]);
            Err(format!("invalid JSON at line {}, column {}: {message}", first_line + e.line().max(1) - 1, e.column()))
        }
    }
}

/// Parses one YAML document; `Ok(None)` for an empty one. Block YAML as kubectl and Helm print it takes
/// the fast path ([`block_yaml`]: transcoded to JSON, a large list's items on every core); any other
/// document, and any the fast path is not certain of, is read by the full YAML parser, whose messages
/// name the line.
fn parse_yaml(doc: &str) -> Result<Option<ParsedDocument>, String> {
    let parsed = match fast_yaml(doc) {
        Some(parsed) => Ok(parsed),
        None => with_budget(allowance(doc.len()), || {
            serde_saphyr::from_str_with_options::<ParsedDocument>(doc, yaml_options())
        })
        .map_err(|e| format!("invalid YAML: {}", yaml_message(&e.to_string()))),
    };
    parsed.map(|p| {
        (!p.items.is_empty() || !p.lists.is_empty() || p.rest.as_ref().is_some_and(|v| !v.is_null())).then_some(p)
    })
}

/// A list document from this size up has its items parsed in slices of [`SLICE`] bytes, on every core.
const PARALLEL_FROM: usize = 2 * SLICE;
/// Small enough that the JSON text in flight stays small, large enough that threads rarely wait. Unit
/// tests use small slices, so that a small list crosses many slice boundaries.
const SLICE: usize = if cfg!(test) { 16 << 10 } else { 1 << 20 };

/// The fast path: `None` when the document is not in [`block_yaml`]'s subset (or the fast path fails for
/// any reason: the full parser then decides, and words the error).
fn fast_yaml(doc: &str) -> Option<ParsedDocument> {
    let resolve = block_yaml::resolve_with(|scalar| {
        serde_saphyr::from_str_with_options::<serde_json::Value>(scalar, yaml_options())
    });
    if doc.len() >= PARALLEL_FROM
        && let Some(parsed) = parallel_list(doc, &resolve)
    {
        return Some(parsed);
    }
    let json = block_yaml::to_json(doc, &resolve)?;
    with_budget(allowance(doc.len()), || serde_json::from_str::<ParsedDocument>(&json)).ok()
}

/// A `kind: List` document whose `items` are a block sequence: the items cut into slices at entry
/// boundaries, each transcoded and converted on a worker thread, put back in order. The list's other
/// fields are read on their own. `None` when any part is outside the fast path's subset.
fn parallel_list(doc: &str, resolve: block_yaml::Resolve) -> Option<ParsedDocument> {
    let block = block_yaml::items_block(doc, SLICE)?;
    let head = block_yaml::to_json(&block.rest, resolve)?;
    let head = with_budget(allowance(block.rest.len()), || serde_json::from_str::<Bounded>(&head)).ok()?.0;
    let serde_json::Value::Object(mut fields) = head else { return None };
    if !fields.remove("items").is_some_and(|v| v.is_null()) || !str_field_of(&fields, "kind").ends_with("List") {
        return None;
    }
    let slices = &block.slices;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(slices.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let work = || {
        use std::sync::atomic::Ordering::Relaxed;
        let mut done = Vec::new();
        while !failed.load(Relaxed) {
            let i = next.fetch_add(1, Relaxed);
            let Some(slice) = slices.get(i) else { break };
            match read_slice(slice, block.indent, resolve) {
                Some(read) => done.push((i, read)),
                None => failed.store(true, Relaxed),
            }
        }
        done
    };
    let mut done: Vec<(usize, ItemsRead)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for thread in threads {
            done.extend(thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    });
    if failed.into_inner() || done.len() != slices.len() {
        return None;
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut read = ItemsRead::default();
    for (_, slice) in done {
        read.items.extend(slice.items);
        read.kindless.extend(slice.kindless);
        read.lists.extend(slice.lists);
    }
    assemble(fields, Some(read)).ok()
}

/// One slice of a list's items, transcoded and converted. Without aliases nothing built from it can
/// exceed its own text, so the byte budget is the slice's own.
fn read_slice(slice: &str, indent: usize, resolve: block_yaml::Resolve) -> Option<ItemsRead> {
    use serde::de::DeserializeSeed;
    let json = block_yaml::sequence_to_json(slice, indent, resolve)?;
    let mut read = ItemsRead::default();
    with_budget(allowance(slice.len()), || {
        let mut de = serde_json::Deserializer::from_str(&json);
        ItemsSeed { items: &mut read.items, kindless: &mut read.kindless, lists: &mut read.lists }
            .deserialize(&mut de)?;
        de.end()
    })
    .ok()?;
    Some(read)
}

fn str_field_of<'v>(fields: &'v serde_json::Map<String, serde_json::Value>, field: &str) -> &'v str {
    fields.get(field).and_then(|v| v.as_str()).unwrap_or("")
}

/// The parser's message without its hints for programmers: the first line, with any `(hint: ...)` or
/// mention of the library dropped.
fn yaml_message(text: &str) -> String {
    let first = first_line(text);
    let first = first.split(" (hint").next().unwrap_or("").trim();
    let first = first.strip_prefix("serde_saphyr: ").unwrap_or(first);
    if first.is_empty() { "the document is not valid YAML".into() } else { first.to_string() }
}

/// The text of a file: UTF-8, or UTF-16 by byte-order mark or by its zero bytes. Any other bytes are a
/// sentence saying what the file is not.
pub fn decode(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    let utf16 = |little: bool, body: &[u8]| -> Result<std::borrow::Cow<'_, str>, String> {
        if !body.len().is_multiple_of(2) {
            return Err("is not valid UTF-16 text (an odd number of bytes)".into());
        }
        let units = body
            .chunks_exact(2)
            .map(|p| if little { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(std::borrow::Cow::Owned)
            .map_err(|_| "is not valid UTF-16 text (an unpaired surrogate)".to_string())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => return utf16(true, rest),
        [0xFE, 0xFF, rest @ ..] => return utf16(false, rest),
        // UTF-16 without a mark: text in ASCII range has a zero byte in every pair (`a\0p\0` or `\0a\0p`).
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => return utf16(true, bytes),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => return utf16(false, bytes),
        _ => {}
    }
    if let Some(at) = memchr_zero(bytes) {
        return Err(format!("is binary data, not a manifest (a zero byte at offset {at})"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
            Err(format!("is not UTF-8 text (an invalid byte at line {line}, offset {at})"))
        }
    }
}

fn memchr_zero(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(0, bytes)
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
        let docs = split_documents("a: 1\n---x: 2\n--- {b: 3}\n...\nc: |\n  ---\n");
        assert_eq!(docs, vec![(1, "a: 1\n---x: 2\n"), (3, " {b: 3}\n"), (5, "c: |\n  ---\n")]);
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
        let KubeObject::Pod(pod) = loaded.objects[0].0.decode().unwrap() else { panic!("not a pod") };
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

#[cfg(test)]
mod hostile_tests {
    use super::*;

    #[test]
    fn aliases_of_a_large_scalar_stop_at_the_byte_budget() {
        // 100 KB anchored once, aliased 20,000 times: 2 GB expanded, from a 200 KB file.
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bomb}}\nbig: &a \"{}\"\nitems:\n{}",
            "x".repeat(100_000),
            "- *a\n".repeat(20_000)
        );
        let mut loaded = Loaded::default();
        loaded.add_text("bomb.yaml", &text);
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
        assert!(loaded.errors[0].message.contains("expands to more than twice its size"), "{}", loaded.errors[0]);
    }

    #[test]
    fn a_broken_object_in_a_json_stream_costs_only_itself() {
        let text = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"c\"}}\n";
        let mut loaded = Loaded::default();
        loaded.add_text("s.json", text);
        let names: Vec<_> = loaded.objects.iter().map(|(o, _)| o.metadata().name.clone().unwrap()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!((loaded.errors[0].document, loaded.errors[0].line), (2, 2), "{:?}", loaded.errors);
    }

    #[test]
    fn yaml_flow_documents_in_a_stream_are_yaml() {
        let mut loaded = Loaded::default();
        loaded.add_text("f.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n{apiVersion: v1, kind: Namespace, metadata: {name: b}}\n");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.objects.len(), 2);
    }

    #[test]
    fn utf16_is_decoded_and_binary_is_refused() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        for bytes in [
            [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect::<Vec<u8>>(),
            [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect(),
            text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ] {
            let mut loaded = Loaded::default();
            loaded.add_bytes("u.yaml", &bytes);
            assert_eq!(loaded.objects.len(), 1, "{:?}", loaded.errors);
        }
        let mut loaded = Loaded::default();
        loaded.add_bytes("b.yaml", b"\x7fELF\0\0");
        assert_eq!(loaded.errors[0].to_string(), "b.yaml: is binary data, not a manifest (a zero byte at offset 4)");
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use serde_json::json;

    /// A `kind: List` dump large enough to be read in parallel slices: objects of many kinds, items
    /// that take the list's kind, a list in the list, an object that does not fit its schema, a Vigil
    /// policy, a kind Vigil does not read, and strings that look like numbers.
    fn dump(list_kind: &str, items: usize) -> serde_json::Value {
        let mut all = Vec::new();
        for i in 0..items {
            all.push(match i % 7 {
                0 => json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{i}"), "labels": {"v": "1.0", "n": "007"}}}),
                1 => json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p-{i}"), "namespace": "a",
                    "annotations": {"note": "a long text\nwith lines\n", "ip": "10.0.0.1", "x": "yes"}},
                    "spec": {"containers": [{"name": "c", "image": format!("registry.example.com/app:{i}"),
                    "args": ["-v", "--x=1", "1e3", "0x1F"], "securityContext": {"privileged": i % 2 == 0, "runAsUser": i}}]}}),
                2 => json!({"metadata": {"name": format!("kindless-{i}"), "namespace": "b"}, "spec": {"containers": []}}),
                3 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d-{i}"), "namespace": "c"},
                    "spec": {"replicas": "lots"}}),
                4 => json!({"apiVersion": "v1", "kind": "List", "items": [
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("sa-{i}"), "namespace": "d"}}]}),
                5 => json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "SecurityPolicy", "metadata": {"name": format!("pol-{i}")},
                    "spec": {"priority": 1}}),
                _ => json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": format!("w-{i}")}, "spec": {"size": 1.5}}),
            });
        }
        json!({"apiVersion": "v1", "kind": list_kind, "items": all, "metadata": {"resourceVersion": ""}})
    }

    fn summary(loaded: &Loaded) -> String {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{}",
            loaded.objects, loaded.errors, loaded.vigil_objects, loaded.vigil_errors, loaded.skipped, loaded.documents
        )
    }

    #[test]
    fn a_large_yaml_list_loads_exactly_as_the_same_list_in_json() {
        for list_kind in ["List", "PodList"] {
            let value = dump(list_kind, 2_000);
            let yaml = format!("# a dump\n---\n{}", serde_saphyr::to_string(&value).unwrap());
            assert!(yaml.len() > PARALLEL_FROM, "{} bytes: not enough for the parallel path", yaml.len());
            let resolve = block_yaml::resolve_with(|s| {
                serde_saphyr::from_str_with_options::<serde_json::Value>(s, yaml_options())
            });
            let documents = split_documents(&yaml);
            assert!(parallel_list(documents[0].1, &resolve).is_some(), "the parallel path refused the list");
            let (mut from_yaml, mut from_json) = (Loaded::default(), Loaded::default());
            from_yaml.add_text("dump.yaml", &yaml);
            from_json.add_text("dump.yaml", &format!("# a dump\n---\n{value}"));
            assert!(from_yaml.objects.len() > 800 && !from_yaml.errors.is_empty());
            assert_eq!(summary(&from_yaml), summary(&from_json), "{list_kind}");
            // Every error names the document and the line where the list starts.
            assert!(from_yaml.errors.iter().all(|e| (e.document, e.line) == (1, 3)), "{:?}", from_yaml.errors[0]);
        }
    }

    #[test]
    fn a_large_list_outside_the_fast_path_gives_the_full_parsers_answer() {
        // One anchor anywhere sends the whole document to the full parser: the same objects, and a
        // broken item is the full parser's error with its line.
        let value = dump("List", 2_000);
        let yaml = serde_saphyr::to_string(&value).unwrap();
        let anchored = yaml.replacen("kind: Namespace", "kind: &k Namespace", 1);
        assert!(fast_yaml(&yaml).is_some() && fast_yaml(&anchored).is_none());
        let (mut fast, mut full) = (Loaded::default(), Loaded::default());
        fast.add_text("dump.yaml", &yaml);
        full.add_text("dump.yaml", &anchored);
        assert_eq!(summary(&fast), summary(&full));
        let broken = format!("{yaml}  bad: [unclosed\n");
        let mut loaded = Loaded::default();
        loaded.add_text("dump.yaml", &broken);
        assert_eq!(loaded.objects.len(), 0);
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors.first());
        assert!(loaded.errors[0].message.starts_with("invalid YAML"), "{}", loaded.errors[0]);
    }
    #[test]
    fn a_nameless_object_of_a_kind_vigil_does_not_read_is_skipped_not_reported() {
        let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: n}\nspec: {containers: [{name: c, image: i}]}\n";
        let mut loaded = Loaded::default();
        loaded.add_text("k.yaml", text);
        assert_eq!(loaded.skipped.get("kustomize.config.k8s.io/v1beta1/Kustomization"), Some(&1));
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
        assert!(loaded.errors[0].to_string().contains("Pod has no metadata.name"), "{:?}", loaded.errors);
    }
}
