//! Printers for `vigil scan` and `vigil checks`.

pub mod checks;
pub mod sarif;
pub mod table;

use vigil_engine::Report;

/// Reports as a `kind: List`, each exactly as the operator writes it.
pub fn report_list(reports: &[Report]) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": reports.iter().map(Report::to_json).collect::<Vec<_>>(),
    })
}
