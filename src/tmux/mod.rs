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
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::core::mode::Mode;
use crate::sys::sandbox::{Confinement, Jail};
pub(crate) mod terminfo;
use crate::sys::process::output_within;
use crate::sys::trust::PinnedSocket;

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

fn target(session: &str) -> String {
    format!("={session}")
}

/// Whether a server listens on the socket (no subprocess: a `connect`).
///
/// Nonblocking, so it can never hang: a stopped server whose queue of
/// unaccepted connections is full would make a blocking `connect` wait
/// forever. A full queue (`EAGAIN`) still means a server is there.
pub(crate) fn server_running(path: &Path) -> bool {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let Ok(addr) = UnixAddr::new(path) else {
        return false;
    };
    let Ok(fd) = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    matches!(
        connect(fd.as_raw_fd(), &addr),
        Ok(()) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINPROGRESS)
    )
}

/// How long any tmux command pairshell runs for a guest may take. A host's
/// server that is stopped, or busy forever in a hook, must not hang a guest.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);

/// The format of `list-clients` that rings the host's server: the
/// server's `after-list-clients` hook (see [`Hooks`]) runs `pairshell hook
/// asks` for it, which reads the requests waiting (`crate::ask`).
pub(crate) const RING: &str = "pairshell-ask";

/// The file the server's join/leave hooks touch beside the socket (as the
/// host): only a wake for the guests' pairshells, which watch the socket's
/// directory for presence (`share --presence`), never believed.
fn presence_path(socket: &Path) -> PathBuf {
    socket.with_file_name(".pairshell-presence")
}

/// Touch [`presence_path`] (the host's side, from the server's hooks).
pub(crate) fn touch_presence(socket: &Path) {
    let _ = std::fs::write(presence_path(socket), b"");
}

/// What `has-session` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionState {
    Running,
    /// No server on the socket, or the server has no such session.
    NotRunning,
    /// The server did not answer within [`DEADLINE`].
    Stuck,
    /// The server refused the pair account (no `server-access -a`).
    AccessDenied(String),
    /// tmux failed in another way.
    Failed(String),
}

/// What a question about our own client found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen<T> {
    Yes(T),
    /// The server answered, and our client is not in its list (yet).
    NotListed,
    /// The server did not answer within [`DEADLINE`].
    Stuck,
}

/// One shared server as the pair account reaches it: through the socket
/// pairshell checked (never its path again), every client confined, every
/// command bounded by [`DEADLINE`].
pub(crate) struct PairTmux {
    tmux: PathBuf,
    socket: PinnedSocket,
    jail: Jail,
}

impl PairTmux {
    pub(crate) fn new(tmux: &Path, socket: PinnedSocket) -> Result<PairTmux, String> {
        let jail = Jail::tmux_client(tmux, Some(socket.as_fd()))?;
        Ok(PairTmux {
            tmux: tmux.to_path_buf(),
            socket,
            jail,
        })
    }

    pub(crate) fn socket(&self) -> &PinnedSocket {
        &self.socket
    }

    pub(crate) fn tmux(&self) -> &Path {
        &self.tmux
    }

    pub(crate) fn confinement(&self) -> Confinement {
        self.jail.confinement()
    }

    /// `tmux -N -S /proc/self/fd/N` with the environment cleared down to
    /// what a terminal client needs.
    fn base(&self) -> Command {
        let mut cmd = Command::new(&self.tmux);
        cmd.env_clear()
            .envs(kept_env())
            .arg("-N")
            .arg("-S")
            .arg(self.socket.proc_path());
        cmd
    }

    /// Run a command client, confined, within the deadline. `None` when
    /// the server did not answer in time.
    fn run(&self, args: &[&str]) -> Result<Option<Output>, String> {
        let mut cmd = self.base();
        cmd.args(args);
        self.jail.prepare(&mut cmd, Some(self.socket.raw_fd()));
        output_within(&mut cmd, DEADLINE)
            .map_err(|e| format!("cannot run {}: {e}", self.tmux.display()))
    }

    /// Whether the server answers on the checked socket at all.
    pub(crate) fn server_running(&self) -> bool {
        server_running(&self.socket.proc_path())
    }

    /// Whether session NAME exists, as the pair account may ask it.
    ///
    /// `list-clients -t =NAME` rather than `has-session`: when no guest may
    /// write, the host opens the server read-only (`server-access -r`), and
    /// a read-only user may run only the few commands tmux marks read-only,
    /// of which `list-clients` is one. It fails the same way for a missing
    /// session.
    pub(crate) fn has_session(&self, session: &str) -> SessionState {
        let t = target(session);
        match self.run(&["list-clients", "-F", "", "-t", &t]) {
            Err(e) => SessionState::Failed(e),
            Ok(None) => SessionState::Stuck,
            Ok(Some(out)) if out.status.success() => SessionState::Running,
            Ok(Some(out)) => classify(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// `format` expanded for our own client `pid` (asked through the list
    /// of clients, the one query a read-only server-access user may run).
    fn own_client(&self, pid: u32, format: &str) -> Seen<String> {
        let format = format!("#{{client_pid}} {format}");
        let out = match self.run(&["list-clients", "-F", &format]) {
            Ok(Some(out)) => out,
            Ok(None) => return Seen::Stuck,
            Err(_) => return Seen::NotListed,
        };
        let found = String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let (p, value) = l.split_once(' ')?;
            (p.parse::<u32>().ok()? == pid).then(|| value.trim().to_string())
        });
        found.map_or(Seen::NotListed, Seen::Yes)
    }

    /// How many sessions the server holds, where our client `pid` is
    /// attached. tmux 3.3 has no `server_sessions` format, so the count is
    /// the length of a loop over all sessions (`#{S:.}` prints one dot per
    /// session).
    pub(crate) fn server_sessions(&self, pid: u32) -> Seen<usize> {
        match self.own_client(pid, "#{S:.}") {
            Seen::Yes(dots) => Seen::Yes(dots.len()),
            Seen::NotListed => Seen::NotListed,
            Seen::Stuck => Seen::Stuck,
        }
    }

    /// Whether our client `pid` is read-only right now.
    pub(crate) fn client_read_only(&self, pid: u32) -> Seen<bool> {
        match self.own_client(pid, "#{client_readonly}") {
            Seen::Yes(ro) => Seen::Yes(ro == "1"),
            Seen::NotListed => Seen::NotListed,
            Seen::Stuck => Seen::Stuck,
        }
    }

    /// Ring the host's server: `list-clients` with a format the server's
    /// `after-list-clients` hook recognises ([`RING`]), the one
    /// command a read-only server-access user may run. The hook, as the
    /// host, reads the requests waiting for it.
    pub(crate) fn ring(&self) {
        let _ = self.run(&["list-clients", "-F", RING]);
    }

    /// The Unix users of the server's clients (`None`: no answer).
    pub(crate) fn client_users(&self) -> Option<Vec<String>> {
        match self.run(&["list-clients", "-F", "#{client_user}"]) {
            Ok(Some(out)) if out.status.success() => Some(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Detach our client, named by its terminal (`/dev/pts/N`). False when
    /// the server refused (a read-only server-access user may not) or did
    /// not answer.
    pub(crate) fn detach(&self, client: &str) -> bool {
        matches!(
            self.run(&["detach-client", "-t", client]),
            Ok(Some(out)) if out.status.success()
        )
    }

    /// `tmux [-u] -N -S /proc/self/fd/N attach-session -E [-r] -t =NAME`:
    /// `-E` so the client's (already cleared) environment is not applied to
    /// the session, `-r` for a read-only client (tmux: read-only and
    /// ignore-size, so a read-only guest never resizes the host's window;
    /// pairshell's relay is what keeps a read-only guest from typing).
    /// `TERM` is the one `term` chose (the host may lack the guest's own),
    /// and `-u` draws UTF-8 for a guest who sent no locale.
    /// The caller confines the client before it runs (`exec-client`).
    pub(crate) fn attach(&self, session: &str, mode: Mode, term: &terminfo::Choice) -> Command {
        attach_on(&self.tmux, &self.socket.proc_path(), session, mode, term)
    }
}

fn attach_on(
    tmux: &Path,
    socket: &Path,
    session: &str,
    mode: Mode,
    term: &terminfo::Choice,
) -> Command {
    let mut cmd = Command::new(tmux);
    cmd.env_clear().envs(kept_env()).env("TERM", &term.used);
    if term.utf8 {
        cmd.arg("-u");
    }
    cmd.arg("-N")
        .arg("-S")
        .arg(socket)
        .arg("attach-session")
        .arg("-E");
    if mode == Mode::ReadOnly {
        cmd.arg("-r");
    }
    cmd.arg("-t").arg(target(session));
    cmd
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

// ---------------------------------------------------------------------------
// The host's side: run as the host, who owns the server.
// ---------------------------------------------------------------------------

/// A tmux server a host owns, driven by that host's `pairshell` commands.
pub(crate) struct Server<'a> {
    pub(crate) tmux: &'a Path,
    pub(crate) socket: &'a Path,
}

/// One client of a server, from `list-clients`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientInfo {
    /// tmux's name for it: its terminal, e.g. `/dev/pts/3`.
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) user: String,
    pub(crate) readonly: bool,
    pub(crate) session: String,
    /// When it attached (seconds since the epoch).
    pub(crate) created: i64,
}

/// Fields separated by `|`, not a tab: tmux replaces control characters in
/// its output with `_` when the locale is not UTF-8. The session name, the
/// only field a host chooses freely, comes last and keeps any `|` it holds.
const CLIENT_FORMAT: &str =
    "#{client_name}|#{client_pid}|#{client_user}|#{client_readonly}|#{client_created}|#{client_session}";

fn parse_client(line: &str) -> Option<ClientInfo> {
    let mut f = line.splitn(6, '|');
    let (name, pid, user, readonly, created, session) = (
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
    );
    Some(ClientInfo {
        name: name.to_string(),
        pid: pid.parse().ok()?,
        user: user.to_string(),
        readonly: readonly == "1",
        session: session.to_string(),
        created: created.parse().unwrap_or(0),
    })
}

/// Quote a word in single quotes, a closing `'` as `'\''`. Both tmux's
/// command parser (hook commands) and `/bin/sh` (what `run-shell` runs)
/// read it back as the same word.
pub(crate) fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Escape text for a tmux message: `display-message` expands `#{…}` and
/// runs `#(…)`, so every `#` is doubled.
///
/// Guards against: a value in a join message (a guest name, an address)
/// making the host's server run a command as the host.
pub(crate) fn message_text(s: &str) -> String {
    s.replace('#', "##")
}

impl Server<'_> {
    /// `tmux -S SOCKET ARGS…` as the calling user, keeping the caller's
    /// environment (it is the host's own server). `-N` unless starting one.
    fn command(&self, start: bool) -> Command {
        let mut cmd = Command::new(self.tmux);
        if !start {
            cmd.arg("-N");
        }
        cmd.arg("-S").arg(self.socket).env_remove("TMUX");
        cmd
    }

    /// `tmux attach-session -t =SESSION` as the host, on the terminal the
    /// host runs it from, with the host's whole environment (so tmux's own
    /// refusal to nest inside another session still speaks).
    pub(crate) fn attach(&self, session: &str) -> Command {
        let mut cmd = Command::new(self.tmux);
        cmd.arg("-S")
            .arg(self.socket)
            .args(["attach-session", "-t", &target(session)]);
        cmd
    }

    /// Run a command on the server; its stdout, or tmux's error text.
    pub(crate) fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(false)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.tmux.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub(crate) fn running(&self) -> bool {
        server_running(self.socket)
    }

    /// Start the server with one detached session, NAME, in the caller's
    /// working directory and environment.
    pub(crate) fn start(&self, session: &str) -> Result<(), String> {
        let out = self
            .command(true)
            .args(["new-session", "-d", "-s", session])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.tmux.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub(crate) fn has_session(&self, session: &str) -> bool {
        self.run(&["has-session", "-t", &target(session)]).is_ok()
    }

    /// The names of the server's sessions.
    pub(crate) fn sessions(&self) -> Vec<String> {
        self.run(&["list-sessions", "-F", "#{session_name}"])
            .map(|out| out.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub(crate) fn new_session(&self, session: &str) -> Result<(), String> {
        self.run(&["new-session", "-d", "-s", session]).map(|_| ())
    }

    pub(crate) fn clients(&self) -> Vec<ClientInfo> {
        self.run(&["list-clients", "-F", CLIENT_FORMAT])
            .map(|out| out.lines().filter_map(parse_client).collect())
            .unwrap_or_default()
    }

    /// Let `user` connect: read-write or read-only (`server-access -w|-r`,
    /// which adds the user when missing and changes the mode of one already
    /// there, including its attached clients).
    pub(crate) fn allow(&self, user: &str, write: bool) -> Result<(), String> {
        let flag = if write { "-w" } else { "-r" };
        self.run(&["server-access", flag, user]).map(|_| ())
    }

    /// Whether `user` may connect, and how: `Some(true)` read-write,
    /// `Some(false)` read-only, `None` not at all (`server-access -l`).
    pub(crate) fn access(&self, user: &str) -> Option<bool> {
        let out = self.run(&["server-access", "-l"]).ok()?;
        out.lines().find_map(|l| {
            let (name, mode) = l.trim().split_once(' ')?;
            (name == user).then(|| mode.contains('W'))
        })
    }

    /// Flip one client's read-only flag (`switch-client -r`). The session
    /// is named too: without `-t`, switch-client would also move the client
    /// to tmux's idea of the current session.
    pub(crate) fn toggle_read_only(&self, client: &str, session: &str) -> Result<(), String> {
        self.run(&["switch-client", "-c", client, "-r", "-t", &target(session)])
            .map(|_| ())
    }

    /// Take `user`'s access away (tmux also ends its clients).
    pub(crate) fn deny(&self, user: &str) -> Result<(), String> {
        match self.run(&["server-access", "-d", user]) {
            Err(e) if e.contains("not found") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Move one client to session NAME (exactly).
    pub(crate) fn switch(&self, client: &str, session: &str) -> Result<(), String> {
        self.run(&["switch-client", "-c", client, "-t", &target(session)])
            .map(|_| ())
    }

    /// Detach one client. With `hangup`, the client also sends SIGHUP to
    /// its parent: for a guest, that is pairshell, which then re-checks the
    /// grant and tells the guest why they were let go.
    pub(crate) fn detach(&self, client: &str, hangup: bool) -> Result<(), String> {
        let mut args = vec!["detach-client"];
        if hangup {
            args.push("-P");
        }
        args.extend(["-t", client]);
        self.run(&args).map(|_| ())
    }

    /// Show `text` on one client's status line for five seconds.
    pub(crate) fn tell(&self, client: &str, text: &str) {
        let _ = self.run(&[
            "display-message",
            "-c",
            client,
            "-d",
            "5000",
            &message_text(text),
        ]);
    }

    /// Show a host's client the line to give guests: on its status line
    /// until a key is pressed (long enough to copy), and on its terminal's
    /// clipboard with OSC 52 (`set-buffer -w`, which tmux sends when the
    /// terminal's terminfo or `terminal-features` has the `Ms`/clipboard
    /// capability; `xterm*` has it by default).
    pub(crate) fn show_line(&self, client: &str, line: &str) {
        let _ = self.run(&[
            "set-buffer",
            "-b",
            "pairshell-line",
            "-w",
            "-t",
            client,
            "--",
            line,
        ]);
        let _ = self.run(&[
            "display-message",
            "-c",
            client,
            "-d",
            "0",
            &message_text(&format!("pairshell: give your guests this line: {line}")),
        ]);
    }

    /// A one-key prompt on one client; the key pressed replaces `%%%` in
    /// `template`, a tmux command run by the server (as the host).
    pub(crate) fn prompt(&self, client: &str, text: &str, template: &str) -> Result<(), String> {
        self.run(&[
            "command-prompt",
            "-1",
            // In the background: without it the command waits for the
            // answer, and the host's next client would be asked only then.
            "-b",
            "-t",
            client,
            "-p",
            &message_text(text),
            template,
        ])
        .map(|_| ())
    }

    pub(crate) fn set_option(&self, name: &str, value: &str) -> Result<(), String> {
        self.run(&["set-option", "-s", name, value]).map(|_| ())
    }

    pub(crate) fn option(&self, name: &str) -> Option<String> {
        self.run(&["show-options", "-sqv", name])
            .ok()
            .map(|v| v.trim_end_matches('\n').to_string())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn unset_option(&self, name: &str) {
        let _ = self.run(&["set-option", "-su", name]);
    }

    /// Install the hooks that keep guests inside their grant and tell the
    /// host who comes and goes. Each sits at its own index of the hook
    /// array, so re-running replaces ours and leaves the host's own hooks.
    pub(crate) fn install_hooks(&self, hooks: &Hooks) -> Result<(), String> {
        for (name, command) in hooks.commands() {
            self.run(&["set-hook", "-g", &name, &command])?;
        }
        Ok(())
    }
}

/// What the shared server's hooks need to know.
pub(crate) struct Hooks<'a> {
    /// This pairshell binary, which the hooks run as the host.
    pub(crate) exe: &'a Path,
    pub(crate) config: &'a Path,
    pub(crate) socket: &'a Path,
    pub(crate) session: &'a str,
    pub(crate) pair_user: &'a str,
}

/// Where our hooks sit in tmux's hook arrays (high, to stay clear of a
/// host's own `set-hook` lines, which use index 0).
const HOOK_INDEX: u32 = 7300;

impl Hooks<'_> {
    fn pairshell(&self, args: &[&str]) -> String {
        let mut words = vec![
            single_quote(&self.exe.to_string_lossy()),
            "--config".to_string(),
            single_quote(&self.config.to_string_lossy()),
            "hook".to_string(),
        ];
        words.extend(args.iter().map(|a| single_quote(a)));
        format!("{} >/dev/null 2>&1", words.join(" "))
    }

    /// `(hook[index], tmux command)` pairs.
    ///
    /// Staying inside the grant takes two hooks on `client-session-changed`:
    /// - at once, inside the server: if the current client is the pair
    ///   account's and is not on the shared session, switch it back and
    ///   detach it. Switching back matters: tmux detaches a client only at
    ///   the end of its loop, after drawing it once more, and that frame must
    ///   be of the shared session, not the other one. (In a hook, tmux's
    ///   "current client" is its best guess, normally the one that just
    ///   switched; the condition and the commands look at the same client, so
    ///   this never touches a host's client.)
    /// - then, to be certain whichever client moved: `pairshell hook
    ///   enforce` lists every client and detaches each pair-account client
    ///   that is on any other session.
    ///
    /// Formats in these commands expand only to tmux's own values (client
    /// names such as `/dev/pts/3`, pids); nothing a guest types reaches them.
    pub(crate) fn commands(&self) -> Vec<(String, String)> {
        let i = HOOK_INDEX;
        let socket = self.socket.to_string_lossy();
        let off_session = format!(
            "#{{&&:#{{==:#{{client_user}},{pair}}},#{{!=:#{{client_session}},{session}}}}}",
            pair = self.pair_user,
            session = self.session
        );
        let run = |args: &[&str]| format!("run-shell -b {}", single_quote(&self.pairshell(args)));
        vec![
            (
                format!("client-session-changed[{i}]"),
                format!(
                    "if-shell -F {} {}",
                    single_quote(&off_session),
                    single_quote(&format!(
                        "switch-client -t ={} ; detach-client",
                        self.session
                    ))
                ),
            ),
            (
                format!("client-session-changed[{}]", i + 1),
                run(&["enforce", &socket, self.session]),
            ),
            (
                format!("client-attached[{i}]"),
                run(&["joined", &socket, "#{hook_client}"]),
            ),
            (
                format!("client-detached[{i}]"),
                run(&["left", &socket, "#{hook_client}"]),
            ),
            // A guest's pairshell rang (see `crate::ask`): show the host
            // what is being asked. Only that one format runs anything; the
            // hook reads the requests itself, and believes only the pair
            // account's.
            (
                format!("after-list-clients[{i}]"),
                format!(
                    "if-shell -F {} {}",
                    single_quote(&format!("#{{==:#{{hook_flag_F}},{}}}", RING)),
                    single_quote(&run(&["asks", &socket, self.session]))
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn term(used: &str, utf8: bool) -> terminfo::Choice {
        terminfo::Choice {
            asked: "xterm-ghostty".into(),
            used: used.into(),
            utf8,
        }
    }

    #[test]
    fn attach_targets_the_exact_session_and_never_starts_a_server() {
        let cmd = attach_on(
            Path::new("/usr/bin/tmux"),
            Path::new("/run/s.sock"),
            "api",
            Mode::ReadWrite,
            &term("xterm", false),
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
        let ro = attach_on(
            Path::new("/usr/bin/tmux"),
            Path::new("/run/s.sock"),
            "api",
            Mode::ReadOnly,
            &term("xterm", false),
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
    fn attach_uses_the_chosen_term_and_utf8_for_a_guest_without_a_locale() {
        let cmd = attach_on(
            Path::new("/usr/bin/tmux"),
            Path::new("/run/s.sock"),
            "api",
            Mode::ReadOnly,
            &term("xterm-256color", true),
        );
        assert_eq!(argv(&cmd)[..2], ["-u", "-N"]);
        let term = cmd
            .get_envs()
            .find(|(k, _)| *k == "TERM")
            .and_then(|(_, v)| v);
        assert_eq!(term, Some(std::ffi::OsStr::new("xterm-256color")));
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
    fn client_lines_parse_with_a_bar_in_the_session_name() {
        let c = parse_client("/dev/pts/3|4242|pair|1|1795218837|odd|name").unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.pid,
                c.user.as_str(),
                c.readonly,
                c.session.as_str()
            ),
            ("/dev/pts/3", 4242, "pair", true, "odd|name")
        );
        assert_eq!(parse_client("/dev/pts/3_4242_pair"), None);
    }

    /// Guards against: a stopped server whose queue of unaccepted
    /// connections is full, on which a blocking `connect` waits forever.
    #[test]
    fn stopped_server_with_a_full_queue_never_hangs_the_check() {
        let dir = std::env::temp_dir().join(format!("pairshell-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Never accepted: more connections than the listen queue holds
        // (SOMAXCONN, 4096), each left in it.
        for i in 0..5000 {
            assert!(server_running(&path), "check {i}");
        }
        drop(listener);
        assert!(!server_running(&path), "nobody listens any more");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn message_format_injection_is_escaped() {
        // A message tmux would otherwise expand, running a command as the host.
        assert_eq!(
            message_text("x #(touch /tmp/p) #{pid}"),
            "x ##(touch /tmp/p) ##{pid}"
        );
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
