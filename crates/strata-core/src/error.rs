//! The one error type of `strata-core`: a value that did not parse or validate.

use std::fmt;

/// A user-supplied value (size, fraction, tier name, …) that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The offending input, as given.
    pub input: String,
    /// What the input should have looked like.
    pub expected: &'static str,
}

impl ParseError {
    pub fn new(input: impl Into<String>, expected: &'static str) -> Self {
        Self {
            input: input.into(),
            expected,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {:?}: {}", self.input, self.expected)
    }
}

impl std::error::Error for ParseError {}
