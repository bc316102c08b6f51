//! Errors that name the file, the line and the reason.
//!
//! `Display` is written for the admin who has to fix the file; a guest never
//! sees these texts (they see a short, polite refusal from `guest.rs`), but
//! the audit line and `pairshell check` carry them whole.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A host's or admin's command failed; the text is for the person who ran it.
pub type Failure = String;

#[derive(Debug)]
pub enum Error {
    /// A file did not parse or did not validate.
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A file, directory or socket failed an ownership, mode or type check.
    Untrusted { path: PathBuf, reason: String },
    /// Reading a file failed.
    Io { path: PathBuf, source: io::Error },
    /// The config names something the system does not have.
    Invalid { path: PathBuf, message: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The file (or socket) is not there at all.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    pub fn untrusted(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Untrusted {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A TOML error from `source`, located by line and column.
    pub fn from_toml(file: impl Into<PathBuf>, source: &str, err: &toml::de::Error) -> Error {
        let (line, column) = match err.span() {
            Some(span) => line_column(source, span.start),
            None => (1, 1),
        };
        Error::Parse {
            file: file.into(),
            line,
            column,
            message: err.message().trim_end().to_string(),
        }
    }
}

/// One-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let offset = (0..=offset)
        .rev()
        .find(|i| source.is_char_boundary(*i))
        .unwrap_or(0);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse {
                file,
                line,
                column,
                message,
            } => write!(f, "{}:{line}:{column}: {message}", file.display()),
            Error::Untrusted { path, reason } => {
                write!(f, "{}: not trusted: {reason}", path.display())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Invalid { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = "a = 1\nbé = x\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(src, src.find(" = x").unwrap()), (2, 3));
        assert_eq!(line_column(src, 10_000), (3, 1));
    }
}
