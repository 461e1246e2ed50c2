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

    /// A failure of a dependency that may pass: the database cannot be reached, is restarting,
    /// is locked by another process or out of disk. HTTP answers 503 `database_unavailable`
    /// with `Retry-After` instead of a 500.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self(anyhow::Error::new(Unavailable(detail.into())))
    }

    /// Whether this is (or wraps) an [`Unexpected::unavailable`] failure.
    pub fn is_unavailable(&self) -> bool {
        self.0.chain().any(|e| e.is::<Unavailable>())
    }
}

/// The marker inside [`Unexpected::unavailable`].
#[derive(Debug, thiserror::Error)]
#[error("unavailable: {0}")]
pub struct Unavailable(pub String);

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
