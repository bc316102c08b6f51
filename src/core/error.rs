//! Errors that name the file, the line and the reason.
//!
//! `Display` is written for the admin who has to fix the file; a guest never
//! sees these texts (they see a short, polite refusal from `guest/refusal.rs`), but
//! the audit line and `pairshell check` carry them whole.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::core::text::printable;

/// How a command that reports for itself (a login, `check`, a hook, sshd's
/// key lookup) ended; `app` turns it into the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Exit {
    /// Done: exit 0.
    Done,
    /// It failed, and has said why where it should: exit 1.
    Failed,
}

/// Why a host's or admin's command failed, for the person who ran it.
/// `app` prints it, in one place, and picks the exit code from it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A file did not load or failed its checks: the file, line and column.
    File(Error),
    /// A guest named on the command line is not one the command can use.
    Guest { name: String, why: String },
    /// A Unix user named on the command line (a host, the pair account).
    User { login: String, why: String },
    /// Anything else, said whole.
    Said(String),
}

/// `Failure::Said(format!(...))`: a command's failure in a sentence.
macro_rules! failure {
    ($($arg:tt)*) => {
        $crate::core::error::Failure::Said(format!($($arg)*))
    };
}
pub(crate) use failure;

impl Failure {
    pub(crate) fn guest(name: &str, why: impl Into<String>) -> Failure {
        Failure::Guest {
            name: name.to_string(),
            why: why.into(),
        }
    }

    pub(crate) fn user(login: &str, why: impl Into<String>) -> Failure {
        Failure::User {
            login: login.to_string(),
            why: why.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::File(e) => e.fmt(f),
            Failure::Guest { name, why } => write!(f, "guest {}: {why}", printable(name)),
            Failure::User { login, why } => write!(f, "user {}: {why}", printable(login)),
            Failure::Said(text) => f.write_str(text),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::File(e)
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure::Said(text)
    }
}

impl From<&str> for Failure {
    fn from(text: &str) -> Failure {
        Failure::Said(text.to_string())
    }
}

#[derive(Debug)]
pub(crate) enum Error {
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
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The file (or socket) is not there at all.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    pub(crate) fn untrusted(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Untrusted {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A TOML error from `source`, located by line and column.
    pub(crate) fn from_toml(
        file: impl Into<PathBuf>,
        source: &str,
        err: &toml::de::Error,
    ) -> Error {
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
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
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
    fn a_failure_names_the_file_the_guest_or_the_user() {
        let file = Failure::from(Error::untrusted("/etc/x.toml", "is writable by others"));
        assert_eq!(
            file.to_string(),
            "/etc/x.toml: not trusted: is writable by others"
        );
        let guest = Failure::guest("bob\u{202E}", "not declared");
        assert_eq!(guest.to_string(), "guest bob\\u{202E}: not declared");
        let user = Failure::user("maria", "no such user on this system");
        assert_eq!(user.to_string(), "user maria: no such user on this system");
        assert_eq!(failure!("{} left", 2).to_string(), "2 left");
    }

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
