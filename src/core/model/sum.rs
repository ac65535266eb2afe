//! A sum over values some of which may be unknown, which says how many were.

/// A sum over namespaces that says how many of them were unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sum {
    /// Sum of the known values.
    pub known_total: f64,
    pub known: usize,
    pub unknown: usize,
}

impl Sum {
    pub fn add(&mut self, value: Option<f64>) {
        match value {
            Some(v) => {
                self.known_total += v;
                self.known += 1;
            }
            None => self.unknown += 1,
        }
    }

    /// The total when every value is known; `None` when any is missing.
    pub fn exact(&self) -> Option<f64> {
        (self.unknown == 0).then_some(self.known_total)
    }

    /// The known part, when there is one: a lower bound when some values are unknown.
    pub fn at_least(&self) -> Option<f64> {
        (self.known > 0 || self.unknown == 0).then_some(self.known_total)
    }
}
