//! Error kinds shared across crates.

use std::fmt;

/// A failure the caller cannot act on: a lost database connection, a broken invariant in an
/// adapter. Every per-operation error enum has one variant wrapping it; the HTTP adapter logs
/// the cause and answers 500 without details.
#[derive(Debug)]
pub struct Unexpected(anyhow::Error);

impl Unexpected {
    pub fn new(err: impl Into<anyhow::Error>) -> Self {
        Self(err.into())
    }

    pub fn msg(msg: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self(anyhow::Error::msg(msg))
    }

    pub fn into_inner(self) -> anyhow::Error {
        self.0
    }
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Unexpected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
