//! Plain data shared by every stage: what was observed about a namespace, with every
//! observation allowed to be missing.

mod duration;
mod observation;
mod quantity;

pub use duration::{Span, SpanError};
pub use observation::{NamespaceMeta, Observation, QuotaObservation, Sample, Usage, Workload};
pub use quantity::{format_bytes, format_cores, parse_quantity, Quantity, QuantityError};

/// Bytes in one GiB, the unit memory is priced in.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
