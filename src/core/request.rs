//! The guest's request: the only text a guest controls, parsed against a tiny
//! grammar and nothing else.
//!
//! ```text
//! request = ""                 open the chooser
//!         | "list"             list what this guest may join
//!         | "help"
//!         | SESSION            join; exactly one host shares SESSION with the guest
//!         | HOST "/" SESSION   join HOST's SESSION
//! SESSION = [A-Za-z0-9_] [A-Za-z0-9_-]{0,63}
//! HOST    = [A-Za-z0-9_] [A-Za-z0-9_.-]{0,31}
//! ```
//!
//! Guards against: shell injection (`api; id`, `$(id)`), option injection
//! (`-S /tmp/x`), path tricks (`../x`), and terminal escape sequences.
//! A request is never split by a shell nor passed to tmux; only the session
//! name from the host's own file reaches tmux's argv.
#![forbid(unsafe_code)]

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Choose,
    List,
    Help,
    Join(Target),
}

/// A session the guest asked for by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: Option<String>,
    pub(crate) session: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host}/{}", self.session),
            None => f.write_str(&self.session),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// Control characters (newline, escape, NUL…).
    ControlCharacter,
    /// Not valid UTF-8.
    NotText,
    /// Anything else outside the grammar.
    NotInGrammar,
}

impl RequestError {
    /// Stable word for the audit line's `reason`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            RequestError::ControlCharacter => "control-character",
            RequestError::NotText => "not-text",
            RequestError::NotInGrammar => "bad-request",
        }
    }
}

/// Parse the guest's raw request bytes.
pub(crate) fn parse(raw: &[u8]) -> Result<Request, RequestError> {
    if raw.iter().any(|b| b.is_ascii_control()) {
        return Err(RequestError::ControlCharacter);
    }
    let text = std::str::from_utf8(raw).map_err(|_| RequestError::NotText)?;
    match text {
        "" => return Ok(Request::Choose),
        "list" => return Ok(Request::List),
        "help" => return Ok(Request::Help),
        _ => {}
    }
    let target = match text.split_once('/') {
        Some((host, session)) if is_login_name(host) && is_session_name(session) => Target {
            host: Some(host.to_string()),
            session: session.to_string(),
        },
        None if is_session_name(text) => Target {
            host: None,
            session: text.to_string(),
        },
        _ => return Err(RequestError::NotInGrammar),
    };
    Ok(Request::Join(target))
}

fn name(s: &str, max: usize, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' || extra.contains(c))
}

/// A tmux session name a host may share. No `.` or `:` (tmux target syntax),
/// no leading `-` (an option to tmux).
pub(crate) fn is_session_name(s: &str) -> bool {
    name(s, 64, b"")
}

/// A Unix login as used for host files and `pair_user`.
pub(crate) fn is_login_name(s: &str) -> bool {
    name(s, 32, b".")
}

/// A guest's name in the config.
pub(crate) fn is_guest_name(s: &str) -> bool {
    name(s, 64, b".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(host: Option<&str>, session: &str) -> Request {
        Request::Join(Target {
            host: host.map(str::to_string),
            session: session.to_string(),
        })
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(parse(b""), Ok(Request::Choose));
        assert_eq!(parse(b"list"), Ok(Request::List));
        assert_eq!(parse(b"help"), Ok(Request::Help));
        assert_eq!(parse(b"api"), Ok(join(None, "api")));
        assert_eq!(parse(b"api-2_x"), Ok(join(None, "api-2_x")));
        assert_eq!(parse(b"maria/api"), Ok(join(Some("maria"), "api")));
        assert_eq!(parse(b"j.doe/api"), Ok(join(Some("j.doe"), "api")));
    }

    #[test]
    fn shell_injection_is_refused() {
        for r in [
            "api; id",
            "api && id",
            "$(id)",
            "`id`",
            "api|id",
            "api>x",
            "bash",
            "sh -c id",
        ] {
            let got = parse(r.as_bytes());
            // `bash` is a well-formed session name; it is refused later because
            // nobody shares it. Everything with a space or metacharacter is
            // refused here.
            if r == "bash" {
                assert_eq!(got, Ok(join(None, "bash")));
            } else {
                assert_eq!(got, Err(RequestError::NotInGrammar), "{r}");
            }
        }
    }

    #[test]
    fn option_injection_is_refused() {
        assert_eq!(parse(b"-S /tmp/x"), Err(RequestError::NotInGrammar));
        assert_eq!(parse(b"-S"), Err(RequestError::NotInGrammar));
        assert_eq!(parse(b"maria/-t"), Err(RequestError::NotInGrammar));
    }

    #[test]
    fn path_traversal_is_refused() {
        for r in [
            "../x",
            "maria/../x",
            "/api",
            "maria/",
            "a/b/c",
            "..",
            "./api",
        ] {
            assert_eq!(parse(r.as_bytes()), Err(RequestError::NotInGrammar), "{r}");
        }
    }

    #[test]
    fn tmux_target_syntax_is_refused() {
        for r in [
            "api:1",
            "api.0",
            "=api",
            "maria/api:0.1",
            "%1",
            "@2",
            "{last}",
        ] {
            assert_eq!(parse(r.as_bytes()), Err(RequestError::NotInGrammar), "{r}");
        }
    }

    #[test]
    fn control_characters_and_escape_sequences_are_refused() {
        for r in [
            &b"api\n"[..],
            b"api\nid",
            b"\x1b[31mapi",
            b"api\0",
            b"\t",
            b"api\x7f",
        ] {
            assert_eq!(parse(r), Err(RequestError::ControlCharacter), "{r:?}");
        }
    }

    #[test]
    fn whitespace_is_refused() {
        for r in [" ", " api", "api ", "list ", "maria/ api"] {
            assert_eq!(
                parse(r.as_bytes()),
                Err(RequestError::NotInGrammar),
                "{r:?}"
            );
        }
    }

    #[test]
    fn non_utf8_is_refused() {
        assert_eq!(parse(b"api\xff"), Err(RequestError::NotText));
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = "a".repeat(65);
        assert_eq!(parse(long.as_bytes()), Err(RequestError::NotInGrammar));
        assert!(parse("a".repeat(64).as_bytes()).is_ok());
    }

    #[test]
    fn names() {
        assert!(is_login_name("maria"));
        assert!(!is_login_name("-maria"));
        assert!(!is_login_name(".."));
        assert!(!is_session_name("a.b"));
        assert!(is_guest_name("alice.smith"));
        assert!(!is_guest_name(""));
    }
}
