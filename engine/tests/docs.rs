//! `docs/checks.md` is generated from the catalog table; regenerate with `make docs`.

#[test]
fn checks_doc_matches_the_catalog() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/checks.md");
    let generated = vigil_engine::checks::docs::markdown();
    if std::env::var_os("VIGIL_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == generated, "docs/checks.md drifted from the check table; run `make docs`");
}

#[test]
fn catalog_is_complete_and_consistent() {
    let catalog = vigil_engine::catalog();
    let mut ids: Vec<&str> = catalog.iter().map(|c| c.id).collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate check ids");
    for c in catalog {
        assert!(c.risk <= 10, "{} risk out of range", c.id);
        assert!(!c.title.is_empty() && !c.fails_when.is_empty() && !c.remediation.is_empty(), "{} lacks docs", c.id);
        assert!(!c.seed_item.is_empty(), "{} names no seed item", c.id);
        assert!(c.rule.trim().len() > 40, "{} does not state the Kubernetes rule it follows", c.id);
        assert!(c.rule.contains("Source: "), "{} does not cite the source of its rule (`Source: ...`)", c.id);
        assert!(!c.evaluators.is_empty(), "{} has no evaluator", c.id);
        assert!(c.id.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'), "{} is not kebab-case", c.id);
    }
}
