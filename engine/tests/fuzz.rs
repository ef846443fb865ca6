//! A bounded fuzz run in the normal test suite: generated and mutated manifests (YAML, JSON, lists,
//! aliases, odd bytes, hostile text) through the loader, the policy store and the engine. Asserts no
//! panic, and that what is built stays within a small multiple of the input. A fixed seed and case count
//! keep it reproducible; `VIGIL_FUZZ_CASES` runs more.

use jiff::Timestamp;
use vigil_engine::input::loader::Loaded;
use vigil_engine::{Index, PolicyStore, audit};

#[path = "fuzz/generate.rs"]
mod generate;
use generate::{Rng, document_stream};

#[test]
fn generated_manifests_never_panic_and_stay_bounded() {
    let cases: usize = std::env::var("VIGIL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1500);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now: Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
    let mut loading = 0;
    for case in 0..cases {
        let bytes = document_stream(&mut rng);
        let outcome = std::panic::catch_unwind(|| {
            let mut loaded = Loaded::default();
            loaded.add_bytes("fuzz.yaml", &bytes);
            let mut store = PolicyStore::default();
            for (object, _) in &loaded.vigil_objects {
                let _ = store.apply(object);
            }
            let _ = store.check_exception_ids();
            let mut index = Index::new();
            let objects = loaded.objects.len();
            for (object, _) in loaded.objects {
                index.insert_stored(object);
            }
            let reports = audit(&index, &store.policy_set(), &store.exceptions(), now);
            let size: usize = reports.iter().map(|r| serde_json::to_vec(r).unwrap().len()).sum();
            (objects, reports.len(), size)
        });
        let Ok((objects, reports, size)) = outcome else {
            panic!("case {case} panicked on {:?}", String::from_utf8_lossy(&bytes));
        };
        loading += usize::from(objects > 0);
        assert!(reports <= objects + 64, "case {case}: {reports} reports from {objects} objects");
        // Each report is bounded by the catalog, whatever the input: a small multiple of the input plus
        // the findings every subject gets.
        assert!(size <= 64 * bytes.len() + (reports + 1) * 64 * 1024, "case {case}: {size} bytes of reports");
    }
    // The generator is no use if nothing loads.
    assert!(loading * 5 >= cases, "only {loading} of {cases} cases loaded an object");
}
