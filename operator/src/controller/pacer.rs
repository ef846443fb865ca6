//! Adaptive pacing of report writes, as API Priority and Fairness expects of a well-behaved client: start
//! fast, slow down when the API server says so (429 or 503 with `Retry-After`) or when its answers get
//! slower, and speed up again while they stay fast. Additive increase, multiplicative decrease (AIMD),
//! the scheme TCP uses against congestion. Pure but for the clock: the writer reports each outcome.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The slowest pace: one write every ten seconds, so a paused writer still makes progress.
pub const MIN_RATE: f64 = 0.1;
/// How far the pace drops on a rejection (429/503).
const THROTTLED_FACTOR: f64 = 0.5;
/// How far the pace drops when latency rises.
const SLOW_FACTOR: f64 = 0.7;
/// Latency counts as risen above this multiple of the best smoothed latency seen...
const SLOW_MULTIPLE: f64 = 4.0;
/// ...and only above this absolute floor (a loopback write takes a few ms; jitter below this is noise).
const SLOW_FLOOR: Duration = Duration::from_millis(200);
/// Weight of the newest sample in the smoothed latency.
const SMOOTHING: f64 = 0.2;
/// The baseline (best smoothed latency) creeps up by this fraction per sample, so one lucky fast answer
/// long ago does not make every later answer look slow.
const BASELINE_DRIFT: f64 = 0.001;

/// What one write told about the API server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// Answered (success or an ordinary error) after this long.
    Answered(Duration),
    /// Refused for load (429, or 503 with `Retry-After`): wait this long before the next write.
    Throttled(Duration),
}

#[derive(Debug)]
struct State {
    rate: f64,
    /// When the next write may start.
    next: Instant,
    smoothed: Option<f64>,
    baseline: Option<f64>,
    /// No decrease again before this: one congestion signal is seen by every write in flight.
    hold_until: Instant,
}

/// The writer's pace, shared by every write task.
#[derive(Debug)]
pub struct Pacer {
    max_rate: f64,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer that never exceeds `max_rate` writes per second and starts at half of it.
    pub fn new(max_rate: f64) -> Self {
        let max_rate = max_rate.max(MIN_RATE);
        let now = Instant::now();
        Pacer {
            max_rate,
            state: Mutex::new(State {
                rate: (max_rate / 2.0).max(MIN_RATE),
                next: now,
                smoothed: None,
                baseline: None,
                hold_until: now,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("pacer lock")
    }

    /// Writes per second now.
    pub fn rate(&self) -> f64 {
        self.state().rate
    }

    /// Waits for this write's slot. Slots are handed out in order, `1 / rate` apart.
    pub async fn wait_for_turn(&self) {
        let at = {
            let mut state = self.state();
            let at = state.next.max(Instant::now());
            state.next = at + Duration::from_secs_f64(1.0 / state.rate);
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Adjusts the pace to what a write saw. Returns the new rate.
    pub fn observe(&self, outcome: Outcome) -> f64 {
        let now = Instant::now();
        let mut state = self.state();
        match outcome {
            Outcome::Throttled(wait) => {
                // The server asked for a pause: nobody writes before it ends, whatever slots were given.
                state.next = state.next.max(now + wait);
                if now >= state.hold_until {
                    state.rate = (state.rate * THROTTLED_FACTOR).max(MIN_RATE);
                    state.hold_until = now + wait.max(Duration::from_secs(1));
                }
            }
            Outcome::Answered(latency) => {
                let sample = latency.as_secs_f64();
                let smoothed = match state.smoothed {
                    Some(s) => s + SMOOTHING * (sample - s),
                    None => sample,
                };
                state.smoothed = Some(smoothed);
                let baseline = match state.baseline {
                    Some(b) => (b * (1.0 + BASELINE_DRIFT)).min(smoothed),
                    None => smoothed,
                };
                state.baseline = Some(baseline);
                let slow = smoothed > SLOW_FLOOR.as_secs_f64() && smoothed > SLOW_MULTIPLE * baseline;
                if slow {
                    if now >= state.hold_until {
                        state.rate = (state.rate * SLOW_FACTOR).max(MIN_RATE);
                        // Wait about one smoothed round trip before judging again.
                        state.hold_until = now + Duration::from_secs_f64(smoothed.max(0.5));
                    }
                } else if now >= state.hold_until {
                    // One percent of the ceiling per good answer: from half to full in fifty writes.
                    state.rate = (state.rate + self.max_rate / 100.0).min(self.max_rate);
                }
            }
        }
        state.rate
    }
}

/// What an API error says about load: the pause the server asked for, if it refused for load (429, or
/// 503 and 504 from an overloaded server); `Retry-After` comes in the Status details.
pub fn throttled(error: &kube::Error) -> Option<Duration> {
    let kube::Error::Api(status) = error else { return None };
    if !matches!(status.code, 429 | 503 | 504) {
        return None;
    }
    let seconds = status.details.as_ref().map_or(0, |d| d.retry_after_seconds);
    // No hint: one second, as client-go waits when a 429 names none.
    Some(Duration::from_secs(u64::from(seconds.max(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn starts_at_half_the_ceiling_and_climbs_while_answers_stay_fast() {
        let pacer = Pacer::new(200.0);
        assert_eq!(pacer.rate(), 100.0);
        for _ in 0..49 {
            pacer.observe(Outcome::Answered(ms(10)));
        }
        assert!((pacer.rate() - 198.0).abs() < 1e-9, "{}", pacer.rate());
        for _ in 0..10 {
            pacer.observe(Outcome::Answered(ms(12)));
        }
        assert_eq!(pacer.rate(), 200.0, "never above the ceiling");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_pace_once_and_pauses_every_write_for_retry_after() {
        let pacer = Pacer::new(200.0);
        pacer.observe(Outcome::Throttled(Duration::from_secs(2)));
        assert_eq!(pacer.rate(), 50.0);
        // The other writes in flight saw the same overload: no second halving within the hold.
        pacer.observe(Outcome::Throttled(Duration::from_secs(2)));
        assert_eq!(pacer.rate(), 50.0);
        let start = Instant::now();
        pacer.wait_for_turn().await;
        assert!(start.elapsed() >= Duration::from_secs(2), "{:?}", start.elapsed());
        // Later overload halves again.
        tokio::time::advance(Duration::from_secs(3)).await;
        pacer.observe(Outcome::Throttled(Duration::from_secs(1)));
        assert_eq!(pacer.rate(), 25.0);
    }

    #[tokio::test(start_paused = true)]
    async fn rising_latency_slows_the_pace_and_fast_answers_bring_it_back() {
        let pacer = Pacer::new(100.0);
        for _ in 0..60 {
            pacer.observe(Outcome::Answered(ms(20)));
        }
        assert_eq!(pacer.rate(), 100.0);
        // The server slows down to a second per write: the smoothed latency passes 4x the baseline and
        // the 200 ms floor, and the pace drops, once per hold (the other writes in flight saw the same).
        for _ in 0..5 {
            pacer.observe(Outcome::Answered(ms(1000)));
        }
        assert_eq!(pacer.rate(), 70.0);
        tokio::time::advance(Duration::from_secs(1)).await;
        pacer.observe(Outcome::Answered(ms(1000)));
        assert!((pacer.rate() - 49.0).abs() < 1e-9, "{}", pacer.rate());
        // Fast again: the smoothed latency falls back and the pace climbs to the ceiling.
        for _ in 0..200 {
            tokio::time::advance(ms(20)).await;
            pacer.observe(Outcome::Answered(ms(20)));
        }
        assert_eq!(pacer.rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_but_steady_answers_below_the_floor_do_not_slow_the_pace() {
        let pacer = Pacer::new(100.0);
        for _ in 0..10 {
            pacer.observe(Outcome::Answered(ms(5)));
        }
        // 30x slower, but still well under 200 ms: a busy loopback server, not an overloaded one.
        for _ in 0..50 {
            pacer.observe(Outcome::Answered(ms(150)));
        }
        assert_eq!(pacer.rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate() {
        let pacer = Pacer::new(20.0);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait_for_turn().await;
        }
        // 10 writes/s: the first at once, four more 100 ms apart.
        assert_eq!(start.elapsed(), ms(400));
    }

    #[test]
    fn load_errors_name_their_pause_and_others_none() {
        let status = |code: u16, retry: Option<u32>| {
            let mut s: kube::core::Status =
                serde_json::from_value(serde_json::json!({"code": code, "message": "x", "reason": "r"})).unwrap();
            if let Some(seconds) = retry {
                s.details =
                    Some(serde_json::from_value(serde_json::json!({"retryAfterSeconds": seconds})).expect("details"));
            }
            kube::Error::Api(Box::new(s))
        };
        assert_eq!(throttled(&status(429, Some(3))), Some(Duration::from_secs(3)));
        assert_eq!(throttled(&status(429, None)), Some(Duration::from_secs(1)));
        assert_eq!(throttled(&status(503, Some(0))), Some(Duration::from_secs(1)));
        assert_eq!(throttled(&status(409, None)), None);
        assert_eq!(throttled(&status(500, None)), None);
    }
}
