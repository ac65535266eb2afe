//! The formatting of one report run: its time zone, its currency and its time, over the
//! formatters of [`crate::core::format`].

use crate::core::config::Config;
use crate::core::format::{self, Partial, Per};
use crate::core::model::Sum;
use crate::core::report::Reports;
use chrono::{DateTime, Utc};

pub(super) struct Fmt<'a> {
    pub(super) zone: chrono_tz::Tz,
    pub(super) currency: &'a str,
    pub(super) at: DateTime<Utc>,
}

impl<'a> Fmt<'a> {
    pub(super) fn new(reports: &'a Reports, config: &Config) -> Fmt<'a> {
        Fmt {
            zone: config.time_zone.0,
            currency: &reports.prices.currency,
            at: reports.at,
        }
    }

    pub(super) fn time(&self, t: DateTime<Utc>) -> String {
        format::time(t, self.zone)
    }

    pub(super) fn date(&self, t: DateTime<Utc>) -> String {
        format::date(t, self.zone)
    }

    /// How far ahead of the report `t` is: `in 2 days 3 hours`, `due now`.
    pub(super) fn until(&self, t: DateTime<Utc>) -> String {
        format::until(t, self.at)
    }

    /// Like [`Fmt::sum`] without saying how many values are unknown, for table cells.
    pub(super) fn short(&self, s: &Sum, per: Per) -> String {
        format::sum(s, per, self.currency, Partial::AtLeast)
    }

    /// `5.6789 USD/h`; with unknown values `at least … (1 of 2 unknown)`; all unknown:
    /// `unknown`.
    pub(super) fn sum(&self, s: &Sum, per: Per) -> String {
        format::sum(s, per, self.currency, Partial::Counted)
    }

    /// `USD/h`, `USD/month`.
    pub(super) fn unit(&self, per: Per) -> String {
        format!("{}{}", self.currency, per.suffix())
    }
}
