//! Text taken from input, made safe to print on a terminal: control characters (C0, DEL, C1: ESC, OSC,
//! BEL, CR, newline, ...) and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069,
//! plus the marks U+200E, U+200F, U+061C) become visible `\u{..}` escapes, so a manifest can neither
//! recolour the terminal, move the cursor, reorder what is shown, nor forge a line of its own.

use std::borrow::Cow;

/// True for a character that must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// `text` with every unsafe character escaped (`\n`, `\r`, `\t` as such, others as `\u{1b}`); borrowed
/// when there is none. A backslash stays a backslash: the escapes are for reading, not for parsing back.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`], but keeps newlines: for a message of several lines, each already escaped field by
/// field where input could carry a newline.
pub fn escape_keeping_lines(text: &str) -> String {
    text.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_and_bidi_overrides_are_escaped() {
        assert!(matches!(escape("web-frontend"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[31mred\x07"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(escape("x\x1b]8;;http://e\x1b\\y"), "x\\u{1b}]8;;http://e\\u{1b}\\y");
        assert_eq!(escape("line\r\nSummary: 0"), "line\\r\\nSummary: 0");
        assert_eq!(escape("abc\u{202e}fed\u{2066}\u{2069}"), "abc\\u{202e}fed\\u{2066}\\u{2069}");
        assert_eq!(escape("\u{9b}31m\u{7f}"), "\\u{9b}31m\\u{7f}");
        assert_eq!(escape_keeping_lines("a\x1b\nb\rc"), "a\\u{1b}\nb\\rc");
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}'] {
            assert!(!escape(&format!("x{c}y")).contains(c), "{c:?}");
        }
    }
}
