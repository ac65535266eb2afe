//! When the next cycle runs: a cron expression read in the configured time zone.

use crate::core::config::Schedule;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The first run strictly after `after`, as a UTC instant. A local time that a daylight
/// saving change skips runs at the first local time after the gap (as Vixie cron does);
/// a local time it repeats runs once, at its first occurrence.
pub fn next_run(schedule: &Schedule, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&zone);
    schedule
        .cron
        .find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;

    fn runs(expression: &str, zone: Tz, from: &str, count: usize) -> Vec<String> {
        let schedule = Schedule::parse(expression).unwrap();
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..count {
            at = next_run(&schedule, zone, at).unwrap();
            out.push(crate::core::model::rfc3339(at));
        }
        out
    }

    #[test]
    fn daily_run_keeps_its_local_hour_across_daylight_saving_changes() {
        // 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer.
        let got = runs(
            "0 8 * * *",
            chrono_tz::Europe::Berlin,
            "2026-03-27T12:00:00Z",
            4,
        );
        assert_eq!(
            got,
            [
                "2026-03-28T07:00:00Z",
                "2026-03-29T06:00:00Z",
                "2026-03-30T06:00:00Z",
                "2026-03-31T06:00:00Z"
            ]
        );
        let got = runs(
            "0 8 * * *",
            chrono_tz::Europe::Berlin,
            "2026-10-23T12:00:00Z",
            3,
        );
        assert_eq!(
            got,
            [
                "2026-10-24T06:00:00Z",
                "2026-10-25T07:00:00Z",
                "2026-10-26T07:00:00Z"
            ]
        );
    }

    #[test]
    fn a_skipped_local_time_runs_after_the_gap_and_a_repeated_one_runs_once() {
        // 02:30 does not exist in Berlin on 2026-03-29 and exists twice on 2026-10-25.
        let spring = runs(
            "30 2 * * *",
            chrono_tz::Europe::Berlin,
            "2026-03-28T12:00:00Z",
            2,
        );
        assert_eq!(
            spring,
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
            "03:00 local, then 02:30 again"
        );
        let autumn = runs(
            "30 2 * * *",
            chrono_tz::Europe::Berlin,
            "2026-10-24T12:00:00Z",
            2,
        );
        assert_eq!(
            autumn,
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            "{autumn:?}"
        );
    }

    #[test]
    fn half_hourly_runs_skip_the_repeated_hour_rather_than_run_twice() {
        // 02:30 CEST is 00:30Z; 02:00 and 02:30 CET repeat local times and are not run again.
        let got = runs(
            "*/30 * * * *",
            chrono_tz::Europe::Berlin,
            "2026-10-25T00:10:00Z",
            4,
        );
        assert_eq!(
            got,
            [
                "2026-10-25T00:30:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T02:30:00Z",
                "2026-10-25T03:00:00Z"
            ]
        );
    }
}
