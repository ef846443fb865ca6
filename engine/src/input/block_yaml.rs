//! The fast path for YAML as `kubectl get -o yaml`, Helm and most tools print it: block mappings and
//! sequences of plain, quoted and literal (`|`) scalars, one node per line. Such a document is
//! transcoded to JSON text, which serde_json reads several times faster than a general YAML parser can.
//!
//! Only what is certain is transcoded. Anything else — anchors, aliases, tags, flow collections other
//! than `{}` and `[]`, folded or multi-line scalars, duplicate keys, deep nesting, tabs or control
//! characters where they matter — makes [`to_json`] answer `None`, and the caller parses the document
//! with the full YAML parser. So a document has the same value either way, and every error message
//! (with its line) is still the full parser's. A plain scalar that might be a number, a boolean or null
//! in some spelling (`1.0`, `0x1F`, `yes`, `.inf`) is resolved by the full parser itself, one scalar at a
//! time: they are rare in Kubernetes objects, which quote such strings.

use std::borrow::Cow;

use serde_json::Value;

/// Gives the value of an ambiguous plain scalar as the full parser reads it (see [`resolve_with`]);
/// `None` when the full parser refuses it. `Sync`: list items are transcoded on several threads.
pub type Resolve<'r> = &'r (dyn Fn(&str) -> Option<Value> + Sync);

/// Deeper documents go to the full parser, whose own depth budget (64) then decides.
const MAX_DEPTH: usize = 48;

/// Keys longer than this go to the full parser, which limits how far it looks for a key's `:`.
const MAX_KEY_LEN: usize = 512;

/// One YAML document (no `---` inside) as JSON text, or `None` when it is not in the subset this
/// module reads with certainty.
pub fn to_json(doc: &str, resolve: Resolve) -> Option<String> {
    let mut t = Transcoder::new(doc, resolve)?;
    t.skip_blank();
    let line = t.peek()?;
    t.block_node(line)?;
    t.finish()
}

/// A block sequence whose entries (`- ...`) start at column `indent`, as JSON text: a slice of a list's
/// `items`, transcoded on its own.
pub fn sequence_to_json(text: &str, indent: usize, resolve: Resolve) -> Option<String> {
    let mut t = Transcoder::new(text, resolve)?;
    t.skip_blank();
    let line = t.peek()?;
    if line.indent != indent || !is_entry(line.content) {
        return None;
    }
    t.block_node(line)?;
    t.finish()
}

/// A document's top-level `items:` block sequence, for parsing its entries apart: the entries in
/// slices, the column of their `- `, and the text of the document without them.
pub struct ItemsBlock<'a> {
    /// The entries, cut before an entry once a slice holds the size asked for.
    pub slices: Vec<&'a str>,
    pub indent: usize,
    /// The document with the entries cut out (`items:` is left with no value).
    pub rest: String,
}

/// Finds a top-level `items:` key (column 0) followed by a block sequence, and cuts its entries into
/// slices of about `slice` bytes; `None` when there is no such key.
pub fn items_block(doc: &str, slice: usize) -> Option<ItemsBlock<'_>> {
    let bytes = doc.as_bytes();
    let line_end = |at: usize| bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| at + n + 1);
    let mut at = 0;
    let header_end = loop {
        if at >= bytes.len() {
            return None;
        }
        let next = line_end(at);
        if doc[at..next].trim_end_matches('\n').trim_end_matches(' ') == "items:" {
            break next;
        }
        at = next;
    };
    if let Some(block) = items_at_column_zero(doc, header_end, slice) {
        return Some(block);
    }
    // The first entry decides the column; the block ends at the first line less indented than it, or
    // as indented but not an entry. Blank and comment lines inside do not end it.
    let (mut indent, mut slices, mut start) = (None, Vec::new(), header_end);
    at = header_end;
    while at < bytes.len() {
        let next = line_end(at);
        let line = &bytes[at..next];
        let column = line.iter().take_while(|&&b| b == b' ').count();
        let content = &line[column..];
        if matches!(content, [] | [b'\n'] | [b'#', ..]) {
            at = next;
            continue;
        }
        let entry = matches!(content, [b'-'] | [b'-', b' ' | b'\n', ..]);
        match indent {
            None if entry => indent = Some(column),
            None => return None,
            Some(i) if column < i || column == i && !entry => break,
            Some(i) if column == i && at - start >= slice => {
                slices.push(&doc[start..at]);
                start = at;
            }
            Some(_) => {}
        }
        at = next;
    }
    let indent = indent?;
    slices.push(&doc[start..at]);
    let mut rest = String::with_capacity(doc.len() - (at - header_end));
    rest.push_str(&doc[..header_end]);
    rest.push_str(&doc[at..]);
    Some(ItemsBlock { slices, indent, rest })
}

/// [`items_block`] for entries at column 0, as kubectl prints them, without reading every line: the
/// block ends after the last line that starts with `- `, at the first line at column 0 that is not an
/// entry; slices are cut at the first `\n- ` past each slice's size. A line at column 0 inside the block
/// that is no entry (which would end the block earlier) is found when the slice holding it is
/// transcoded: [`sequence_to_json`] refuses it, and the caller reads the document another way.
fn items_at_column_zero(doc: &str, header_end: usize, slice: usize) -> Option<ItemsBlock<'_>> {
    let bytes = doc.as_bytes();
    let line_end = |at: usize| memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n + 1);
    // The first content line after `items:` must be an entry at column 0.
    let mut at = header_end;
    loop {
        let line = &bytes[at..line_end(at)];
        let content = line.trim_ascii_start();
        if !(content.is_empty() || content.starts_with(b"#")) {
            if !(line.starts_with(b"- ") || line.starts_with(b"-\n")) {
                return None;
            }
            break;
        }
        at = line_end(at);
        if at >= bytes.len() {
            return None;
        }
    }
    let first = at;
    let last = memchr::memmem::rfind(&bytes[first..], b"\n- ").map_or(first, |n| first + n + 1);
    // From the last entry on, line by line: its own lines, then the list's other keys.
    let mut end = line_end(last);
    while end < bytes.len() {
        let line = &bytes[end..line_end(end)];
        let column_zero_key = !matches!(line.first(), Some(b' ' | b'\n' | b'#' | b'-'));
        if column_zero_key || line.starts_with(b"- ") || line.starts_with(b"-\n") {
            break;
        }
        end = line_end(end);
    }
    if end < bytes.len() && bytes[end] == b'-' {
        return None; // an entry after what looked like the last one: not this simple shape
    }
    let mut slices = Vec::new();
    let mut start = header_end;
    while start + slice < end {
        let Some(n) = memchr::memmem::find(&bytes[start + slice..end], b"\n- ") else { break };
        let cut = start + slice + n + 1;
        slices.push(&doc[start..cut]);
        start = cut;
    }
    slices.push(&doc[start..end]);
    let mut rest = String::with_capacity(doc.len() - (end - header_end));
    rest.push_str(&doc[..header_end]);
    rest.push_str(&doc[end..]);
    Some(ItemsBlock { slices, indent: 0, rest })
}

/// The value of one ambiguous plain scalar as the full parser reads it: `text` parsed as the value of a
/// one-key mapping, so it is read in block context exactly as in the document.
pub fn resolve_with<E>(parse: impl Fn(&str) -> Result<Value, E> + Sync) -> impl Fn(&str) -> Option<Value> + Sync {
    move |scalar: &str| match parse(&format!("k: {scalar}\n")) {
        Ok(Value::Object(mut map)) if map.len() == 1 => map.remove("k"),
        _ => None,
    }
}

fn is_entry(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// One content line: its column and its text from there, without the line break.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    content: &'a str,
    /// Byte offset just past the line (and its line break).
    next: usize,
}

struct Transcoder<'a, 'r> {
    text: &'a str,
    /// Byte offset of the first line not yet read.
    pos: usize,
    out: String,
    /// Keys of the mappings being read, innermost last: for refusing duplicates.
    keys: Vec<Cow<'a, str>>,
    depth: usize,
    scratch: String,
    resolve: Resolve<'r>,
    /// How many more scalars the full parser may be asked about: one per KiB of text (and a few hundred
    /// for any text), so a document of nothing but such scalars costs no more than the full parser.
    resolves_left: usize,
    /// The line [`Self::raw_line`] found last: where it starts, its text, where the next starts.
    last_line: Option<(usize, &'a str, usize)>,
}

impl<'a, 'r> Transcoder<'a, 'r> {
    fn new(text: &'a str, resolve: Resolve<'r>) -> Option<Self> {
        if !plain_text(text) {
            return None;
        }
        let out = String::with_capacity(text.len() + text.len() / 8);
        let resolves_left = 256 + text.len() / 1024;
        Some(Transcoder {
            text,
            pos: 0,
            out,
            keys: Vec::new(),
            depth: 0,
            scratch: String::new(),
            resolve,
            resolves_left,
            last_line: None,
        })
    }

    fn finish(mut self) -> Option<String> {
        self.skip_blank();
        (self.pos >= self.text.len()).then_some(self.out)
    }

    /// The line at `at`, raw: `(text without its line break, offset past it)`. The last line found is
    /// kept: each line is looked at several times (blank? indented how far? what is it?).
    fn raw_line(&mut self, at: usize) -> (&'a str, usize) {
        if let Some((cached_at, line, next)) = self.last_line
            && cached_at == at
        {
            return (line, next);
        }
        let rest = &self.text.as_bytes()[at..];
        // Lines are short: a plain loop beats a call to memchr.
        let found = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (&self.text[at..at + n], at + n + 1),
            None => (&self.text[at..], self.text.len()),
        };
        self.last_line = Some((at, found.0, found.1));
        found
    }

    /// Moves past blank and comment lines.
    fn skip_blank(&mut self) {
        while self.pos < self.text.len() {
            let (line, next) = self.raw_line(self.pos);
            let content = line.trim_start_matches(' ');
            if !content.is_empty() && !content.starts_with('#') {
                return;
            }
            self.pos = next;
        }
    }

    /// The next content line (call after [`Self::skip_blank`]); `None` at the end or for a tab in the
    /// indentation, which YAML forbids.
    fn peek(&mut self) -> Option<Line<'a>> {
        if self.pos >= self.text.len() {
            return None;
        }
        let (line, next) = self.raw_line(self.pos);
        let content = line.trim_start_matches(' ');
        if content.starts_with('\t') {
            return None;
        }
        Some(Line { indent: line.len() - content.len(), content, next })
    }

    /// The next content line if it continues a block at `indent`; `Err` when it is more indented, which
    /// in this subset is never valid after a complete node.
    fn next_at(&mut self, indent: usize) -> Result<Option<Line<'a>>, ()> {
        self.skip_blank();
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        let line = self.peek().ok_or(())?;
        match line.indent {
            i if i > indent => Err(()),
            i if i == indent => Ok(Some(line)),
            _ => Ok(None),
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A mapping or sequence starting at `line` (not yet consumed).
    fn block_node(&mut self, line: Line<'a>) -> Option<()> {
        self.pos = line.next;
        if is_entry(line.content) {
            self.sequence(line.indent, line.content)
        } else {
            self.mapping(line.indent, line.content)
        }
    }

    /// A block mapping whose keys are at column `indent`; `content` is its first entry, already consumed.
    fn mapping(&mut self, indent: usize, mut content: &'a str) -> Option<()> {
        self.enter()?;
        let base = self.keys.len();
        self.out.push('{');
        loop {
            let (key, rest) = split_key(content)?;
            if key.len() > MAX_KEY_LEN || key == "<<" || self.keys[base..].contains(&key) {
                return None;
            }
            write_str(&mut self.out, &key);
            self.keys.push(key);
            self.out.push(':');
            self.mapping_value(indent, rest)?;
            match self.next_at(indent).ok()? {
                Some(line) if !is_entry(line.content) => {
                    self.pos = line.next;
                    content = line.content;
                    self.out.push(',');
                }
                Some(_) => return None,
                None => break,
            }
        }
        self.out.push('}');
        self.keys.truncate(base);
        self.depth -= 1;
        Some(())
    }

    /// The value of a key at column `indent`; `rest` is what follows `key:` on its line.
    fn mapping_value(&mut self, indent: usize, rest: &'a str) -> Option<()> {
        if !rest.is_empty() && !rest.starts_with('#') {
            return self.inline(indent, rest);
        }
        self.skip_blank();
        match self.peek() {
            Some(line) if line.indent > indent => self.block_node(line),
            // `key:` followed by `- ...` at the key's own column: a sequence (kubectl prints them so).
            Some(line) if line.indent == indent && is_entry(line.content) => {
                self.pos = line.next;
                self.sequence(indent, line.content)
            }
            _ => {
                self.out.push_str("null");
                Some(())
            }
        }
    }

    /// A block sequence whose `-` are at column `indent`; `content` is its first entry, already consumed.
    fn sequence(&mut self, indent: usize, mut content: &'a str) -> Option<()> {
        self.enter()?;
        self.out.push('[');
        loop {
            let after = &content[1..];
            let inner = after.trim_start_matches(' ');
            let column = indent + 1 + (after.len() - inner.len());
            if inner.is_empty() || inner.starts_with('#') {
                self.skip_blank();
                match self.peek() {
                    Some(line) if line.indent > indent => self.block_node(line)?,
                    _ => self.out.push_str("null"),
                }
            } else if is_entry(inner) {
                self.sequence(column, inner)?;
            } else if split_key(inner).is_some() {
                self.mapping(column, inner)?;
            } else {
                self.inline(indent, inner)?;
            }
            match self.next_at(indent).ok()? {
                Some(line) if is_entry(line.content) => {
                    self.pos = line.next;
                    content = line.content;
                    self.out.push(',');
                }
                Some(_) => break,
                None => break,
            }
        }
        self.out.push(']');
        self.depth -= 1;
        Some(())
    }

    /// A scalar (or `{}` / `[]`) on the rest of a line whose node sits at column `indent`.
    fn inline(&mut self, indent: usize, text: &'a str) -> Option<()> {
        match text.as_bytes()[0] {
            b'"' => self.quoted(indent, text, true)?,
            b'\'' => self.quoted(indent, text, false)?,
            b'|' | b'>' => self.block_scalar(indent, text)?,
            b'{' | b'[' => {
                let (empty, rest) = ["{}", "[]"].into_iter().find_map(|e| Some((e, text.strip_prefix(e)?)))?;
                end_of_value(rest)?;
                self.out.push_str(empty);
            }
            // Anchors, aliases, tags, folded scalars, directives, reserved and flow indicators.
            b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b']' | b'}' | b'?' | b':' | b'#' => return None,
            b'-' if is_entry(text) => return None,
            _ => self.plain(indent, text)?,
        }
        Some(())
    }

    /// A double- or single-quoted scalar of a node at column `indent`, on one line or folded over several
    /// (as kubectl wraps long messages): a line break is a space, each blank line a line break, a
    /// backslash at the end of a line (double quotes) joins the lines.
    fn quoted(&mut self, indent: usize, text: &'a str, double: bool) -> Option<()> {
        let mut value = std::mem::take(&mut self.scratch);
        value.clear();
        let mut keep = 0;
        let mut segment = &text[1..];
        let rest = loop {
            let escaped_break = match quoted_segment(segment, double, &mut value, &mut keep)? {
                Segment::Closed(rest) => break rest,
                Segment::Open { escaped_break } => escaped_break,
            };
            if !escaped_break {
                // White space at the end of a line is not content when the scalar goes on.
                value.truncate(keep);
            }
            let mut blank = 0;
            segment = loop {
                if self.pos >= self.text.len() {
                    return None;
                }
                let (line, next) = self.raw_line(self.pos);
                self.pos = next;
                let content = line.trim_start_matches(' ');
                if content.is_empty() {
                    blank += 1;
                    continue;
                }
                // Continuation lines are indented under the node; a tab there is left to the full parser.
                if line.len() - content.len() <= indent || content.starts_with('\t') {
                    return None;
                }
                break content;
            };
            match (escaped_break, blank) {
                (true, 0) => {}
                (true, _) => return None,
                (false, 0) => value.push(' '),
                (false, n) => value.extend(std::iter::repeat_n('\n', n)),
            }
            keep = value.len();
        };
        end_of_value(rest)?;
        write_str(&mut self.out, &value);
        self.scratch = value;
        Some(())
    }

    /// A plain scalar of a node at column `indent`: up to a comment, continued on more indented lines
    /// (folded: a line break is a space, each blank line a line break).
    fn plain(&mut self, indent: usize, text: &'a str) -> Option<()> {
        let commented = text.find(" #");
        let text = commented.map_or(text, |at| &text[..at]).trim_end_matches(' ');
        if text.contains(": ") || text.ends_with(':') || text.contains('\t') {
            return None;
        }
        if commented.is_none()
            && let Some(folded) = self.plain_continuation(indent, text)?
        {
            // Folded text holds a space or a line break: no number, boolean or null does.
            write_str(&mut self.out, &folded);
            return Some(());
        }
        match text {
            "null" | "Null" | "NULL" | "~" => self.out.push_str("null"),
            "true" | "True" | "TRUE" => self.out.push_str("true"),
            "false" | "False" | "FALSE" => self.out.push_str("false"),
            _ if is_plain_integer(text) => self.out.push_str(text),
            _ if surely_string(text) => write_str(&mut self.out, text),
            _ => {
                self.resolves_left = self.resolves_left.checked_sub(1)?;
                let value = (self.resolve)(text)?;
                self.out.push_str(&serde_json::to_string(&value).ok()?);
            }
        }
        Some(())
    }

    /// The lines continuing a plain scalar whose first line is `first`, folded onto it; `Some(None)`
    /// when there are none. A continuation line that could be read another way (an indicator first, a
    /// comment, `: `) is left to the full parser.
    fn plain_continuation(&mut self, indent: usize, first: &str) -> Option<Option<String>> {
        let mut folded: Option<String> = None;
        loop {
            let (mut at, mut blank) = (self.pos, 0);
            let (line, next) = loop {
                if at >= self.text.len() {
                    return Some(folded);
                }
                let (line, next) = self.raw_line(at);
                if !line.bytes().all(|b| b == b' ') {
                    break (line, next);
                }
                blank += 1;
                at = next;
            };
            let content = line.trim_start_matches(' ');
            if line.len() - content.len() <= indent || content.starts_with('#') {
                return Some(folded);
            }
            let piece = content.trim_end_matches(' ');
            if piece.contains(": ") || piece.contains(" #") || piece.ends_with(':') || piece.contains('\t') {
                return None;
            }
            if matches!(
                piece.as_bytes()[0],
                b'-' | b'?'
                    | b':'
                    | b','
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'\''
                    | b'"'
                    | b'%'
                    | b'@'
                    | b'`'
            ) {
                return None;
            }
            let value = folded.get_or_insert_with(|| first.to_string());
            if blank == 0 {
                value.push(' ');
            }
            for _ in 0..blank {
                value.push('\n');
            }
            value.push_str(piece);
            self.pos = next;
        }
    }

    /// A literal (`|`, `|-`) or folded (`>`, `>-`) block scalar under a node at column `indent`; `header`
    /// is the rest of its line. Folded scalars only when every line is plain text at the block's
    /// indentation (no blank or more indented lines, whose folding rules differ).
    fn block_scalar(&mut self, indent: usize, header: &str) -> Option<()> {
        let (folded, strip) = match header.trim_end_matches(' ') {
            "|" => (false, false),
            "|-" => (false, true),
            ">" => (true, false),
            ">-" => (true, true),
            // `|+`, indentation indicators, comments after the header: the full parser.
            _ => return None,
        };
        let mut value = String::new();
        let mut content_indent = None;
        // Line breaks of blank lines seen since the last content line: kept only if content follows.
        let mut pending = 0usize;
        while self.pos < self.text.len() {
            let (line, next) = self.raw_line(self.pos);
            let content = line.trim_start_matches(' ');
            let spaces = line.len() - content.len();
            let blank = content.is_empty();
            match content_indent {
                None if blank => return None, // leading blank lines: the full parser
                None if spaces <= indent => break,
                None => content_indent = Some(spaces),
                Some(ci) if blank && spaces <= ci => {
                    pending += 1;
                    self.pos = next;
                    continue;
                }
                Some(ci) if spaces < ci => {
                    if spaces > indent {
                        return None; // less indented content: an error the full parser reports
                    }
                    break;
                }
                Some(_) => {}
            }
            if next == self.text.len() && !self.text.ends_with('\n') {
                return None; // no final line break: chomping differs, leave it to the full parser
            }
            let ci = content_indent.unwrap_or(spaces);
            if folded && (pending > 0 || line[ci..].starts_with([' ', '\t'])) {
                return None;
            }
            for _ in 0..pending {
                value.push('\n');
            }
            pending = 0;
            if folded && !value.is_empty() {
                value.pop();
                value.push(' ');
            }
            value.push_str(&line[ci..]);
            value.push('\n');
            self.pos = next;
        }
        if strip {
            value.pop();
        }
        write_str(&mut self.out, &value);
        Some(())
    }
}

/// `key: rest` split at the first `: ` (or a final `:`); the rest without leading spaces. `None` when the
/// line is no simple key this subset reads.
fn split_key(content: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = match content.as_bytes()[0] {
        b'"' => {
            let mut scratch = String::new();
            let (key, rest) = double_quoted(content, &mut scratch)?;
            let key = key.to_string();
            (Cow::Owned(key), rest.strip_prefix(':')?)
        }
        b'\'' => {
            let (key, rest) = single_quoted(content)?;
            (Cow::Owned(key.into_owned()), rest.strip_prefix(':')?)
        }
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
        | b'@' | b'`' => return None,
        _ => {
            let bytes = content.as_bytes();
            let at = (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&n| n == b' '))?;
            let key = content[..at].trim_end_matches(' ');
            if key.contains(['#', '\t']) || matches!(key, "" | "~" | "null" | "Null" | "NULL") {
                return None;
            }
            (Cow::Borrowed(key), &content[at + 1..])
        }
    };
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// After a quoted scalar or `{}`: nothing but spaces and a comment.
fn end_of_value(rest: &str) -> Option<()> {
    let trimmed = rest.trim_start_matches(' ');
    (trimmed.is_empty() || trimmed.starts_with('#') && trimmed.len() < rest.len()).then_some(())
}

/// A double-quoted scalar closed on its line (a key): its value (in `scratch`) and the text after the quote.
fn double_quoted<'s, 't>(text: &'t str, scratch: &'s mut String) -> Option<(&'s str, &'t str)> {
    scratch.clear();
    match quoted_segment(&text[1..], true, scratch, &mut 0)? {
        Segment::Closed(rest) => Some((scratch.as_str(), rest)),
        Segment::Open { .. } => None,
    }
}

/// How a quoted scalar's text on one line ends.
enum Segment<'t> {
    /// At the closing quote; the text after it.
    Closed(&'t str),
    /// At the end of the line; `escaped_break` when a backslash ends it (double quotes).
    Open { escaped_break: bool },
}

/// Decodes one line of a quoted scalar (from after the opening quote, or a continuation line from its
/// first character) into `value`. `keep` is left at the length of `value` up to its last character
/// that is not unescaped white space. `None` for an escape this subset does not read.
fn quoted_segment<'t>(line: &'t str, double: bool, value: &mut String, keep: &mut usize) -> Option<Segment<'t>> {
    // Text between quotes and escapes is copied a run at a time: the JSON of a
    // `last-applied-configuration` annotation is kilobytes with an escape every few characters.
    let copy = |value: &mut String, keep: &mut usize, run: &str| {
        value.push_str(run);
        let content = run.trim_end_matches([' ', '\t']);
        if !content.is_empty() {
            *keep = value.len() - (run.len() - content.len());
        }
    };
    let bytes = line.as_bytes();
    let (mut from, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' if double => {
                copy(value, keep, &line[from..i]);
                return Some(Segment::Closed(&line[i + 1..]));
            }
            b'\'' if !double => {
                copy(value, keep, &line[from..i]);
                if bytes.get(i + 1) != Some(&b'\'') {
                    return Some(Segment::Closed(&line[i + 1..]));
                }
                value.push('\'');
                *keep = value.len();
                i += 2;
                from = i;
            }
            b'\\' if double => {
                copy(value, keep, &line[from..i]);
                let Some(e) = line[i + 1..].chars().next() else {
                    return Some(Segment::Open { escaped_break: true });
                };
                let mut end = i + 1 + e.len_utf8();
                let decoded = match e {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    ' ' => ' ',
                    'n' => '\n',
                    't' | '\t' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    '0' => '\0',
                    'a' => '\u{7}',
                    'e' => '\u{1b}',
                    'v' => '\u{b}',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' | 'u' | 'U' => {
                        let digits = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = line.get(end..end + digits)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        end += digits;
                        char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                    }
                    _ => return None,
                };
                value.push(decoded);
                *keep = value.len();
                i = end;
                from = i;
            }
            _ => i += 1,
        }
    }
    copy(value, keep, &line[from..]);
    Some(Segment::Open { escaped_break: false })
}

/// A single-quoted scalar closed on its line (`''` is a quote): its value and the text after it.
fn single_quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = &text[1..];
    let mut value: Option<String> = None;
    let mut from = 0;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                let v = value.get_or_insert_with(String::new);
                v.push_str(&body[from..=i]);
                i += 2;
                from = i;
                continue;
            }
            let rest = &body[i + 1..];
            return Some(match value {
                None => (Cow::Borrowed(&body[..i]), rest),
                Some(mut v) => {
                    v.push_str(&body[from..i]);
                    (Cow::Owned(v), rest)
                }
            });
        }
        i += 1;
    }
    None
}

/// `0`, or an optional `-` and up to 18 digits without a leading zero: an integer in every YAML schema,
/// and the same number in JSON.
fn is_plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let b = digits.as_bytes();
    match b {
        [b'0'] => digits.len() == text.len(),
        [b'1'..=b'9', rest @ ..] => rest.len() < 18 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// True for a plain scalar that no YAML schema reads as anything but a string: it starts with a letter
/// and is none of the words for booleans, null, infinity and not-a-number; or it starts otherwise and
/// has a character no number has.
fn surely_string(text: &str) -> bool {
    let first = text.as_bytes()[0];
    if first.is_ascii_alphabetic() {
        const WORDS: [&str; 12] =
            ["y", "yes", "n", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity"];
        return text.len() > 8 || !WORDS.iter().any(|w| w.eq_ignore_ascii_case(text));
    }
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return !first.is_ascii_punctuation() || matches!(first, b'/' | b'_' | b'$' | b'(' | b'<' | b'=' | b'^' | b';');
    }
    // A number has a sign only first or after an exponent's `e`, and one point at most (so UIDs, dates
    // and IP addresses are strings).
    let inner_sign = text
        .bytes()
        .skip(1)
        .zip(text.bytes())
        .any(|(b, before)| matches!(b, b'+' | b'-') && !matches!(before, b'e' | b'E'));
    if inner_sign || text.bytes().filter(|b| *b == b'.').count() > 1 {
        return true;
    }
    // Digits, signs, points, exponents, radix prefixes and hex digits, underscores, sexagesimal colons,
    // and the letters of `inf` and `nan`.
    !text.bytes().all(|b| b.is_ascii_hexdigit() || b"+-._:xXoOiInN".contains(&b))
}

/// Writes `s` as a JSON string.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    // Most strings need no escape: one branch-free pass to find out.
    if !bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\') | (b == 0x7f)) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            b'\r' => "\\r",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// True when the text has no character this subset leaves to the full parser wherever it stands:
/// control characters (but tab and line feed), DEL, C1 controls (NEL is a line break in YAML 1.1), a
/// byte-order mark, and the Unicode line and paragraph separators.
fn plain_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Most input is ASCII: one pass that the compiler vectorizes, no early exit.
    if text.is_ascii() {
        return !bytes.chunks(4096).any(|chunk| {
            chunk.iter().fold(false, |bad, &b| bad | (b < 0x20 && b != b'\t' && b != b'\n') | (b == 0x7f))
        });
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\t' | b'\n' => {}
            0..=0x1f | 0x7f => return false,
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => return false,
            0xef if bytes.get(i + 1..i + 3) == Some(&[0xbb, 0xbf]) => return false,
            0xe2 if matches!(bytes.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_resolve(_: &str) -> Option<Value> {
        None
    }

    fn json(doc: &str) -> Option<Value> {
        to_json(doc, &no_resolve).map(|j| serde_json::from_str(&j).unwrap_or_else(|e| panic!("{e}: {j}")))
    }

    #[test]
    fn kubectl_style_documents_transcode() {
        let doc = "apiVersion: v1\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    annotations:\n      a: |\n        {\"x\": 1}\n\n        second\n      b: 'it''s'\n    labels: {}\n    name: web # comment\n    reason: \"Back-off pulling image \\\"x\\\": a long\n      message,  \n\n      wrapped \\\n      here\"\n    quote: 'it''s\n      wrapped'\n    message: a long message\n      wrapped at spaces\n\n      and a blank line\n    image: >-\n      registry.example.com/app@sha256:0\n  spec:\n    replicas: 2\n    template:\n      spec:\n        containers:\n        - name: main\n          args:\n          - -v\n          - \"a\\tb\\u00e9\"\n          ports:\n          -   containerPort: 8080\n        volumes: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
        let value = json(doc).expect("in the subset");
        let item = &value["items"][0];
        assert_eq!(item["metadata"]["annotations"]["a"], "{\"x\": 1}\n\nsecond\n");
        assert_eq!(item["metadata"]["annotations"]["b"], "it's");
        assert_eq!(item["metadata"]["name"], "web");
        assert_eq!(item["metadata"]["reason"], "Back-off pulling image \"x\": a long message,\nwrapped here");
        assert_eq!(item["metadata"]["quote"], "it's wrapped");
        assert_eq!(item["metadata"]["message"], "a long message wrapped at spaces\nand a blank line");
        assert_eq!(item["metadata"]["image"], "registry.example.com/app@sha256:0");
        assert_eq!(item["spec"]["replicas"], 2);
        let container = &item["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"], serde_json::json!(["-v", "a\tb\u{e9}"]));
        assert_eq!(container["ports"][0]["containerPort"], 8080);
        assert_eq!(value["metadata"]["resourceVersion"], "");
    }

    #[test]
    fn anything_uncertain_is_left_to_the_full_parser() {
        for doc in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n",
            "a: >\n  folded\n\n  with a blank line\n",
            "a: |+\n  kept\n\n",
            "a: \"two\nlines at the key's column\"\n",
            "a: plain\n  - continued\n",
            "a: 1\na: 2\n",
            "<<: {}\n",
            "a:\tb\n",
            "a: \x1b[31m\n",
            "a: 1.5\n", // resolved by the full parser; here the resolver refuses
            "just a scalar\n",
            "a:\n  - 1\n - 2\n",
        ] {
            assert_eq!(json(doc), None, "{doc:?}");
        }
        let deep = (0..60).map(|d| format!("{}k:\n", "  ".repeat(d))).collect::<String>();
        assert_eq!(json(&deep), None);
        // A document of scalars only the full parser can resolve goes to it whole.
        let resolve = |_: &str| Some(Value::from(1.5));
        let floats = "- 1.5\n".repeat(1000);
        assert!(to_json(&floats[..600], &resolve).is_some());
        assert_eq!(to_json(&floats, &resolve), None);
    }

    #[test]
    fn items_blocks_are_found_and_cut_out() {
        let doc = "apiVersion: v1\nitems:\n- a: 1\n  b: 2\n# c\n- a: 3\n-\n  a: 4\nkind: List\n";
        let whole = items_block(doc, usize::MAX).unwrap();
        assert_eq!((whole.slices.as_slice(), whole.indent), (&["- a: 1\n  b: 2\n# c\n- a: 3\n-\n  a: 4\n"][..], 0));
        assert_eq!(whole.rest, "apiVersion: v1\nitems:\nkind: List\n");
        let cut = items_block(doc, 1).unwrap();
        assert_eq!(cut.slices, ["- a: 1\n  b: 2\n# c\n", "- a: 3\n", "-\n  a: 4\n"]);
        let seq = sequence_to_json(cut.slices[0], 0, &no_resolve).unwrap();
        assert_eq!(seq, r#"[{"a":1,"b":2}]"#);
        let indented = items_block("items:\n  - x\n  - y\nkind: List\n", 1).unwrap();
        assert_eq!((indented.slices.as_slice(), indented.indent), (&["  - x\n", "  - y\n"][..], 2));
        let kubectl =
            items_block("apiVersion: v1\nitems:\n- a: 1\n- b: |\n    x\n\n- c: 3\n  d: 4\nkind: List\n", 1).unwrap();
        assert_eq!(kubectl.slices, ["- a: 1\n", "- b: |\n    x\n\n", "- c: 3\n  d: 4\n"]);
        assert_eq!(kubectl.rest, "apiVersion: v1\nitems:\nkind: List\n");
        // A key at column 0 inside what looks like the block: the slice holding it is refused.
        let odd = items_block("items:\n- a: 1\nkind: List\n- b: 2\n", 1).unwrap();
        assert!(odd.slices.iter().any(|s| sequence_to_json(s, 0, &no_resolve).is_none()));
        assert!(items_block("kind: List\nitems: []\n", 1).is_none());
        assert!(items_block("items:\n  a: 1\n", 1).is_none());
    }

    #[test]
    fn scalars_that_might_not_be_strings_are_resolved_by_the_full_parser() {
        let asked = std::sync::Mutex::new(Vec::new());
        let resolve = |s: &str| {
            asked.lock().unwrap().push(s.to_string());
            Some(Value::from(s.len()))
        };
        let doc =
            "a: 100m\nb: 1.5\nc: yes\nd: 10.0.0.1\ne: Infinity\nf: 007\ng: 2026-10-01T12:00:00Z\nh: no-way\ni: -1\n";
        let value: Value = serde_json::from_str(&to_json(doc, &resolve).unwrap()).unwrap();
        assert_eq!(*asked.lock().unwrap(), ["1.5", "yes", "Infinity", "007"]);
        assert_eq!(value["a"], "100m");
        assert_eq!(value["b"], 3);
        assert_eq!(value["h"], "no-way");
        assert_eq!(value["i"], -1);
    }
}
