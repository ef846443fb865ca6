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

/// The report's object name: `<kind>-<name>` (kind lowercased), kept as is when that is a valid DNS
/// subdomain, else made one and suffixed with a hash of the exact `<kind>-<name>`.
///
/// Injective, so two subjects never share a report: names are case-sensitive (RBAC's `Admin` and
/// `admin` are two roles), so case is never folded without a hash; and a name kept as is never looks
/// like a hashed one (a valid name that ends like a hash suffix is hashed too), so no tenant can pick a
/// name that lands on another subject's report. The hash is SHA-256 (64 bits shown): tenants choose the
/// names, and finding a second name for a given hash must be out of reach.
pub fn report_name(subject: &Subject) -> String {
    if subject.kind == "Cluster" {
        // The one cluster-wide report.
        return subject.name.clone();
    }
    let raw = format!("{}-{}", subject.kind.to_lowercase(), subject.name);
    let clean = sanitize(&raw, 253);
    if clean == raw && !looks_hashed(&clean) { clean } else { with_hash(&clean, &raw, 253) }
}

/// The name of a report's policy-report view (OpenReports or wg-policy): `vigil-<report name>`, in the
/// report's namespace. Injective like [`report_name`]: a name that would pass 253 characters is hashed,
/// and a kept report name never ends like a hash.
pub fn mirror_name(report_name: &str) -> String {
    let name = format!("vigil-{report_name}");
    if name.len() <= 253 { name } else { with_hash(&name, &name, 253) }
}

/// Length of the hash suffix (hex digits).
const HASH_LEN: usize = 16;

/// True when `name` ends like [`with_hash`] output: `-` and [`HASH_LEN`] lowercase hex digits.
fn looks_hashed(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > HASH_LEN
        && bytes[bytes.len() - HASH_LEN - 1] == b'-'
        && bytes[bytes.len() - HASH_LEN..].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        || bytes.len() == HASH_LEN && bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
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
    use sha2::Digest;
    let digest = sha2::Sha256::digest(original.as_bytes());
    let hash: String = digest.iter().take(HASH_LEN / 2).map(|b| format!("{b:02x}")).collect();
    let mut base = clean.to_string();
    base.truncate(max - hash.len() - 1);
    let base = base.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() { hash } else { format!("{base}-{hash}") }
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
        assert_eq!(mirror_name("deployment-web"), "vigil-deployment-web");
        let mirror = mirror_name(&report_name(&subject("Deployment", &"x".repeat(250))));
        assert!(mirror.len() <= 253 && mirror.starts_with("vigil-deployment-xx"), "{mirror}");
        assert_ne!(mirror, mirror_name(&report_name(&subject("Deployment", &"x".repeat(251)))));
    }

    #[test]
    fn report_names_are_injective() {
        // RBAC names are case-sensitive: two roles, two reports.
        let upper = report_name(&subject("ClusterRole", "Admin"));
        let lower = report_name(&subject("ClusterRole", "admin"));
        assert_ne!(upper, lower);
        assert_eq!(lower, "clusterrole-admin");
        // A tenant naming a role like another subject's hashed report name gets a report of its own.
        let forged = upper.strip_prefix("clusterrole-").unwrap().to_string();
        assert_ne!(report_name(&subject("ClusterRole", &forged)), upper);
        // Sanitising alone never merges two names either.
        assert_ne!(report_name(&subject("ClusterRole", "a:b")), report_name(&subject("ClusterRole", "a_b")));
        assert_ne!(report_name(&subject("ClusterRole", "a:b")), report_name(&subject("ClusterRole", "a-b")));
        // Kinds are part of the name.
        assert_ne!(report_name(&subject("Role", "x")), report_name(&subject("ClusterRole", "x")));
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
