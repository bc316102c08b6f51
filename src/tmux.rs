//! Every tmux invocation pairshell makes, in one place.
//!
//! Each command is built the same way: the configured tmux binary, `-N` (the
//! pair account must never start a server), `-S` with the host's socket, and
//! an environment cleared down to what a terminal client needs. Sessions are
//! always targeted as `=NAME`: a bare name is a prefix match in tmux, and a
//! guest granted `api` must never land in `api-secret`.
//!
//! Only names from a host's own file reach these argv lists; the guest's
//! request text never does.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::policy::Mode;

/// Environment variables a tmux client may keep. Everything else — `TMUX`,
/// `SSH_AUTH_SOCK`, `DISPLAY`, `LD_PRELOAD`, `SSH_CONNECTION` … — is dropped
/// so that it cannot reach the host's session through `update-environment`.
fn keep_var(name: &str) -> bool {
    matches!(name, "TERM" | "COLORTERM" | "LANG" | "LANGUAGE" | "TZ") || name.starts_with("LC_")
}

fn kept_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_some_and(keep_var))
        .collect()
}

fn base(tmux: &Path, socket: &Path) -> Command {
    let mut cmd = Command::new(tmux);
    cmd.env_clear()
        .envs(kept_env())
        .arg("-N")
        .arg("-S")
        .arg(socket);
    cmd
}

fn target(session: &str) -> String {
    format!("={session}")
}

/// Whether a server answers on the socket (no subprocess: a `connect`).
pub fn server_running(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// What `has-session` found.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionState {
    Running,
    /// No server on the socket, or the server has no such session.
    NotRunning,
    /// The server refused the pair account (no `server-access -a`).
    AccessDenied(String),
    /// tmux failed in another way.
    Failed(String),
}

/// `tmux -N -S SOCKET has-session -t =NAME`.
pub fn has_session(tmux: &Path, socket: &Path, session: &str) -> SessionState {
    let out = base(tmux, socket)
        .arg("has-session")
        .arg("-t")
        .arg(target(session))
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return SessionState::Failed(format!("cannot run {}: {e}", tmux.display())),
    };
    if out.status.success() {
        return SessionState::Running;
    }
    classify(&String::from_utf8_lossy(&out.stderr))
}

fn classify(stderr: &str) -> SessionState {
    let text = stderr.trim().to_string();
    if text.contains("access not allowed") || text.contains("Permission denied") {
        SessionState::AccessDenied(text)
    } else if text.contains("can't find session")
        || text.contains("no server running")
        || text.contains("error connecting")
        || text.contains("No such file")
        || text.contains("Connection refused")
    {
        SessionState::NotRunning
    } else {
        SessionState::Failed(text)
    }
}

/// `tmux -N -S SOCKET attach-session -E [-r] -t =NAME`: `-E` so the client's
/// (already cleared) environment is not applied to the session, `-r` for a
/// read-only client (tmux: read-only and ignore-size, so a read-only guest
/// never resizes the host's window).
pub fn attach(tmux: &Path, socket: &Path, session: &str, mode: Mode) -> Command {
    let mut cmd = base(tmux, socket);
    cmd.arg("attach-session").arg("-E");
    if mode == Mode::ReadOnly {
        cmd.arg("-r");
    }
    cmd.arg("-t").arg(target(session));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn attach_targets_the_exact_session_and_never_starts_a_server() {
        let cmd = attach(
            Path::new("/usr/bin/tmux"),
            Path::new("/run/s.sock"),
            "api",
            Mode::ReadWrite,
        );
        assert_eq!(
            argv(&cmd),
            [
                "-N",
                "-S",
                "/run/s.sock",
                "attach-session",
                "-E",
                "-t",
                "=api"
            ]
        );
        let ro = attach(
            Path::new("/usr/bin/tmux"),
            Path::new("/run/s.sock"),
            "api",
            Mode::ReadOnly,
        );
        assert_eq!(
            argv(&ro),
            [
                "-N",
                "-S",
                "/run/s.sock",
                "attach-session",
                "-E",
                "-r",
                "-t",
                "=api"
            ]
        );
    }

    #[test]
    fn environment_leak_is_prevented() {
        for leak in [
            "TMUX",
            "SSH_AUTH_SOCK",
            "DISPLAY",
            "LD_PRELOAD",
            "SSH_CONNECTION",
            "PATH",
        ] {
            assert!(!keep_var(leak), "{leak}");
        }
        for keep in ["TERM", "LANG", "LC_ALL", "LC_CTYPE", "COLORTERM"] {
            assert!(keep_var(keep), "{keep}");
        }
    }

    #[test]
    fn tmux_errors_are_classified() {
        assert_eq!(
            classify("can't find session: =api\n"),
            SessionState::NotRunning
        );
        assert_eq!(
            classify("no server running on /run/x.sock\n"),
            SessionState::NotRunning
        );
        assert!(matches!(
            classify("access not allowed\n"),
            SessionState::AccessDenied(_)
        ));
        assert!(matches!(classify("something odd"), SessionState::Failed(_)));
    }
}
