//! Pod Security readiness: for a namespace, the strictest Pod Security Standards level all its current
//! workloads would pass, and which workloads and fields block the next level, judged the way Pod
//! Security Admission judges pods ([`controls`]) for the Kubernetes version being judged.

pub mod controls;
pub mod readiness;

pub use readiness::namespace_readiness;
