//! A soft memory limit, in the spirit of Go's GOMEMLIMIT: the operator reads its container's memory limit
//! from the cgroup, exports resident memory against it, and when resident memory passes the soft limit
//! (a share of the hard one) it warns, raises `vigil_memory_pressure` and hands freed heap pages back
//! to the kernel, so the kernel's OOM killer is the last resort, not the first sign of a cluster that
//! outgrew the sizing rule (README, "Sizing").

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch as signal;
use tracing::{info, warn};

use super::Shared;
use super::watch::LogLimiter;

/// The soft limit, as a share of the container's memory limit.
pub const SOFT_SHARE: f64 = 0.9;
/// How often resident memory is read.
const PERIOD: Duration = Duration::from_secs(5);

/// The memory limit a cgroup (v2 `memory.max`, else v1 `memory.limit_in_bytes`) under `root` states:
/// `None` when there is none ("max", or v1's "unlimited" near `i64::MAX`).
pub fn cgroup_limit(root: &Path) -> Option<u64> {
    let v2 = std::fs::read_to_string(root.join("memory.max")).ok();
    let v1 = || std::fs::read_to_string(root.join("memory/memory.limit_in_bytes")).ok();
    let text = v2.or_else(v1)?;
    let limit: u64 = text.trim().parse().ok()?;
    // cgroup v1 says "no limit" with a page-rounded i64::MAX.
    (limit < (1 << 62)).then_some(limit)
}

/// Resident memory of this process (`VmRSS` in `/proc/self/status`), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit for a hard limit.
pub fn soft_limit(limit: u64) -> u64 {
    (limit as f64 * SOFT_SHARE) as u64
}

/// Returns freed heap pages to the kernel (glibc keeps them otherwise, and they count as resident). A
/// full pass builds and drops a report per subject: without this, that churn stays resident.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Watches resident memory against the container's limit until shutdown.
pub async fn watch(shared: Arc<Shared>, mut shutdown: signal::Receiver<bool>) {
    let limit = cgroup_limit(Path::new("/sys/fs/cgroup"));
    shared.metrics.memory_limit_bytes.set(limit.map_or(0, |l| l as i64));
    match limit {
        Some(limit) => info!(limit_mib = limit >> 20, soft_limit_mib = soft_limit(limit) >> 20, "memory limit"),
        None => info!("no memory limit found in the cgroup: memory pressure is not watched"),
    }
    let mut warnings = LogLimiter::per_minute();
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Some(resident) = resident_bytes() else { continue };
        shared.metrics.resident_memory_bytes.set(resident as i64);
        let Some(limit) = limit else { continue };
        let pressed = resident > soft_limit(limit);
        shared.metrics.memory_pressure.set(pressed as i64);
        if pressed {
            release_free_memory();
            let after = resident_bytes().unwrap_or(resident);
            if after > soft_limit(limit) && warnings.allow() {
                warn!(
                    resident_mib = after >> 20,
                    limit_mib = limit >> 20,
                    suppressed = warnings.take_suppressed(),
                    "resident memory is above the soft limit: raise the memory limit (README, Sizing)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cgroup_v2_and_v1_limits_and_no_limit() {
        let dir = std::env::temp_dir().join(format!("vigil-memory-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("memory")).unwrap();
        assert_eq!(cgroup_limit(&dir), None, "no files");
        std::fs::write(dir.join("memory/memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        assert_eq!(cgroup_limit(&dir), None, "v1 unlimited");
        std::fs::write(dir.join("memory/memory.limit_in_bytes"), "536870912\n").unwrap();
        assert_eq!(cgroup_limit(&dir), Some(512 << 20), "v1");
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit(&dir), None, "v2 unlimited wins over v1");
        std::fs::write(dir.join("memory.max"), "1073741824\n").unwrap();
        assert_eq!(cgroup_limit(&dir), Some(1 << 30), "v2");
        assert_eq!(soft_limit(1000), 900);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resident_memory_is_read() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
