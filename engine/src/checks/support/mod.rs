//! What several checks share: pod and container views, NetworkPolicy selection, mesh injection and
//! policies, RBAC resolution, Kubernetes release data.

pub mod limits;
pub mod mesh;
pub mod network;
pub mod pod;
pub mod pss;
pub mod rbac;
pub mod rbac_defaults;
pub mod releases;
