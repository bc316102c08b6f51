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
pub(crate) struct Cli {
    /// Main config file [default: /etc/pairshell/pairshell.toml]. It counts
    /// only if it is owned by root and not writable by group or other.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,

    /// Run as a shell, the way sshd runs a forced command: TEXT is either
    /// pairshell's own `… login` line (the guest's request is then
    /// SSH_ORIGINAL_COMMAND) or the guest's request itself.
    #[arg(short = 'c', value_name = "TEXT", allow_hyphen_values = true)]
    pub(crate) command_text: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the guest flow (what sshd runs)
    ///
    /// Identify the guest from SSH_USER_AUTH, then list, choose or join as
    /// SSH_ORIGINAL_COMMAND asks.
    Login,
    /// For sshd's AuthorizedKeysCommand: a guest's key line
    ///
    /// Run by sshd as `authorized-keys %u %t %k`: print the authorized_keys
    /// line for a current guest's key, or nothing.
    AuthorizedKeys {
        /// The account being logged in to (sshd's %u)
        user: String,
        /// The key's type (sshd's %t)
        key_type: String,
        /// The key, base64 (sshd's %k)
        base64: String,
    },
    /// For sshd's AuthorizedPrincipalsCommand: a cert's guests
    ///
    /// Print an authorized_principals line for each principal of the offered
    /// certificate that names a current guest (when USER is the pair account
    /// and a CA in trusted_user_ca_keys signed it); nothing otherwise.
    AuthorizedPrincipals {
        /// The account being logged in to (sshd's %u)
        user: String,
        /// The certificate's type (sshd's %t)
        cert_type: String,
        /// The certificate, base64 (sshd's %k)
        base64: String,
    },
    /// Admin: check all a login depends on, like `sshd -t`
    ///
    /// Checks the main config and every host file (owners and modes, grants
    /// to unknown guests, shared keys, expired entries, sockets), sshd's
    /// settings for the pair account (`sshd -T`), the pair account's shell,
    /// the tmux version and Landlock. One line per problem, saying how to fix
    /// it; exit status 1 if there is any. Run it as root.
    ///
    /// With --config FILE naming a file sshd does not read (a candidate not
    /// installed yet, as in Ansible's `validate: pairshell check --config
    /// %s`), FILE is checked as a replacement for the config sshd reads.
    Check {
        /// The sshd config to check the pair account's settings in, as
        /// `sshd -f` takes it [default: sshd's own, /etc/ssh/sshd_config]:
        /// for a second sshd, or a config not installed yet.
        #[arg(long, value_name = "PATH")]
        sshd_config: Option<PathBuf>,
    },
    /// Edit the config (root) or your host file, like visudo
    ///
    /// As root: takes the admin commands' lock and opens a copy of the main
    /// config in $VISUAL, $EDITOR or sensible-editor. On save the copy is
    /// checked with `check`'s rules (schema, keys, a key two guests hold,
    /// grants naming no guest, the paths it names); each problem is shown
    /// with FILE:LINE:COLUMN, and you choose: edit again, or leave the
    /// installed file as it was. A copy that passes replaces the config
    /// atomically (same owner and mode), and the index is rebuilt. Run by a
    /// host, it edits that host's own file in hosts_dir the same way, under
    /// share's lock; a socket must be the host's own.
    Edit,
    /// Admin: rebuild the key index after a hand edit
    ///
    /// Rebuilds CONFIG.index beside the main config, with which
    /// `authorized-keys` and logins find a guest's key without reading the
    /// whole config. `guest add`, `guest remove` and `guest sync` rebuild it
    /// themselves; run this after editing the config by hand. Until then the
    /// index no longer matches the config and is not used (logins read the
    /// whole config, which is slower but never wrong). Then rebuilds
    /// CONFIG.hosts-index, each host file's stamp and the sessions it shares
    /// with each guest, so a login need not read every host file; a host
    /// file changed since is read itself. Run it as root.
    Index,
    /// Share SESSION, show the line for guests, attach you
    ///
    /// Records the grants in your host file, starts the session's own tmux
    /// server if needed, opens it to the pair account, prints the line to
    /// give your guests, and attaches you. Inside tmux the line shows on your
    /// status line (until a key is pressed) and goes to your terminal's
    /// clipboard (OSC 52). Run it again without --rw/--ro to see the line
    /// again; with them, it adds or changes grants.
    ///
    /// With --public or --via, a small process of yours keeps the session
    /// reachable from outside this network until the share ends (`who`
    /// shows it, `unshare` closes it), and the line names the outside
    /// address.
    Share {
        /// The tmux session name (letters, digits, '_' and '-').
        session: String,
        /// A guest who may type (only people you would hand your keyboard).
        #[arg(long = "rw", value_name = "GUEST")]
        rw: Vec<String>,
        /// A guest who may watch.
        #[arg(long = "ro", value_name = "GUEST")]
        ro: Vec<String>,
        #[command(flatten)]
        expiry: Expiry,
        /// Do not attach to the session afterwards.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        reach: crate::core::reach::Reach,
        #[command(flatten)]
        control: Control,
    },
    /// Let GUEST join SESSION read-only or read-write
    ///
    /// SESSION must be shared already (`share`).
    Grant {
        session: String,
        guest: String,
        #[command(flatten)]
        mode: ModeArg,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// Take GUEST's grant away and end their connections now
    ///
    /// Takes GUEST's grant on SESSION away and ends their connections to it
    /// now.
    Revoke { session: String, guest: String },
    /// Stop sharing SESSION; the tmux session keeps running
    ///
    /// Removes it from your file, ends every guest's connection and closes
    /// its server to the pair account. The tmux session keeps running.
    Unshare { session: String },
    /// List the guests connected to your shared sessions
    ///
    /// One line per connection: session, guest, mode, since when, from which
    /// address, tmux client pid.
    Who,
    /// End GUEST's connections now; their grant stands
    ///
    /// Ends GUEST's connections (to SESSION only, if given) now. Their grant
    /// stands; `revoke` takes it away.
    Kick {
        guest: String,
        session: Option<String>,
    },
    /// Admin: print the audit trail, or one guest's
    ///
    /// One event per line: from the journal (`journalctl -t pairshell`) when
    /// journald runs, else from /var/log/auth.log or --file. With GUEST, only
    /// the lines whose guest field is exactly GUEST.
    Log {
        /// Only this guest's events (`guest=GUEST`, exactly: not `guest=GUESTx`).
        guest: Option<String>,
        /// Only events since then: `2h` or `3d` (that long ago),
        /// `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00` (local time;
        /// a time still to come today means yesterday).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Read this syslog file (rsyslog's RFC 3164 or RFC 3339 stamps)
        /// instead of the journal, e.g. /var/log/auth.log.1.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Admin: play session recordings, or prune old ones
    ///
    /// Plays recordings (asciicast v2, see `record` in pairshell.toml(5)) in
    /// this terminal with their timing: one FILE, every recording of GUEST,
    /// or every recording of HOST/SESSION, oldest first. `asciinema play
    /// FILE` plays the same files. With --prune DAYS, removes recordings
    /// older than DAYS days instead (run it from cron or a timer). Needs
    /// root: recordings are readable by root alone.
    Replay {
        /// A .cast file, a guest's name, or HOST/SESSION.
        #[arg(
            required_unless_present = "prune",
            value_name = "FILE|GUEST|HOST/SESSION"
        )]
        target: Option<String>,
        /// Only recordings with events since then: `2h`, `3d`,
        /// `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00`.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Play this many times faster.
        #[arg(long, value_name = "N", default_value_t = 1.0)]
        speed: f64,
        /// Cut every pause to at most S seconds (0: no pauses).
        #[arg(long, value_name = "S")]
        idle_limit: Option<f64>,
        /// Remove recordings older than DAYS days, and play nothing.
        #[arg(long, value_name = "DAYS", conflicts_with_all = ["target", "since", "idle_limit"])]
        prune: Option<u32>,
    },
    /// Admin: who typed what in HOST/SESSION
    ///
    /// Merges the input of every read-write guest's recording of
    /// HOST/SESSION onto one timeline, decoded into readable text (Enter as
    /// ⏎, control keys as ^C, other keys by name, a paste as one line): one
    /// line per run of typing, `TIME  GUEST  TEXT`. Needs root.
    Typed {
        /// The session, as HOST/SESSION.
        #[arg(value_name = "HOST/SESSION")]
        target: String,
        /// Only what was typed since then (as for `log --since`).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// One JSON object per line: time (UTC), guest, text.
        #[arg(long)]
        json: bool,
    },
    /// Admin (root): enable or disable a host.
    Host {
        #[command(subcommand)]
        action: HostAction,
    },
    /// Admin: declare guests and their keys
    ///
    /// Add, remove and sync need root; list does not.
    Guest {
        #[command(subcommand)]
        action: GuestAction,
    },
    /// Internal: run by a shared tmux server's hooks, as its host.
    #[command(hide = true)]
    Hook {
        event: crate::core::hook::HookEvent,
        socket: PathBuf,
        arg: String,
    },
    /// Internal: holds share --public's port mapping or --via's tunnel,
    /// as the host, while the share lasts (see host/nat/mod.rs).
    #[command(hide = true)]
    NatHold {
        session: String,
        #[command(flatten)]
        reach: crate::core::reach::Reach,
    },
    /// Through sudo: a GitHub user as a guest for a while
    ///
    /// Run as root through sudo by a host's `share SESSION --rw @LOGIN --for
    /// DURATION` (the drop-in `contrib/sudoers.d/pairshell-invite` allows
    /// it). Takes exactly a GitHub login and a duration, and nothing else:
    /// sudoers' `*` matches spaces, so this command refuses every other
    /// shape itself. The guest is named LOGIN, takes LOGIN's GitHub keys and
    /// expires after DURATION, at most `invite_max`; the trail's `guest-add`
    /// line names the host (`SUDO_USER`) as `by=`.
    Invite {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "LOGIN DURATION"
        )]
        args: Vec<String>,
    },
    /// Internal: a host's key in an ask prompt, run by the server as the
    /// host (see src/ask.rs).
    #[command(hide = true)]
    Answer {
        socket: PathBuf,
        pid: u32,
        nonce: String,
        key: String,
    },
    /// Internal: the gated start of the tmux client (see guest/client.rs).
    #[command(hide = true)]
    ExecClient {
        #[arg(long)]
        gate: i32,
        /// The checked socket, opened O_PATH, left open for tmux.
        #[arg(long)]
        socket_fd: i32,
        /// Refuse to run the client without Landlock (read-write joins).
        #[arg(long)]
        require_confinement: bool,
        #[arg(last = true, required = true)]
        argv: Vec<OsString>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostAction {
    /// Let LOGIN share sessions
    ///
    /// Creates hosts_dir/LOGIN.toml (owned by LOGIN, with a commented
    /// example), puts LOGIN and the pair account in socket_group, prepares
    /// sockets_dir/LOGIN and records it for systemd-tmpfiles. Safe to re-run.
    Add { login: String },
    /// Stop LOGIN from sharing
    ///
    /// Removes their file (their guests are let go at their next re-check)
    /// and their tmpfiles line, and takes them out of socket_group.
    Remove { login: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GuestAction {
    /// Declare guest NAME with keys, or give an existing guest more
    ///
    /// Declares guest NAME with these keys, or gives an existing guest more
    /// keys (and, with --expires, a new end). A key another guest already
    /// holds is refused. The main config keeps its comments and order.
    #[command(group(
        clap::ArgGroup::new("source")
            .required(true)
            .multiple(true)
            .args(["keys", "key_files", "github"])
    ))]
    Add {
        /// The guest's name (letters, digits, '_', '.' and '-').
        name: String,
        /// A public key, as one line of a .pub file.
        #[arg(long = "key", value_name = "'TYPE BASE64 [COMMENT]'")]
        keys: Vec<String>,
        /// A file of public keys (a .pub file, or authorized_keys lines
        /// without options); its keys are copied into the config.
        #[arg(long = "key-file", value_name = "PATH")]
        key_files: Vec<PathBuf>,
        /// Take the keys this GitHub user publishes (github_keys_url), and
        /// let `guest sync` refresh them.
        #[arg(long, value_name = "USER")]
        github: Option<String>,
        /// When the guest's keys stop working: `2026-11-21T18:00:00Z`,
        /// `2026-11-21 18:00`, `18:00` (local time), or a duration from
        /// now such as `8h` or `30d`.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
    },
    /// Remove guest NAME and all their keys
    ///
    /// Their connections end at the next re-check (within 30 s).
    Remove { name: String },
    /// List the guests, their keys and fingerprints
    ///
    /// One line per guest: key count, where the keys come from, expiry and
    /// SHA256 fingerprints.
    List,
    /// Fetch the GitHub keys of --github guests again
    ///
    /// Fetches again the GitHub keys of every guest added with --github (or
    /// of NAME only). A failed fetch keeps the old keys; the exit status is 1
    /// if any fetch failed.
    Sync { name: Option<String> },
}

/// `--ro` or `--rw`, exactly one.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ModeArg {
    /// The guest may watch.
    #[arg(long)]
    pub(crate) ro: bool,
    /// The guest may type.
    #[arg(long)]
    pub(crate) rw: bool,
}

impl ModeArg {
    pub(crate) fn mode(&self) -> crate::core::mode::Mode {
        if self.rw {
            crate::core::mode::Mode::ReadWrite
        } else {
            crate::core::mode::Mode::ReadOnly
        }
    }
}

/// How much the host stays in control of a share: `--ask`, `--presence`
/// and `--on-host-leave`.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Control {
    /// Ask me before each guest joins: a prompt on my tmux clients
    /// (`ask = true` in the file).
    #[arg(long)]
    pub(crate) ask: bool,
    /// Guests only while I am attached (`presence = "required"`); when
    /// my last client detaches, `--on-host-leave` decides.
    #[arg(long)]
    presence: bool,
    /// With --presence: `pause` freezes the guests' screens until I am
    /// back, `end` lets them go.
    #[arg(long, value_name = "WHAT", requires = "presence")]
    on_host_leave: Option<crate::core::presence::OnHostLeave>,
}

impl Control {
    /// With `--presence`: what becomes of the guests when the host leaves
    /// (`--on-host-leave`, or its default).
    pub(crate) fn presence(&self) -> Option<crate::core::presence::OnHostLeave> {
        self.presence
            .then(|| self.on_host_leave.unwrap_or_default())
    }
}

/// When access ends: `--for DURATION` or `--until TIME`.
#[derive(Debug, Default, clap::Args)]
#[group(required = false, multiple = false)]
pub(crate) struct Expiry {
    /// For this long from now: `45s`, `30m`, `2h`, `1h30m`, `3d`.
    #[arg(long = "for", value_name = "DURATION")]
    pub(crate) for_: Option<String>,
    /// Until then: `2026-11-21T18:00:00Z`, `2026-11-21 18:00` or `18:00`
    /// (local time; a time already past today means tomorrow).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
}

impl Expiry {
    /// The instant access ends, if one was given.
    pub(crate) fn resolve(&self, now: jiff::Timestamp) -> Result<Option<jiff::Timestamp>, String> {
        crate::core::time::ends(self.for_.as_deref(), self.until.as_deref(), now)
    }
}

/// How this process was started, decided before clap sees anything.
#[derive(Debug)]
pub(crate) enum Invocation {
    /// Started by sshd as a shell: never parsed as options.
    Shell(ShellStart),
    /// `pairshell [--config PATH] login`, exactly as `authorized-keys`
    /// writes it into the `command=` option: the guest flow, with the
    /// config it names. The same as clap makes of those words, without
    /// building clap's whole command line first (a fifth of a millisecond,
    /// on every login).
    Login(Option<PathBuf>),
    /// A person (or sshd's AuthorizedKeysCommand) ran it with arguments.
    Args,
}

impl Invocation {
    pub(crate) fn from_args(args: &[OsString]) -> Invocation {
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
        // Anything else, including every other spelling of these options
        // (`--config=PATH`, a path that looks like an option), goes to clap.
        match &args[1.min(args.len())..] {
            [login] if login == "login" => Invocation::Login(None),
            [flag, path, login]
                if flag == "--config"
                    && login == "login"
                    && !path.is_empty()
                    && !path.as_bytes().starts_with(b"-") =>
            {
                Invocation::Login(Some(PathBuf::from(path)))
            }
            _ => Invocation::Args,
        }
    }
}

/// A start as a shell: the optional `-c` text, not yet interpreted.
#[derive(Debug)]
pub(crate) struct ShellStart {
    config: Option<PathBuf>,
    text: Option<String>,
}

impl ShellStart {
    pub(crate) fn from_text(config: Option<PathBuf>, text: String) -> ShellStart {
        ShellStart {
            config,
            text: Some(text),
        }
    }

    /// Decide where the config and the guest's request come from:
    /// `(config, request)`.
    pub(crate) fn into_start(self) -> (Option<PathBuf>, Option<OsString>) {
        let original = || std::env::var_os("SSH_ORIGINAL_COMMAND");
        match self.text {
            None => (self.config, original()),
            Some(text) => {
                let own = std::env::current_exe()
                    .ok()
                    .and_then(|exe| own_login_line(&text, &exe));
                match own {
                    // sshd ran our forced command through the login shell.
                    Some(config) => (config.or(self.config), original()),
                    // The text is what the guest typed after `ssh pair@host`.
                    None => (self.config, Some(OsString::from(text))),
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
pub(crate) fn own_login_line(text: &str, self_exe: &Path) -> Option<Option<PathBuf>> {
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
    fn the_login_line_skips_clap_and_means_what_clap_makes_of_it() {
        for (line, config) in [
            (&["pairshell", "login"][..], None),
            (
                &["pairshell", "--config", "/etc/p.toml", "login"][..],
                Some("/etc/p.toml"),
            ),
        ] {
            match Invocation::from_args(&args(line)) {
                Invocation::Login(c) => assert_eq!(c.as_deref(), config.map(Path::new)),
                other => panic!("{line:?}: unexpected {other:?}"),
            }
            let cli = Cli::try_parse_from(line).unwrap();
            assert!(matches!(cli.command, Some(Command::Login)));
            assert_eq!(cli.config.as_deref(), config.map(Path::new));
        }
        // Every other spelling is clap's to judge.
        for line in [
            &["pairshell", "--config=/x", "login"][..],
            &["pairshell", "--config", "--help", "login"][..],
            &["pairshell", "--config", "", "login"][..],
            &["pairshell", "login", "extra"][..],
            &[
                "pairshell",
                "--config",
                "/x",
                "authorized-keys",
                "u",
                "t",
                "k",
            ][..],
        ] {
            assert!(
                matches!(Invocation::from_args(&args(line)), Invocation::Args),
                "{line:?}"
            );
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
    fn log_arguments_parse() {
        let cli = Cli::try_parse_from([
            "pairshell",
            "log",
            "alice",
            "--since",
            "2h",
            "--file",
            "/var/log/x",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Log { guest, since, file }) => {
                assert_eq!(guest.as_deref(), Some("alice"));
                assert_eq!(since.as_deref(), Some("2h"));
                assert_eq!(file, Some(PathBuf::from("/var/log/x")));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Cli::try_parse_from(["pairshell", "log"]).unwrap().command,
            Some(Command::Log {
                guest: None,
                since: None,
                file: None
            })
        ));
    }

    #[test]
    fn guest_add_needs_a_key_source() {
        assert!(Cli::try_parse_from(["pairshell", "guest", "add", "alice"]).is_err());
        let cli = Cli::try_parse_from([
            "pairshell",
            "guest",
            "add",
            "alice",
            "--key",
            "ssh-ed25519 AAAA x",
            "--key-file",
            "/k.pub",
            "--github",
            "al",
            "--expires",
            "30d",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Guest {
                action:
                    GuestAction::Add {
                        name,
                        keys,
                        key_files,
                        github,
                        expires,
                    },
            }) => {
                assert_eq!(name, "alice");
                assert_eq!(keys, ["ssh-ed25519 AAAA x"]);
                assert_eq!(key_files, [PathBuf::from("/k.pub")]);
                assert_eq!(github.as_deref(), Some("al"));
                assert_eq!(expires.as_deref(), Some("30d"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn share_flags_parse() {
        let cli = Cli::try_parse_from([
            "pairshell",
            "share",
            "api",
            "--rw",
            "alice",
            "--ro",
            "bob",
            "--ro",
            "carol",
            "--for",
            "2h",
            "--detach",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Share {
                session,
                rw,
                ro,
                expiry,
                detach,
                ..
            }) => {
                assert_eq!(session, "api");
                assert_eq!(rw, ["alice"]);
                assert_eq!(ro, ["bob", "carol"]);
                assert_eq!(expiry.for_.as_deref(), Some("2h"));
                assert!(detach);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from([
            "pairshell",
            "share",
            "api",
            "--for",
            "1h",
            "--until",
            "18:00"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["pairshell", "grant", "api", "bob"]).is_err());
        assert!(Cli::try_parse_from(["pairshell", "grant", "api", "bob", "--ro", "--rw"]).is_err());
    }

    #[test]
    fn host_control_flags_parse_and_leaving_needs_presence() {
        use crate::core::presence::OnHostLeave;
        let control = |args: &[&str]| {
            let argv = ["pairshell", "share", "api"].iter().chain(args);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Some(Command::Share { control, .. })) => Ok((control.ask, control.presence())),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.kind()),
            }
        };
        assert_eq!(control(&[]), Ok((false, None)));
        assert_eq!(control(&["--ask"]), Ok((true, None)));
        assert_eq!(
            control(&["--presence"]),
            Ok((false, Some(OnHostLeave::Pause)))
        );
        assert_eq!(
            control(&["--presence", "--on-host-leave", "end"]),
            Ok((false, Some(OnHostLeave::End)))
        );
        assert_eq!(
            control(&["--on-host-leave", "end"]),
            Err(clap::error::ErrorKind::MissingRequiredArgument)
        );
    }

    /// `pairshell --help` scans like git's or ripgrep's: each command in one
    /// short line, the long text kept for `help CMD` and the man pages.
    #[test]
    fn help_lists_each_command_in_one_short_line() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd.render_help().to_string();
        let list: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        let visible: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| s.get_name().to_string())
            .collect();
        // One line each (clap's own `help` too), and no continuation lines.
        assert_eq!(list.len(), visible.len() + 1, "{help}");
        for line in &list {
            let name = line.split_whitespace().next().unwrap_or("");
            // clap's own `help` line is clap's wording.
            assert!(
                name == "help" || line.len() <= 80,
                "{} chars: {line}",
                line.len()
            );
            assert!(
                name == "help" || visible.iter().any(|v| v == name),
                "not a command line: {line}"
            );
        }
        // The long text is still there for `help check` and the man page.
        let check = cmd.find_subcommand_mut("check").unwrap();
        let long = check.render_long_help().to_string();
        assert!(long.contains("Landlock"), "{long}");
        let share = cmd.find_subcommand_mut("share").unwrap();
        let long = share.render_long_help().to_string();
        assert!(long.contains("OSC 52"), "{long}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
