//! Measurements and their Markdown table. Rates use integer arithmetic (the
//! workspace forbids float arithmetic): nanoseconds in, whole events/s out.

use std::fmt::Write;
use std::time::Duration;

/// One timed run.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub what: String,
    pub events: u64,
    pub elapsed: Duration,
}

impl Measurement {
    /// Whole events per second; 0 for an empty run.
    pub fn rate(&self) -> u64 {
        let nanos = self.elapsed.as_nanos().max(1);
        u64::try_from(u128::from(self.events) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
    }
}

/// A table with the columns: what, events, seconds, events/s.
pub fn table(rows: &[Measurement]) -> String {
    let mut out =
        String::from("| what | events | seconds | events/s |\n| --- | ---: | ---: | ---: |\n");
    for row in rows {
        let millis = row.elapsed.as_millis();
        let _ = writeln!(
            out,
            "| {} | {} | {}.{:03} | {} |",
            row.what,
            thousands(row.events),
            millis / 1000,
            millis % 1000,
            thousands(row.rate())
        );
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n / d` with one decimal, as text.
pub fn one_decimal(n: u64, d: u64) -> String {
    let tenths = n * 10 / d.max(1);
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_numbers_print_exactly() {
        let m = Measurement {
            what: "x".into(),
            events: 150_000,
            elapsed: Duration::from_millis(1_500),
        };
        assert_eq!(m.rate(), 100_000);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(one_decimal(200, 3), "66.6");
        assert!(table(&[m]).contains("| x | 150,000 | 1.500 | 100,000 |"));
    }
}
