//! `Secret`: a value that never prints (API keys, private keys).
//!
//! `Debug` shows `Secret(***)` and there is no `Display`; the value comes out
//! only through [`Secret::expose`], which the clients call where a request is
//! signed and nowhere else. Deliberately small instead of the `secrecy` crate:
//! zeroing memory on drop is not a goal here, keeping secrets out of logs,
//! events and error messages is.

use std::fmt;

/// A secret value with a redacting `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself, for signing only. Never log or store the result.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Secret<String> {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let key = Secret::new("192006250b4c09247ec02edce69f6a2d".to_owned());
        assert_eq!(format!("{key:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&key)), "Some(Secret(***))");
        assert_eq!(key.expose(), "192006250b4c09247ec02edce69f6a2d");
    }
}
