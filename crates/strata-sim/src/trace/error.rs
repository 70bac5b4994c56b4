//! The error type of the trace readers: which file, which line, what was wrong, and the
//! I/O error underneath when there is one.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

/// Longest excerpt of an offending line kept in an error, in characters.
pub const MAX_LINE_EXCERPT_CHARS: usize = 200;

/// What went wrong, for callers that match on it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// The file could not be opened, read or decompressed.
    Io,
    /// `Format::Auto` could not tell the format from the file's content.
    UnknownFormat,
    /// A line (or binary record) does not parse as the format says it should.
    BadLine,
}

/// An error from opening or reading a trace.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct TraceError {
    kind: TraceErrorKind,
    path: PathBuf,
    line: Option<u64>,
    text: Option<String>,
    reason: Cow<'static, str>,
    #[source]
    source: Option<io::Error>,
}

impl TraceError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self {
            kind: TraceErrorKind::Io,
            path: path.to_path_buf(),
            line: None,
            text: None,
            reason: Cow::Borrowed("cannot read trace"),
            source: Some(source),
        }
    }

    pub(crate) fn unknown_format(path: &Path, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: TraceErrorKind::UnknownFormat,
            path: path.to_path_buf(),
            line: None,
            text: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// A malformed line: keeps at most [`MAX_LINE_EXCERPT_CHARS`] characters of it.
    pub(crate) fn bad_line(path: &Path, line_no: u64, line: &[u8], reason: &'static str) -> Self {
        let lossy = String::from_utf8_lossy(line);
        let text = match lossy.char_indices().nth(MAX_LINE_EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}…", &lossy[..cut]),
            None => lossy.into_owned(),
        };
        Self {
            kind: TraceErrorKind::BadLine,
            path: path.to_path_buf(),
            line: Some(line_no),
            text: Some(text),
            reason: Cow::Borrowed(reason),
            source: None,
        }
    }

    pub fn kind(&self) -> TraceErrorKind {
        self.kind
    }

    /// The trace file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line number (record number for binary traces) of a bad line.
    pub fn line(&self) -> Option<u64> {
        self.line
    }

    /// The offending line, truncated to [`MAX_LINE_EXCERPT_CHARS`] characters.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// Why the line or file was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn message(&self) -> String {
        let path = self.path.display();
        match (self.line, &self.text, &self.source) {
            (Some(line), Some(text), _) => format!("{path}:{line}: {}: {text:?}", self.reason),
            (Some(line), None, _) => format!("{path}:{line}: {}", self.reason),
            (None, _, Some(source)) => format!("{path}: {}: {source}", self.reason),
            (None, _, None) => format!("{path}: {}", self.reason),
        }
    }
}
