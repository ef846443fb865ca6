//! One value per subject, kept by the operator between passes so that what it sums over every subject
//! (the `cluster` report's roll-up, the ComplianceReports) needs no report in memory. The sums themselves
//! are methods on the concrete maps: [`crate::report::Tallies`] and
//! [`crate::frameworks::evaluate::ComplianceTallies`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::SubjectKey;

#[derive(Debug)]
pub struct BySubject<T> {
    by_subject: BTreeMap<SubjectKey, T>,
}

impl<T> Default for BySubject<T> {
    fn default() -> Self {
        BySubject { by_subject: BTreeMap::new() }
    }
}

impl<T: PartialEq> BySubject<T> {
    /// Sets a subject's value; true when it changed. An equal value is not stored again (no copy).
    pub fn set(&mut self, key: SubjectKey, value: T) -> bool {
        match self.by_subject.entry(key) {
            Entry::Occupied(mut held) if *held.get() != value => {
                held.insert(value);
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(empty) => {
                empty.insert(value);
                true
            }
        }
    }
}

impl<T> BySubject<T> {
    /// Forgets a subject; true when it had a value.
    pub fn remove(&mut self, key: &SubjectKey) -> bool {
        self.by_subject.remove(key).is_some()
    }

    /// Forgets every subject (the operator stopped leading).
    pub fn clear(&mut self) {
        self.by_subject.clear();
    }

    /// How many subjects have a value.
    pub fn len(&self) -> usize {
        self.by_subject.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }

    /// Whether a subject has a value.
    pub fn contains(&self, key: &SubjectKey) -> bool {
        self.by_subject.contains_key(key)
    }

    /// Every subject's value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&SubjectKey, &T)> {
        self.by_subject.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> SubjectKey {
        SubjectKey::new("Pod", "shop", name)
    }

    #[test]
    fn set_says_whether_the_value_changed_and_remove_whether_there_was_one() {
        let mut map = BySubject::default();
        assert!(map.set(key("a"), 1));
        assert!(!map.set(key("a"), 1), "the same value again is no change");
        assert!(map.set(key("a"), 2));
        assert!(map.set(key("b"), 2));
        assert_eq!(map.len(), 2);
        assert!(map.contains(&key("a")));
        assert_eq!(map.iter().map(|(k, v)| (k.name.as_str(), *v)).collect::<Vec<_>>(), [("a", 2), ("b", 2)]);
        assert!(map.remove(&key("a")));
        assert!(!map.remove(&key("a")));
        map.clear();
        assert!(map.is_empty());
    }
}
