//! Input: what Vigil reads and where it keeps it. [`kinds`] declares every kind once; [`object`] is one
//! object of them; [`loader`] parses files and streams (`vigil scan`); [`index`] is the read model both
//! front doors fill; [`scope`] says whether it shows a whole cluster.

pub mod block_yaml;
pub mod bounded;
pub mod index;
pub mod kinds;
pub mod loader;
pub mod object;
pub mod packed;
pub mod scope;
pub mod text;
