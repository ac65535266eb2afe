//! Turning a per-namespace Prometheus sample into a number, or a reason it is unknown.

use crate::core::model::{Sample, Workload};

/// The value of `sample`, or why it is not known.
///
/// "No series" only counts as zero when the namespace is known to have no pods holding
/// resources: then nothing ran that cAdvisor could have measured. With pods present, a
/// missing series is a scrape gap, and a gap is never evidence.
pub fn resolve(sample: &Sample, workload: Option<&Workload>) -> Result<f64, String> {
    match (sample, workload) {
        (Sample::Value { value }, _) if value.is_finite() && *value >= 0.0 => Ok(*value),
        (Sample::Value { value }, _) => {
            Err(format!("metrics returned an unusable value ({value})"))
        }
        (Sample::NoSeries, Some(w)) if w.pods == 0 => Ok(0.0),
        (Sample::NoSeries, Some(w)) => Err(format!(
            "no metrics for this namespace although {} pod(s) hold resources",
            w.pods
        )),
        (Sample::NoSeries, None) => {
            Err("no metrics for this namespace, and its pods could not be listed".into())
        }
        (Sample::Unavailable { reason }, _) => Err(format!("metrics unavailable: {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(n: u32) -> Workload {
        Workload {
            pods: n,
            cpu_request_cores: 0.0,
            memory_request_bytes: 0.0,
        }
    }

    #[test]
    fn missing_series_is_zero_only_without_pods() {
        assert_eq!(resolve(&Sample::Value { value: 0.5 }, None), Ok(0.5));
        assert_eq!(resolve(&Sample::NoSeries, Some(&pods(0))), Ok(0.0));
        assert!(resolve(&Sample::NoSeries, Some(&pods(3))).is_err());
        assert!(resolve(&Sample::NoSeries, None).is_err());
        assert!(resolve(&Sample::unavailable("timeout"), Some(&pods(0))).is_err());
        assert!(resolve(&Sample::Value { value: f64::NAN }, Some(&pods(0))).is_err());
        assert!(resolve(&Sample::Value { value: -1.0 }, Some(&pods(0))).is_err());
    }
}
