//! Leader election on a coordination.k8s.io Lease, with client-go's semantics
//! (`k8s.io/client-go/tools/leaderelection/leaderelection.go`): one replica writes, the others keep their
//! index warm and stay ready. Needs a client.
//!
//! - **lease duration**: a standby takes the Lease over only when the record has not changed for that
//!   long, measured on its *own* monotonic clock since it last saw the record change (client-go's
//!   `observedTime`), never by comparing another host's `renewTime` with its own wall clock;
//! - **renew deadline**: the leader renews every retry period; each attempt is bounded, and when no
//!   renewal succeeded within the renew deadline it stops writing. The deadline is shorter than the lease
//!   duration, so the old leader has stopped before any standby may take over;
//! - **retry period**: how often the leader renews and a standby looks;
//! - writes go through [`Leadership::write_permit`]: a permit is granted only while the last successful
//!   renewal is younger than the renew deadline (so a frozen-then-thawed process writes nothing), and
//!   stepping down waits for the permits in flight, so writes stop *before* the Lease is released.
//!
//! Acquire, renew and take-over are compare-and-swap on the Lease's resourceVersion, so two replicas
//! never both succeed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch as signal;
use tracing::{info, warn};

/// The election's timing (client-go's `LeaderElectionConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timing {
    /// client-go's and controller-runtime's defaults.
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timing {
    /// The orderings client-go enforces (`NewLeaderElector`): without them two replicas could write at once.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("--lease-duration must be greater than --renew-deadline".into());
        }
        // client-go: renewDeadline > JitterFactor(1.2) * retryPeriod.
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry_period.as_secs_f64() {
            return Err("--renew-deadline must be greater than 1.2 x --retry-period".into());
        }
        if self.retry_period.is_zero() {
            return Err("--retry-period must be greater than zero".into());
        }
        Ok(())
    }
}

/// Whether this replica may write now. Shared by the elector (which grants and revokes) and every writer.
pub struct Leadership {
    /// Until when the last successful renewal lets this replica write: the instant the renewal was
    /// *sent* plus the renew deadline. `None` while standing by.
    valid_until: Mutex<Option<Instant>>,
    /// Writers hold a read permit for the duration of one write; stepping down takes the write side, so
    /// it waits for the writes in flight.
    permits: tokio::sync::RwLock<()>,
    /// Wakes the reconcile loop on a change of leadership.
    changes: signal::Sender<bool>,
}

/// Held for the duration of one write.
pub type WritePermit<'a> = tokio::sync::RwLockReadGuard<'a, ()>;

impl Default for Leadership {
    fn default() -> Self {
        Leadership {
            valid_until: Mutex::new(None),
            permits: tokio::sync::RwLock::new(()),
            changes: signal::channel(false).0,
        }
    }
}

impl Leadership {
    /// True while the last renewal is younger than the renew deadline.
    pub fn is_leading(&self) -> bool {
        self.valid_until.lock().expect("leadership lock").is_some_and(|until| Instant::now() < until)
    }

    /// A permit to write, or `None` when this replica does not lead. Check it right before each write
    /// (after any wait for a rate-limit turn), and hold it until the write returns.
    pub async fn write_permit(&self) -> Option<WritePermit<'_>> {
        let permit = self.permits.read().await;
        self.is_leading().then_some(permit)
    }

    /// Leadership changes (true: became the leader), for the reconcile loop.
    pub fn subscribe(&self) -> signal::Receiver<bool> {
        self.changes.subscribe()
    }

    /// A renewal sent at `sent` succeeded.
    pub fn renewed(&self, sent: Instant, renew_deadline: Duration) {
        *self.valid_until.lock().expect("leadership lock") = Some(sent + renew_deadline);
        self.changes.send_if_modified(|leading| !std::mem::replace(leading, true));
    }

    /// Stops writing: waits for the writes in flight, then revokes. Returns once no write can start.
    pub async fn step_down(&self) {
        let _exclusive = self.permits.write().await;
        *self.valid_until.lock().expect("leadership lock") = None;
        self.changes.send_if_modified(|leading| std::mem::replace(leading, false));
    }

    /// Test helper: leads for `for_how_long` from now.
    #[cfg(test)]
    pub fn lead_for(&self, for_how_long: Duration) {
        self.renewed(Instant::now(), for_how_long);
    }
}

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

/// The part of a Lease record whose change proves its holder alive (client-go compares the raw record).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: String,
    renew_time: Option<Timestamp>,
    acquire_time: Option<Timestamp>,
    transitions: i32,
    duration_seconds: Option<i32>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Record {
        Record {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
            duration_seconds: spec.lease_duration_seconds,
        }
    }
}

/// What this replica last saw of the Lease, and when by its own clock.
#[derive(Debug, Default)]
struct Observer {
    observed: Option<(Record, Instant)>,
}

/// What to do with the Lease as read.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// We hold it: renew.
    Renew,
    /// Free, released, or unchanged for a whole lease duration: take it.
    TakeOver,
    /// Another replica holds it and was seen alive within the lease duration.
    StandBy,
}

impl Observer {
    /// Records the Lease as read at `now` and decides (client-go's `tryAcquireOrRenew`).
    fn decide(&mut self, spec: &LeaseSpec, identity: &str, now: Instant, default_duration: Duration) -> Decision {
        let record = Record::of(spec);
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != record) {
            self.observed = Some((record.clone(), now));
        }
        if record.holder == identity {
            return Decision::Renew;
        }
        if record.holder.is_empty() {
            return Decision::TakeOver;
        }
        let duration =
            record.duration_seconds.filter(|s| *s > 0).map_or(default_duration, |s| Duration::from_secs(s as u64));
        let (_, since) = self.observed.as_ref().expect("set above");
        if now.duration_since(*since) > duration { Decision::TakeOver } else { Decision::StandBy }
    }
}

fn lease_spec(
    identity: &str,
    now: Timestamp,
    duration: Duration,
    transitions: i32,
    acquired: Option<MicroTime>,
) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(duration.as_secs().max(1) as i32),
        acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// Runs the election until shutdown. `leadership` is what the writers consult.
#[allow(clippy::too_many_arguments)]
pub async fn elect(
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    timing: Timing,
    leadership: std::sync::Arc<Leadership>,
    shared: std::sync::Arc<super::Shared>,
    mut shutdown: signal::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let mut observer = Observer::default();
    let mut last_renewal: Option<Instant> = None;
    let mut warnings = super::watch::LogLimiter::per_minute();
    loop {
        let sent = Instant::now();
        // Every attempt is bounded: a hung request must not outlive the renew deadline.
        let attempt = tokio::time::timeout(
            timing.retry_period.max(Duration::from_secs(1)),
            try_acquire_or_renew(&api, &name, &identity, timing, &mut observer),
        )
        .await
        .unwrap_or_else(|_| Err(kube::Error::Service("the Lease request timed out".into())));
        match attempt {
            Ok(true) => {
                if !leadership.is_leading() {
                    info!(lease = %name, identity, "became the leader");
                }
                last_renewal = Some(sent);
                leadership.renewed(sent, timing.renew_deadline);
            }
            Ok(false) => {
                if leadership.is_leading() || last_renewal.is_some() {
                    warn!(lease = %name, "another replica holds the Lease; standing by");
                    leadership.step_down().await;
                    last_renewal = None;
                }
            }
            Err(source) => {
                let error = super::error::Error::Lease(source);
                // Every retry period while the API server is away: one line a minute, with the count.
                if warnings.allow() {
                    warn!(lease = %name, %error, suppressed = warnings.take_suppressed());
                }
                shared.metrics.api_error(&error);
            }
        }
        // No renewal within the deadline: stop writing now (writes also check the deadline themselves).
        if last_renewal.is_some_and(|t| t.elapsed() >= timing.renew_deadline) {
            warn!(lease = %name, "stepping down: the Lease was not renewed within the renew deadline");
            leadership.step_down().await;
            last_renewal = None;
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.retry_period) => {}
            _ = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
                // Writers stop before the Lease is released: a standby taking over at once never
                // overlaps a write of ours.
                let was_leading = last_renewal.is_some();
                leadership.step_down().await;
                if was_leading {
                    release(&api, &name, &identity).await;
                }
                return;
            }
        }
    }
}

/// True when `identity` holds the Lease after this call.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    timing: Timing,
    observer: &mut Observer,
) -> kube::Result<bool> {
    let now = Timestamp::now();
    let Some(mut lease) = api.get_opt(name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(name.to_string()), ..ObjectMeta::default() },
            spec: Some(lease_spec(identity, now, timing.lease_duration, 0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false), // another replica was faster
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let transitions = spec.lease_transitions.unwrap_or(0);
    let new_spec = match observer.decide(&spec, identity, Instant::now(), timing.lease_duration) {
        Decision::StandBy => return Ok(false),
        Decision::Renew => lease_spec(identity, now, timing.lease_duration, transitions, spec.acquire_time.clone()),
        Decision::TakeOver => lease_spec(identity, now, timing.lease_duration, transitions + 1, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: &str) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()).filter(|h: &String| !h.is_empty()),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    const LEASE: Duration = Duration::from_secs(15);

    #[test]
    fn expiry_is_judged_on_the_observers_clock_not_the_holders_renew_time() {
        let mut observer = Observer::default();
        let t0 = Instant::now();
        // A renewTime far in the past by our wall clock (skewed holder clock) is no reason to take over:
        // we have only just seen this record.
        let stale_looking = spec("other", "2001-01-01T00:00:00Z");
        assert_eq!(observer.decide(&stale_looking, "me", t0, LEASE), Decision::StandBy);
        // Still unchanged just under a lease duration later: stand by.
        assert_eq!(
            observer.decide(&stale_looking, "me", t0 + LEASE - Duration::from_millis(1), LEASE),
            Decision::StandBy
        );
        // Unchanged for longer than the lease duration: the holder is gone.
        assert_eq!(
            observer.decide(&stale_looking, "me", t0 + LEASE + Duration::from_millis(1), LEASE),
            Decision::TakeOver
        );
    }

    #[test]
    fn a_renewal_seen_restarts_the_observers_clock() {
        let mut observer = Observer::default();
        let t0 = Instant::now();
        assert_eq!(observer.decide(&spec("other", "2026-12-04T00:00:00Z"), "me", t0, LEASE), Decision::StandBy);
        // The holder renewed (the record changed) at t0 + 10 s: alive, even if its renewTime claims a
        // far-future time.
        let renewed = spec("other", "2099-01-01T00:00:00Z");
        assert_eq!(observer.decide(&renewed, "me", t0 + Duration::from_secs(10), LEASE), Decision::StandBy);
        assert_eq!(observer.decide(&renewed, "me", t0 + Duration::from_secs(20), LEASE), Decision::StandBy);
        assert_eq!(observer.decide(&renewed, "me", t0 + Duration::from_secs(26), LEASE), Decision::TakeOver);
    }

    #[test]
    fn own_and_released_leases() {
        let mut observer = Observer::default();
        let now = Instant::now();
        assert_eq!(observer.decide(&spec("me", "2026-12-04T00:00:00Z"), "me", now, LEASE), Decision::Renew);
        assert_eq!(observer.decide(&spec("", "2026-12-04T00:00:00Z"), "me", now, LEASE), Decision::TakeOver);
    }

    #[test]
    fn timings_must_leave_the_old_leader_time_to_stop() {
        assert!(Timing::default().validate().is_ok());
        let t = |l, r, p| Timing {
            lease_duration: Duration::from_secs(l),
            renew_deadline: Duration::from_secs(r),
            retry_period: Duration::from_secs(p),
        };
        assert!(t(10, 10, 2).validate().is_err());
        assert!(t(15, 2, 2).validate().is_err());
        assert!(t(15, 10, 0).validate().is_err());
    }

    #[tokio::test]
    async fn permits_end_at_the_renew_deadline_and_stepping_down_waits_for_writes_in_flight() {
        let leadership = std::sync::Arc::new(Leadership::default());
        assert!(leadership.write_permit().await.is_none(), "a standby got a permit");
        leadership.renewed(Instant::now(), Duration::from_millis(200));
        assert!(leadership.is_leading());
        // A write in flight holds its permit; step_down must wait for it.
        let permit = leadership.write_permit().await.expect("the leader gets a permit");
        let stepping = tokio::spawn({
            let leadership = leadership.clone();
            async move { leadership.step_down().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!stepping.is_finished(), "stepped down while a write was in flight");
        drop(permit);
        stepping.await.unwrap();
        assert!(!leadership.is_leading());
        // Without a renewal, a permit expires on its own (a process frozen past its deadline).
        leadership.renewed(Instant::now(), Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(leadership.write_permit().await.is_none(), "a permit outlived the renew deadline");
    }
}
