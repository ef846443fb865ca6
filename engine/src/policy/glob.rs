//! Shell-style wildcards for names and images in exceptions: `*` matches any run of characters (also `/`
//! and `:`), `?` exactly one; everything else matches itself.

/// True when `text` matches `pattern` as a whole.
///
/// Linear: the pattern is split at `*` into segments; the first must match at the start, the last at the
/// end, and each one between at its leftmost place after the one before (taking the leftmost place never
/// loses a match). A segment is found with the bit-parallel Shift-And search (`?` matches any character),
/// so the text is read once per segment's 64 characters, never re-read on a mismatch.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let segments: Vec<Vec<char>> = pattern.split('*').map(|s| s.chars().collect()).collect();
    let segment_matches = |seg: &[char], at: usize| seg.iter().zip(&text[at..]).all(|(p, t)| *p == '?' || p == t);
    if segments.len() == 1 {
        return segments[0].len() == text.len() && segment_matches(&segments[0], 0);
    }
    let (first, last) = (&segments[0], &segments[segments.len() - 1]);
    if first.len() + last.len() > text.len()
        || !segment_matches(first, 0)
        || !segment_matches(last, text.len() - last.len())
    {
        return false;
    }
    let (mut from, end) = (first.len(), text.len() - last.len());
    for segment in &segments[1..segments.len() - 1] {
        match find(segment, &text[from..end]) {
            Some(at) => from += at + segment.len(),
            None => return false,
        }
    }
    true
}

/// The leftmost place of `segment` in `text` (`?` matches any character): Shift-And over words of 64
/// pattern positions.
fn find(segment: &[char], text: &[char]) -> Option<usize> {
    if segment.is_empty() {
        return Some(0);
    }
    let words = segment.len().div_ceil(64);
    // Per character of the segment: the positions it (or a `?`) takes; other characters take only `?`s.
    let mut wildcard = vec![0u64; words];
    let mut masks: std::collections::HashMap<char, Vec<u64>> = std::collections::HashMap::new();
    for (j, c) in segment.iter().enumerate() {
        if *c == '?' {
            wildcard[j / 64] |= 1 << (j % 64);
        }
    }
    for (j, c) in segment.iter().enumerate() {
        if *c != '?' {
            masks.entry(*c).or_insert_with(|| wildcard.clone())[j / 64] |= 1 << (j % 64);
        }
    }
    let last = segment.len() - 1;
    let mut state = vec![0u64; words];
    for (i, c) in text.iter().enumerate() {
        let mask = masks.get(c).unwrap_or(&wildcard);
        let mut carry = 1u64;
        for w in 0..words {
            let next_carry = state[w] >> 63;
            state[w] = ((state[w] << 1) | carry) & mask[w];
            carry = next_carry;
        }
        if state[last / 64] & (1 << (last % 64)) != 0 {
            return Some(i + 1 - segment.len());
        }
    }
    None
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
        assert!(glob_matches("a?c*x?z", "abcQQxyz"));
        assert!(!glob_matches("a*bc", "abcb"));
        assert!(glob_matches("*ab*ab*", "xxabyyab"));
        assert!(!glob_matches("*ab*ab*", "xxabyya"));
        assert!(glob_matches("**", "x"));
        assert!(glob_matches(&format!("*{}*", "?".repeat(70)), &"q".repeat(80)));
        assert!(!glob_matches(&format!("*{}*", "?".repeat(70)), &"q".repeat(69)));
    }

    /// The same answers as a plain recursive matcher, on many small patterns and texts.
    #[test]
    fn agrees_with_a_reference_matcher() {
        fn reference(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                Some((c, rest)) => {
                    t.split_first().is_some_and(|(tc, tr)| (*c == '?' || c == tc) && reference(rest, tr))
                }
            }
        }
        let alphabet = ['a', 'b', '*', '?'];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let p: String = (0..next() % 7).map(|_| alphabet[(next() % 4) as usize]).collect();
            let t: String = (0..next() % 8).map(|_| alphabet[(next() % 2) as usize]).collect();
            let expected = reference(&p.chars().collect::<Vec<_>>(), &t.chars().collect::<Vec<_>>());
            assert_eq!(glob_matches(&p, &t), expected, "{p:?} {t:?}");
        }
    }
}
