//! Plain data shared by every stage: what was observed about a namespace, with every
//! observation allowed to be missing.

mod duration;
mod observation;
mod quantity;
mod sum;

pub use duration::{Span, SpanError};
pub use observation::{
    NamespaceMeta, Observation, QuotaObservation, Sample, Usage, VolumeClaim, Volumes, Workload,
    VOLUME_CLAIMS_LISTED,
};
pub use quantity::{format_bytes, format_cores, parse_quantity, Quantity, QuantityError};
pub use sum::Sum;

/// An instant as people and machines read it: RFC 3339, whole seconds, `Z`.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Bytes in one GiB, the unit memory is priced in.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
