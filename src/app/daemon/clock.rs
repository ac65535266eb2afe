//! The local clock compared with the apiserver's. Every cycle reads `GET /version` and
//! its `Date` header (whole seconds) and notes when the request was sent and its answer
//! came back. A replica whose clock is off by more than `daemon.max_clock_skew` would
//! shorten or stretch grace periods and query Prometheus at the wrong instant: it still
//! plans and exports, but acts on nothing until its clock agrees again.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Mutex, PoisonError};

/// What one comparison found: the apiserver's clock minus ours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Skew {
    /// Best estimate, in seconds (positive: the apiserver is ahead of us).
    pub seconds: f64,
    /// The smallest difference the observation allows, in seconds (0 when the
    /// clocks may agree): the `Date` header's rounding and the round trip count in our
    /// favour.
    pub at_least: f64,
}

/// The server stamped `date` (rounded down to the second) at some instant between
/// `sent` and `received` by our clock.
pub fn skew(sent: DateTime<Utc>, received: DateTime<Utc>, date: DateTime<Utc>) -> Skew {
    let secs = |d: TimeDelta| d.num_milliseconds() as f64 / 1000.0;
    let low = secs(date - received);
    let high = secs(date + TimeDelta::seconds(1) - sent);
    let at_least = if low > 0.0 {
        low
    } else if high < 0.0 {
        -high
    } else {
        0.0
    };
    Skew {
        seconds: (low + high) / 2.0,
        at_least,
    }
}

/// Reads the apiserver's `Date` header and compares it with the local clock.
pub async fn measure(client: &kube::Client) -> Result<Skew, String> {
    let request = axum::http::Request::get("/version")
        .body(kube::client::Body::empty())
        .map_err(|e| e.to_string())?;
    let sent = Utc::now();
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let received = Utc::now();
    let date = response
        .headers()
        .get(axum::http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or("the apiserver's answer has no Date header")?;
    let date = DateTime::parse_from_rfc2822(date)
        .map_err(|e| format!("the apiserver's Date header `{date}` is not a date: {e}"))?;
    Ok(skew(sent, received, date.with_timezone(&Utc)))
}

/// Whether this replica's clock may be trusted with acting, as of the last comparison.
#[derive(Debug, Default)]
pub struct Clock {
    /// Why not, when it may not: shown by `/readyz`.
    refusal: Mutex<Option<String>>,
}

impl Clock {
    /// Records a comparison (or why there was none) against the bound `max` in seconds;
    /// returns whether acting is allowed.
    pub fn record(&self, measured: &Result<Skew, String>, max: f64) -> bool {
        let refusal = match measured {
            Ok(s) if s.at_least <= max => None,
            Ok(s) => Some(format!(
                "clock skew {:+.1}s against the apiserver exceeds daemon.max_clock_skew {max}s",
                s.seconds
            )),
            Err(e) => Some(format!(
                "cannot compare the clock with the apiserver's: {e}"
            )),
        };
        let acting = refusal.is_none();
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = refusal;
        acting
    }

    /// Why this replica does not act, if it does not because of its clock.
    pub fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn trusted(&self) -> bool {
        self.refusal().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;

    #[test]
    fn agreeing_clocks_show_no_skew_despite_the_whole_second_date() {
        let sent = utc("2026-11-23T08:00:00.400Z");
        let received = sent + TimeDelta::milliseconds(200);
        let s = skew(sent, received, utc("2026-11-23T08:00:00Z"));
        assert_eq!(s.at_least, 0.0);
        assert!(s.seconds.abs() < 1.0, "{s:?}");
    }

    #[test]
    fn a_clock_ahead_or_behind_is_measured_less_the_rounding_and_the_round_trip() {
        // We are two minutes ahead: the server says 08:00:00 while we read 08:02:00.4.
        let sent = utc("2026-11-23T08:02:00.400Z");
        let received = sent + TimeDelta::milliseconds(200);
        let s = skew(sent, received, utc("2026-11-23T08:00:00Z"));
        assert_eq!(s.at_least, 119.4);
        assert!((s.seconds + 120.0).abs() < 1.0, "{s:?}");
        // We are behind by 40 s.
        let s = skew(sent, received, utc("2026-11-23T08:02:40Z"));
        assert_eq!(s.at_least, 39.4);
    }

    #[test]
    fn a_skew_beyond_the_bound_or_no_comparison_at_all_forbids_acting() {
        let clock = Clock::default();
        let ok = Skew {
            seconds: 0.3,
            at_least: 0.0,
        };
        assert!(clock.record(&Ok(ok), 5.0));
        assert!(clock.trusted());
        let off = Skew {
            seconds: -120.2,
            at_least: 119.4,
        };
        assert!(!clock.record(&Ok(off), 5.0));
        assert_eq!(
            clock.refusal().as_deref(),
            Some("clock skew -120.2s against the apiserver exceeds daemon.max_clock_skew 5s")
        );
        assert!(!clock.record(&Err("timed out".into()), 5.0));
        assert!(!clock.trusted());
        assert!(clock.record(&Ok(ok), 5.0), "trusted again once it agrees");
    }

    #[test]
    fn the_date_header_format_is_read() {
        let d = DateTime::parse_from_rfc2822("Mon, 23 Nov 2026 08:00:00 GMT").unwrap();
        assert_eq!(d.with_timezone(&Utc), utc("2026-11-23T08:00:00Z"));
    }
}
