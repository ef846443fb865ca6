//! Where a report lives and how it is found: its object name (from the subject), its labels and the
//! owner reference that lets the garbage collector remove it with its subject.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use vigil_crds::Subject;

use crate::subject::SubjectKey;

/// Labels every report carries, so reports can be listed by subject.
pub mod labels {
    pub const SUBJECT_KIND: &str = "vigil.dev/subject-kind";
    pub const SUBJECT_NAME: &str = "vigil.dev/subject-name";
    pub const SUBJECT_UID: &str = "vigil.dev/subject-uid";
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
}

/// The report's object name: `<kind>-<name>` lowercased, made a valid DNS subdomain, with a short hash
/// of the subject when it had to be changed or shortened.
pub fn report_name(subject: &Subject) -> String {
    if subject.kind == "Cluster" {
        // The one cluster-wide report.
        return subject.name.clone();
    }
    let raw = format!("{}-{}", subject.kind, subject.name).to_lowercase();
    let clean = sanitize(&raw, 253);
    if clean == raw { clean } else { with_hash(&clean, &raw, 253) }
}

/// A valid label value for `text` (at most 63 characters), hashed when changed.
pub fn label_value(text: &str) -> String {
    let mut clean: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    clean.truncate(63);
    let clean = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if clean == text { clean.to_string() } else { with_hash(&clean.to_lowercase(), text, 63) }
}

fn sanitize(text: &str, max: usize) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    s.truncate(max);
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

fn with_hash(clean: &str, original: &str, max: usize) -> String {
    let hash = format!("{:08x}", fnv1a(original.as_bytes()) as u32);
    let mut base = clean.to_string();
    base.truncate(max - hash.len() - 1);
    let base = base.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() { hash } else { format!("{base}-{hash}") }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

pub(crate) fn report_metadata(subject: &Subject) -> ObjectMeta {
    let mut labels = BTreeMap::new();
    labels.insert(labels::SUBJECT_KIND.to_string(), label_value(&subject.kind));
    labels.insert(labels::SUBJECT_NAME.to_string(), label_value(&subject.name));
    if let Some(uid) = &subject.uid {
        labels.insert(labels::SUBJECT_UID.to_string(), label_value(uid));
    }
    labels.insert(labels::MANAGED_BY.to_string(), "vigil".to_string());
    // The garbage collector removes the report with its subject; only when the subject has a uid (a live
    // object), and never for a namespace's own report (it lives inside the namespace anyway).
    let owner_references = subject.uid.as_ref().filter(|_| subject.kind != "Cluster").map(|uid| {
        vec![OwnerReference {
            api_version: subject.api_version.clone(),
            kind: subject.kind.clone(),
            name: subject.name.clone(),
            uid: uid.clone(),
            controller: Some(false),
            block_owner_deletion: None,
        }]
    });
    ObjectMeta {
        name: Some(report_name(subject)),
        namespace: subject.namespace.clone(),
        labels: Some(labels),
        owner_references,
        ..ObjectMeta::default()
    }
}

/// Where the report of the subject `key` lives, `(namespace, name)`, also when the subject is gone: a
/// Namespace's report lives in that namespace, cluster-scoped subjects' reports in none.
pub fn report_location(key: &SubjectKey) -> (Option<String>, String) {
    let namespace = match key.kind.as_str() {
        "Namespace" => Some(key.name.clone()),
        _ if key.namespace.is_empty() => None,
        _ => Some(key.namespace.clone()),
    };
    let subject = Subject {
        api_version: String::new(),
        kind: key.kind.clone(),
        name: key.name.clone(),
        namespace: None,
        uid: None,
    };
    (namespace, report_name(&subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str, name: &str) -> Subject {
        Subject { api_version: "v1".into(), kind: kind.into(), name: name.into(), namespace: None, uid: None }
    }

    #[test]
    fn report_names_are_valid_and_stable() {
        assert_eq!(report_name(&subject("Deployment", "web")), "deployment-web");
        assert_eq!(report_name(&subject("Cluster", "cluster")), "cluster");
        let colon = report_name(&subject("ClusterRole", "system:aggregate-to-edit"));
        assert!(colon.starts_with("clusterrole-system-aggregate-to-edit-"), "{colon}");
        assert_eq!(colon, report_name(&subject("ClusterRole", "system:aggregate-to-edit")));
        let long = report_name(&subject("Deployment", &"x".repeat(300)));
        assert!(long.len() <= 253 && long.chars().last().unwrap().is_ascii_alphanumeric(), "{long}");
    }

    #[test]
    fn label_values_keep_case_and_hash_only_when_changed() {
        assert_eq!(label_value("Deployment"), "Deployment");
        assert_eq!(label_value("payments-api"), "payments-api");
        let changed = label_value("system:kube-proxy");
        assert!(changed.starts_with("system-kube-proxy-") && changed.len() <= 63, "{changed}");
        assert!(label_value(&"a".repeat(100)).len() <= 63);
    }
}
