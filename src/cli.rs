//! The command line: one clap definition for parsing, `--help` and the man page.
//!
//! sshd starts pairshell in three shapes that clap is not told about, because
//! their argv is fixed by sshd rather than chosen by a person: as a login
//! shell (`argv[0]` begins with `-`), and as `pairshell -c TEXT`. Those are
//! recognised first, by [`Invocation::from_args`], so that nothing a guest
//! sends can be mistaken for an option.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::guest::Start;

/// The admin's config file when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/pairshell/pairshell.toml";

#[derive(Debug, Parser)]
#[command(
    name = "pairshell",
    version,
    about = "Login shell for a shared pairing account: per-guest tmux sessions, read-only or read-write, with an audit trail",
    long_about = "pairshell is the login shell (or sshd forced command) of one shared account. \
It identifies each guest by the SSH key sshd verified, offers only the tmux sessions \
hosts have shared with that guest, attaches read-only or read-write as granted, and \
writes every decision to syslog (facility authpriv, ident pairshell).\n\n\
A guest never runs pairshell by hand: `ssh -t pair@host` opens a chooser, \
`ssh -t pair@host SESSION` joins directly, `ssh pair@host list` lists."
)]
pub struct Cli {
    /// Main config file [default: /etc/pairshell/pairshell.toml]. It counts
    /// only if it is owned by root and not writable by group or other.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Run as a shell, the way sshd runs a forced command: TEXT is either
    /// pairshell's own `… login` line (the guest's request is then
    /// SSH_ORIGINAL_COMMAND) or the guest's request itself.
    #[arg(short = 'c', value_name = "TEXT", allow_hyphen_values = true)]
    pub command_text: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the guest flow: identify the guest from SSH_USER_AUTH, then list,
    /// choose or join as SSH_ORIGINAL_COMMAND asks. This is what sshd runs.
    Login,
    /// For sshd's AuthorizedKeysCommand (`%u %t %k`): print the
    /// authorized_keys line for a current guest's key, or nothing.
    AuthorizedKeys {
        /// The account being logged in to (sshd's %u)
        user: String,
        /// The key's type (sshd's %t)
        key_type: String,
        /// The key, base64 (sshd's %k)
        base64: String,
    },
    /// Check the main config and every host file; report each problem with
    /// its file, line and column.
    Check,
    /// Internal: the gated start of the tmux client (see guest.rs).
    #[command(hide = true)]
    ExecClient {
        #[arg(long)]
        gate: i32,
        /// Refuse to run the client without Landlock (read-write joins).
        #[arg(long)]
        require_confinement: bool,
        #[arg(last = true, required = true)]
        argv: Vec<OsString>,
    },
}

/// How this process was started, decided before clap sees anything.
#[derive(Debug)]
pub enum Invocation {
    /// Started by sshd as a shell: never parsed as options.
    Shell(ShellStart),
    /// A person (or sshd's AuthorizedKeysCommand) ran it with arguments.
    Args,
}

impl Invocation {
    pub fn from_args(args: &[OsString]) -> Invocation {
        let argv0 = args.first().map(|a| a.as_bytes()).unwrap_or_default();
        if argv0.starts_with(b"-") {
            // A login shell: sshd passes no arguments; anything else is ignored
            // rather than trusted.
            return Invocation::Shell(ShellStart {
                config: None,
                text: None,
            });
        }
        if args.len() == 3 && args[1] == "-c" {
            return Invocation::Shell(ShellStart {
                config: None,
                text: Some(args[2].to_string_lossy().into_owned()),
            });
        }
        Invocation::Args
    }
}

/// A start as a shell: the optional `-c` text, not yet interpreted.
#[derive(Debug)]
pub struct ShellStart {
    config: Option<PathBuf>,
    text: Option<String>,
}

impl ShellStart {
    pub fn from_text(config: Option<PathBuf>, text: String) -> ShellStart {
        ShellStart {
            config,
            text: Some(text),
        }
    }

    /// Decide where the config and the guest's request come from.
    pub fn into_start(self) -> Start {
        let original = || std::env::var_os("SSH_ORIGINAL_COMMAND");
        match self.text {
            None => Start::new(self.config, original()),
            Some(text) => {
                let own = std::env::current_exe()
                    .ok()
                    .and_then(|exe| own_login_line(&text, &exe));
                match own {
                    // sshd ran our forced command through the login shell.
                    Some(config) => Start::new(config.or(self.config), original()),
                    // The text is what the guest typed after `ssh pair@host`.
                    None => Start::new(self.config, Some(OsString::from(text))),
                }
            }
        }
    }
}

/// Recognise pairshell's own forced command, `<this binary> [--config P] login`,
/// as written by `authorized-keys`. Returns the config path it names, if any.
///
/// Guards against: a guest whose text merely *looks* like the forced command
/// steering the flow. The first word must be this very binary, and the only
/// thing the line can choose is a config path, which must still pass the
/// ownership checks when it is loaded.
pub fn own_login_line(text: &str, self_exe: &Path) -> Option<Option<PathBuf>> {
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let (exe, config) = match words.as_slice() {
        [exe, "login"] => (*exe, None),
        [exe, "--config", path, "login"] => (*exe, Some(PathBuf::from(path))),
        _ => return None,
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !Path::new(exe).is_absolute() || !same(Path::new(exe), self_exe) {
        return None;
    }
    Some(config)
}

/// The config path to use: the one given, or the default.
pub fn config_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn login_shell_is_recognised_by_dash_in_argv0() {
        assert!(matches!(
            Invocation::from_args(&args(&["-pairshell"])),
            Invocation::Shell(ShellStart { text: None, .. })
        ));
    }

    #[test]
    fn dash_c_text_is_never_parsed_as_options() {
        let inv = Invocation::from_args(&args(&["pairshell", "-c", "--config /tmp/x login"]));
        match inv {
            Invocation::Shell(ShellStart {
                text: Some(t),
                config: None,
            }) => assert_eq!(t, "--config /tmp/x login"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ordinary_arguments_go_to_clap() {
        assert!(matches!(
            Invocation::from_args(&args(&["pairshell", "check"])),
            Invocation::Args
        ));
        Cli::try_parse_from([
            "pairshell",
            "--config",
            "/x",
            "authorized-keys",
            "u",
            "t",
            "k",
        ])
        .unwrap();
    }

    #[test]
    fn own_login_line_requires_this_binary() {
        let exe = std::env::current_exe().unwrap();
        let exe_s = exe.to_str().unwrap();
        assert_eq!(
            own_login_line(&format!("{exe_s} --config /etc/p.toml login"), &exe),
            Some(Some(PathBuf::from("/etc/p.toml")))
        );
        assert_eq!(own_login_line(&format!("{exe_s} login"), &exe), Some(None));
        // Another program, a relative path, extra words: not ours.
        assert_eq!(own_login_line("/bin/sh --config /x login", &exe), None);
        assert_eq!(own_login_line("pairshell login", &exe), None);
        assert_eq!(own_login_line(&format!("{exe_s} login; id"), &exe), None);
        assert_eq!(own_login_line(&format!("{exe_s} -c login"), &exe), None);
    }

    #[test]
    fn cli_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
