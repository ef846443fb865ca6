//! Printers for `vigil scan` and `vigil checks`.

pub mod checks;
pub mod sarif;
pub mod table;

use vigil_engine::Report;

/// Reports as a `kind: List`, each exactly as the operator writes it. Serialized straight from the
/// reports, without building a JSON tree of the whole list first.
pub struct ReportList<'a>(pub &'a [Report]);

impl serde::Serialize for ReportList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut list = serializer.serialize_struct("List", 3)?;
        list.serialize_field("apiVersion", "v1")?;
        list.serialize_field("kind", "List")?;
        list.serialize_field("items", self.0)?;
        list.end()
    }
}
