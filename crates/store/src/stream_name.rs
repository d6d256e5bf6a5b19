//! Stream names: parsed once, valid whenever held.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// The longest stream name, in bytes. Order streams are
/// `order-{merchant (<=32)}-{out_trade_no (<=32)}`, far below; the bound keeps
/// index keys small.
pub const MAX_STREAM_NAME_BYTES: usize = 200;

/// The name of a stream: 1..=200 bytes of `[A-Za-z0-9_.:@|*-]`, not starting
/// with `$` (reserved for system streams, as in KurrentDB; the character set
/// excludes it anyway, the prefix rule gets its own message).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// Checks `name` against the rules above.
    pub fn parse(name: &str) -> Result<StreamName, StoreError> {
        StreamName::try_from(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Parses an owned name without copying it (backends decoding rows use this).
impl TryFrom<String> for StreamName {
    type Error = StoreError;

    fn try_from(name: String) -> Result<StreamName, StoreError> {
        let reason = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > MAX_STREAM_NAME_BYTES {
            Some("must be at most 200 bytes")
        } else if name.starts_with('$') {
            Some("names starting with '$' are reserved for system streams")
        } else if !name.bytes().all(is_name_byte) {
            Some("may only contain ASCII letters, digits and _.:@|*-")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StoreError::InvalidStreamName { name, reason }),
            None => Ok(StreamName(name)),
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'|' | b'*' | b'-')
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for StreamName {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreamName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_stream_names_are_valid_and_round_trip() {
        let name = StreamName::parse("order-m_1-T2024|a*b@c.d:e").unwrap();
        assert_eq!(name.as_str(), "order-m_1-T2024|a*b@c.d:e");
        assert_eq!(name.to_string(), "order-m_1-T2024|a*b@c.d:e");
    }

    #[test]
    fn names_of_exactly_200_bytes_are_accepted_and_201_refused() {
        assert!(StreamName::parse(&"a".repeat(200)).is_ok());
        assert!(matches!(
            StreamName::parse(&"a".repeat(201)),
            Err(StoreError::InvalidStreamName {
                reason: "must be at most 200 bytes",
                ..
            })
        ));
    }
}
