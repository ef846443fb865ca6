//! The Kubernetes release calendar, embedded so checks stay pure: the upstream end-of-life date of each
//! minor version, and helpers to judge a version against `ctx.now`.
//!
//! Source: <https://kubernetes.io/releases/> and the kubernetes/website release data. Dates up to
//! [`CALENDAR_KNOWN_UNTIL`] are published end-of-life dates; later ones are the projections upstream
//! publishes for maintained and planned minors, and may move.

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

/// The date the embedded calendar is known up to; end-of-life dates after it are upstream projections.
pub const CALENDAR_KNOWN_UNTIL: Date = date(2026, 11, 1);

/// The oldest minor the calendar lists (of major version 1). Older minors are all long past end of life.
const FIRST_MINOR: u32 = 19;

/// End of life of minors 1.19, 1.20, ... in order.
const END_OF_LIFE: [Date; 19] = [
    date(2021, 10, 28), // 1.19
    date(2022, 2, 28),  // 1.20
    date(2022, 6, 28),  // 1.21
    date(2022, 10, 28), // 1.22
    date(2023, 2, 28),  // 1.23
    date(2023, 7, 28),  // 1.24
    date(2023, 10, 28), // 1.25
    date(2024, 2, 28),  // 1.26
    date(2024, 6, 28),  // 1.27
    date(2024, 10, 28), // 1.28
    date(2025, 2, 28),  // 1.29
    date(2025, 6, 28),  // 1.30
    date(2025, 10, 28), // 1.31
    date(2026, 2, 28),  // 1.32
    date(2026, 6, 28),  // 1.33
    date(2026, 10, 27), // 1.34
    date(2027, 2, 28),  // 1.35
    date(2027, 6, 28),  // 1.36
    date(2027, 10, 28), // 1.37
];

/// The kubelet may be at most this many minors older than the API server (since Kubernetes 1.28).
pub const MAX_KUBELET_SKEW: u32 = 3;

/// The last day of upstream support of Kubernetes `1.<minor>`. `None` for a minor newer than the
/// calendar, which is assumed supported. Minors older than 1.19 return 1.19's date: they ended no later.
pub fn end_of_life(minor: u32) -> Option<Date> {
    let offset = minor.saturating_sub(FIRST_MINOR) as usize;
    END_OF_LIFE.get(offset).copied()
}

/// Says why `major.minor` is past its end of life as of `now` (e.g. `1.27 reached end of life on
/// 2024-06-28`), or `None` while it is supported. Support runs through the end-of-life date itself.
pub fn past_end_of_life(major: u32, minor: u32, now: Timestamp) -> Option<String> {
    let version = format!("{major}.{minor}");
    match major {
        0 => return Some(format!("{version} predates Kubernetes 1.0")),
        1 => {}
        // A major version newer than the calendar: assumed supported.
        _ => return None,
    }
    let eol = end_of_life(minor)?;
    if today(now) <= eol {
        return None;
    }
    Some(if minor < FIRST_MINOR {
        format!("{version} reached end of life before {eol}")
    } else if eol > CALENDAR_KNOWN_UNTIL {
        format!("{version} reached its projected end of life on {eol}")
    } else {
        format!("{version} reached end of life on {eol}")
    })
}

/// The UTC calendar date of `now`.
fn today(now: Timestamp) -> Date {
    now.to_zoned(TimeZone::UTC).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn calendar_covers_1_19_to_1_37() {
        assert_eq!(end_of_life(19), Some(date(2021, 10, 28)));
        assert_eq!(end_of_life(28), Some(date(2024, 10, 28)));
        assert_eq!(end_of_life(34), Some(date(2026, 10, 27)));
        assert_eq!(end_of_life(37), Some(date(2027, 10, 28)));
        assert_eq!(end_of_life(38), None);
        assert_eq!(end_of_life(12), end_of_life(19));
    }

    #[test]
    fn dates_increase() {
        assert!(END_OF_LIFE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn support_runs_through_the_end_of_life_date() {
        assert_eq!(past_end_of_life(1, 31, at("2025-10-28T23:59:59Z")), None);
        assert_eq!(
            past_end_of_life(1, 31, at("2025-10-29T00:00:00Z")).as_deref(),
            Some("1.31 reached end of life on 2025-10-28")
        );
    }

    #[test]
    fn projected_and_ancient_versions_say_so() {
        assert_eq!(
            past_end_of_life(1, 35, at("2027-03-01T00:00:00Z")).as_deref(),
            Some("1.35 reached its projected end of life on 2027-02-28")
        );
        assert_eq!(
            past_end_of_life(1, 16, at("2026-01-01T00:00:00Z")).as_deref(),
            Some("1.16 reached end of life before 2021-10-28")
        );
    }

    #[test]
    fn versions_newer_than_the_calendar_are_supported() {
        assert_eq!(past_end_of_life(1, 40, at("2030-01-01T00:00:00Z")), None);
        assert_eq!(past_end_of_life(2, 0, at("2030-01-01T00:00:00Z")), None);
    }
}
