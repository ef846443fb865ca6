//! Leader election on a coordination.k8s.io Lease: one replica writes, the others keep their index warm
//! and stay ready. Acquire, renew and take-over use the Lease's resourceVersion, so two replicas never
//! both believe they lead. Needs a client.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch as signal;
use tracing::{info, warn};

/// How long a Lease holds without renewal.
const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and a standby retries.
const RENEW_INTERVAL: Duration = Duration::from_secs(5);

pub fn default_identity() -> String {
    std::env::var("POD_NAME").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        let host =
            std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "vigil".into());
        format!("{host}-{}", std::process::id())
    })
}

pub fn default_namespace() -> String {
    std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| "default".into())
    })
}

pub async fn elect(
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    leading: signal::Sender<bool>,
    shared: std::sync::Arc<super::Shared>,
    mut shutdown: signal::Receiver<bool>,
) {
    let metrics = &shared.metrics;
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let mut last_renewal: Option<std::time::Instant> = None;
    loop {
        let now = Timestamp::now();
        match try_acquire_or_renew(&api, &name, &identity, now).await {
            Ok(true) => {
                last_renewal = Some(std::time::Instant::now());
                if !*leading.borrow() {
                    info!(lease = %name, identity, "became the leader");
                    let _ = leading.send(true);
                }
            }
            Ok(false) => {
                if *leading.borrow() {
                    warn!(lease = %name, "lost the Lease to another replica; standing by");
                    let _ = leading.send(false);
                }
            }
            Err(source) => {
                let error = super::error::Error::Lease(source);
                warn!(lease = %name, %error);
                metrics.api_error(&error);
                // Step down before the Lease could have expired for the others.
                if *leading.borrow() && last_renewal.is_none_or(|t| t.elapsed() > LEASE_DURATION - RENEW_INTERVAL) {
                    warn!("stepping down: the Lease could not be renewed in time");
                    let _ = leading.send(false);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_INTERVAL) => {}
            _ = shutdown.changed() => {
                if *leading.borrow() {
                    release(&api, &name, &identity).await;
                    let _ = leading.send(false);
                }
                return;
            }
        }
    }
}

fn lease_spec(identity: &str, now: Timestamp, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// True when `identity` holds the Lease after this call.
async fn try_acquire_or_renew(api: &Api<Lease>, name: &str, identity: &str, now: Timestamp) -> kube::Result<bool> {
    let Some(mut lease) = api.get_opt(name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(name.to_string()), ..ObjectMeta::default() },
            spec: Some(lease_spec(identity, now, 0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false), // another replica was faster
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    let transitions = spec.lease_transitions.unwrap_or(0);
    let new_spec = if holder == identity {
        lease_spec(identity, now, transitions, spec.acquire_time.clone())
    } else {
        let duration = jiff::SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(15) as i64);
        let expired = spec.renew_time.as_ref().is_none_or(|t| t.0 + duration < now);
        if !holder.is_empty() && !expired {
            return Ok(false);
        }
        lease_spec(identity, now, transitions + 1, None)
    };
    lease.spec = Some(new_spec);
    // The resourceVersion read above makes this a compare-and-swap.
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Hands the Lease over at shutdown, so a standby takes over at once instead of after it expires.
async fn release(api: &Api<Lease>, name: &str, identity: &str) {
    let Ok(Some(mut lease)) = api.get_opt(name).await else { return };
    let Some(spec) = lease.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(identity) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => info!(lease = %name, "released the Lease"),
        Err(error) => warn!(lease = %name, %error, "could not release the Lease"),
    }
}
