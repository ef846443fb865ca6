//! Shell-style wildcards for names and images in exceptions: `*` matches any run of characters (also `/`
//! and `:`), `?` exactly one; everything else matches itself.

/// True when `text` matches `pattern` as a whole.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    // Where the last `*` was and the text position it was tried at: on a mismatch, let it swallow one
    // more character. Linear in practice, never exponential.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some('?') => {
                p += 1;
                t += 1;
            }
            Some(c) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn wildcards() {
        assert!(glob_matches("web-*", "web-frontend"));
        assert!(glob_matches("web-*", "web-"));
        assert!(!glob_matches("web-*", "api-web"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("db-?", "db-1"));
        assert!(!glob_matches("db-?", "db-12"));
        assert!(glob_matches("registry.example.com/legacy/*", "registry.example.com/legacy/app:1.2"));
        assert!(glob_matches("*/nginx:*", "docker.io/library/nginx:1.27"));
        assert!(glob_matches("a*b*c", "aXXbYYbZc"));
        assert!(!glob_matches("a*b*c", "aXXbYYbZ"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
    }
}
