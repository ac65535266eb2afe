//! Kubernetes resource quantities ("100m", "1.5", "128Mi", "2G") as plain numbers.

use std::fmt;

/// A quantity string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a Kubernetes quantity (expected e.g. 250m, 1.5, 512Mi, 2Gi, 1G)")]
pub struct QuantityError {
    pub value: String,
}

/// Parses a Kubernetes quantity into its value in base units (cores, bytes).
pub fn parse_quantity(text: &str) -> Result<f64, QuantityError> {
    let err = || QuantityError {
        value: text.to_string(),
    };
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() {
        return Err(err());
    }
    let value: f64 = number.parse().map_err(|_| err())?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let power: i32 = exp[1..].parse().map_err(|_| err())?;
            10f64.powi(power)
        }
        _ => return Err(err()),
    };
    let result = value * factor;
    if result.is_finite() && result >= 0.0 {
        Ok(result)
    } else {
        Err(err())
    }
}

/// Formats bytes the way people read them (binary units).
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Formats CPU cores with millicore precision.
pub fn format_cores(cores: f64) -> String {
    format!("{cores:.3} cores")
}

/// A number of bytes written as a Kubernetes quantity in configuration.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "QuantityText", into = "f64")]
pub struct Quantity(pub f64);

/// Configuration accepts both `512Mi` and bare numbers.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum QuantityText {
    Number(f64),
    Text(String),
}

impl TryFrom<QuantityText> for Quantity {
    type Error = QuantityError;
    fn try_from(value: QuantityText) -> Result<Self, Self::Error> {
        match value {
            QuantityText::Number(n) if n.is_finite() && n >= 0.0 => Ok(Quantity(n)),
            QuantityText::Number(n) => Err(QuantityError {
                value: n.to_string(),
            }),
            QuantityText::Text(t) => parse_quantity(&t).map(Quantity),
        }
    }
}

impl From<Quantity> for f64 {
    fn from(q: Quantity) -> f64 {
        q.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_suffix_kubernetes_writes() {
        let cases = [
            ("250m", 0.25),
            ("1.5", 1.5),
            ("2", 2.0),
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1Gi", 1024.0 * 1024.0 * 1024.0),
            ("1G", 1e9),
            ("100k", 1e5),
            ("1e3", 1000.0),
            ("500000000n", 0.5),
            ("  64Ki ", 65536.0),
        ];
        for (text, expected) in cases {
            let got = parse_quantity(text).unwrap();
            assert!(
                (got - expected).abs() < 1e-9 * expected.max(1.0),
                "{text}: {got}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in ["", "Mi", "abc", "1.2.3", "12XB", "-1", "1e", "nan"] {
            assert!(parse_quantity(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn formats_bytes_in_binary_units() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0 * 1024.0 * 1024.0), "1.50 GiB");
    }
}
