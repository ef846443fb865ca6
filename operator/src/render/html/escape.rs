//! Escaping: every text taken from the input goes through [`Esc`] before it reaches the page.

use std::fmt;

/// Text escaped for HTML: element content and quoted attribute values alike.
pub(super) struct Esc<'a>(pub(super) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Catalog prose: escaped, with `backquoted` spans as `<code>`.
pub(super) struct Prose<'a>(pub(super) &'a str);

impl fmt::Display for Prose<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.split('`').enumerate() {
            if i % 2 == 1 {
                write!(f, "<code>{}</code>", Esc(part))?;
            } else {
                write!(f, "{}", Esc(part))?;
            }
        }
        Ok(())
    }
}
