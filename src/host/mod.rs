//! The host's commands: `share`, `grant`, `revoke`, `unshare`, `who`,
//! `kick`, and the hooks the shared server runs as the host.
//!
//! They run as the host, with the host's own rights and nothing more: they
//! edit the host's file (owned by the host), drive the host's own tmux
//! servers, and read the guest flow's client records. Nothing here is
//! privileged; what a host can do with it they could do by hand.

use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use nix::unistd::Uid;

use crate::ask;
use crate::audit::{Audit, Event};
use crate::config::host_file::{Change, HostEdit};
use crate::config::{self, Config, HostFile};
use crate::core::error::{failure, Exit, Failure};
mod invite;
pub(crate) mod nat;

use crate::core::mode::Mode;
use crate::core::request::is_session_name;
use crate::roster;
use crate::tmux::{ClientInfo, Hooks, Server};

/// The host running this command (every host command starts from it): who
/// they are, and the config.
struct Caller {
    config_path: PathBuf,
    config: Config,
    login: String,
    uid: Uid,
    pair_uid: Option<Uid>,
    audit: Audit,
}

impl Caller {
    fn new(config_path: Option<&Path>) -> Result<Caller, Failure> {
        let uid = nix::unistd::getuid();
        if uid.is_root() {
            return Err("run this as the host who shares the session, not as root \
                 (e.g. `sudo -u LOGIN pairshell share …`)"
                .into());
        }
        let login = crate::sys::accounts::user_by_uid(uid)
            .map(|u| u.name)
            .ok_or_else(|| failure!("uid {uid} has no name on this system"))?;
        let path = config::main_path(config_path);
        let (config_path, config) = config::load_main(&path).map_err(Failure::from)?;
        let pair_uid = crate::sys::accounts::user(&config.pair_user).map(|u| u.uid);
        let audit = Audit::new(&config.audit.syslog_socket, config.audit.required);
        Ok(Caller {
            config_path,
            config,
            login,
            uid,
            pair_uid,
            audit,
        })
    }

    fn file_path(&self) -> PathBuf {
        config::host_path(&self.config.hosts_dir, &self.login)
    }

    fn not_a_host(&self) -> Failure {
        failure!(
            "{login} is not set up as a pairshell host (there is no {file}); \
             ask an admin to run `sudo pairshell host add {login}`",
            login = self.login,
            file = self.file_path().display()
        )
    }

    /// Open the host's file for editing.
    fn edit(&self) -> Result<HostEdit, Failure> {
        let path = self.file_path();
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(self.not_a_host());
        }
        HostEdit::open(&path, self.uid).map_err(Failure::from)
    }

    /// The host's file as it is now.
    fn file(&self) -> Result<HostFile, Failure> {
        match config::load_host(&self.config.hosts_dir, &self.login) {
            Ok(h) => Ok(h.file),
            Err(e) if e.is_not_found() => Err(self.not_a_host()),
            Err(e) => Err(Failure::from(e.to_string())),
        }
    }

    fn server<'a>(&'a self, socket: &'a Path) -> Server<'a> {
        Server {
            tmux: &self.config.tmux,
            socket,
        }
    }

    /// The default socket of a session: `sockets_dir/LOGIN/SESSION.sock`.
    fn default_socket(&self, session: &str) -> PathBuf {
        self.config
            .sockets_dir
            .join(&self.login)
            .join(format!("{session}.sock"))
    }

    /// Check that `guest` is declared in the main config.
    fn known_guest(&self, guest: &str) -> Result<(), Failure> {
        if self.config.guests.contains_key(guest) {
            return Ok(());
        }
        let known: Vec<&str> = self.config.guests.keys().map(|g| g.as_str()).collect();
        Err(Failure::guest(
            guest,
            format!(
                "not declared in {}; {}",
                self.config_path.display(),
                if known.is_empty() {
                    "no guests are declared yet (an admin adds them)".to_string()
                } else {
                    format!("guests: {}", known.join(", "))
                }
            ),
        ))
    }

    /// The pair account's clients on `socket`, each with the record that
    /// names its guest (when one can be believed).
    fn guests_on(&self, socket: &Path) -> Vec<(ClientInfo, Option<roster::Record>)> {
        let server = self.server(socket);
        if !server.running() {
            return Vec::new();
        }
        let dir = roster::dir(&self.config.sockets_dir);
        server
            .clients()
            .into_iter()
            .filter(|c| c.user == self.config.pair_user)
            .map(|c| {
                let record = self
                    .pair_uid
                    .and_then(|uid| roster::read(&dir, c.pid, uid, socket));
                (c, record)
            })
            .collect()
    }

    fn audit(&mut self, event: Event) {
        if let Err(e) = self.audit.write(event) {
            eprintln!(
                "pairshell: warning: the audit line could not be written to {}: {}",
                e.socket.display(),
                e.reason
            );
        }
    }

    fn event(&self, name: &str, session: &str) -> Event {
        Event::new(name)
            .field("by", &self.login)
            .field("host", &self.login)
            .field("session", session)
    }
}

fn check_session_name(session: &str) -> Result<(), Failure> {
    if is_session_name(session) {
        Ok(())
    } else {
        Err(failure!(
            "{session:?} is not a session name pairshell can share: use letters, digits, '_' and '-', starting with a letter, digit or '_'"
        ))
    }
}

/// How `share` shares, besides who may join and until when.
pub(crate) struct ShareOptions {
    /// Do not attach afterwards.
    pub(crate) detach: bool,
    /// `--for DURATION` as given: an invite (`@LOGIN`) lasts that long,
    /// and needs it.
    pub(crate) invite_for: Option<String>,
    /// `ask = true`.
    pub(crate) ask: bool,
    /// `presence = "required"`, with what the guests get when the host
    /// leaves.
    pub(crate) presence: Option<config::OnHostLeave>,
}

/// `pairshell share SESSION [--rw G]… [--ro G]… [--for D | --until T]
/// [--detach] [--ask] [--presence [--on-host-leave pause|end]]`
pub(crate) fn share(
    config_path: Option<&Path>,
    session: &str,
    rw: &[String],
    ro: &[String],
    ends: Option<Timestamp>,
    options: ShareOptions,
    reach: &nat::Reach,
) -> Result<(), Failure> {
    let detach = options.detach;
    let mut host = Caller::new(config_path)?;
    check_session_name(session)?;
    // `@LOGIN`: a GitHub user, added as a guest through sudo when no guest
    // has that login yet (see `invite.rs` here and `admin/invite.rs`).
    let (rw, ro) = (
        invite::invitees(&mut host, rw, options.invite_for.as_deref())?,
        invite::invitees(&mut host, ro, options.invite_for.as_deref())?,
    );
    let (rw, ro) = (rw.as_slice(), ro.as_slice());
    for guest in rw.iter().chain(ro) {
        host.known_guest(guest)?;
    }
    if let Some(both) = rw.iter().find(|g| ro.contains(g)) {
        return Err(failure!("{both} is named both --rw and --ro; pick one"));
    }

    let mut edit = host.edit()?;
    let socket = edit.ensure_session(session, &host.default_socket(session));
    for (guests, mode) in [(rw, Mode::ReadWrite), (ro, Mode::ReadOnly)] {
        for guest in guests {
            edit.grant(session, guest, mode, None);
        }
    }
    if ends.is_some() {
        edit.set_share_expiry(session, ends);
    }
    if options.ask {
        edit.set_ask(session);
    }
    if let Some(on_leave) = options.presence {
        edit.set_presence(session, on_leave);
    }
    let file = edit.parsed().map_err(Failure::from)?;
    // One server per shared session: the hooks and `server-access` are set
    // for one session, so two shared sessions on one socket would each
    // undo the other's.
    if let Some((other, _)) = file
        .sessions
        .iter()
        .find(|(name, s)| name.as_str() != session && s.socket == socket)
    {
        return Err(failure!(
            "{other} is already shared on {}; give {session} a socket of its own in your file",
            socket.display()
        ));
    }
    let file = edit.save().map_err(Failure::from)?;
    let share = &file.sessions[session];

    let server = host.server(&socket);
    start_server(&host, &server, session)?;
    open_to_guests(&host, &server, session, share)?;
    let others: Vec<String> = server
        .sessions()
        .into_iter()
        .filter(|s| s != session)
        .collect();

    let mut event = host
        .event("share", session)
        .field("read_write", list(&share.read_write))
        .field("read_only", list(&share.read_only));
    if let Some(t) = share.expires {
        event = event.field("expires", t.to_string());
    }
    host.audit(event);

    // --public or --via: the holder that keeps the share reachable from
    // outside the LAN (nat/mod.rs); a share without them shows a running one.
    let dir = nat::state_dir(&host.config.sockets_dir, &host.login);
    let outside = match nat::start(&host.config_path, &dir, host.uid, session, reach) {
        Ok(o) => o,
        Err(e) => {
            println!("{}", summary(&host.login, session, share));
            return Err(e);
        }
    };
    let server = host.server(&socket);
    let line = outside.as_ref().map_or_else(
        || join_line(&host.config.pair_user, session),
        |o| o.line.clone(),
    );
    let note = (!others.is_empty() && !share.allow_other_sessions).then(|| {
        format!(
            "pairshell: note: this server also holds {}; guests are refused until those are gone or the file says allow_other_sessions = true",
            others.join(", ")
        )
    });
    let print_line = || {
        if let Some(note) = &note {
            eprintln!("{note}");
        }
        // The guests' line alone on its own line, to copy or pipe as it is.
        println!("give your guests this line:");
        println!("{line}");
    };
    println!("{}", summary(&host.login, session, share));
    if let Some(o) = &outside {
        println!("{}", nat::describe(o));
        if let Some(note) = nat::note(o) {
            println!("{note}");
        }
    }
    print_line();
    // Inside tmux too, where the host can see it once tmux has drawn, and
    // on the clipboard: every client of the host's already there now.
    for client in server.clients().iter().filter(|c| c.user == host.login) {
        server.show_line(&client.name, &line);
    }
    if detach {
        return Ok(());
    }
    if std::env::var_os("TMUX").is_some() {
        println!(
            "you are inside tmux, so pairshell did not attach you; from outside tmux run: {} -S {} attach -t ={session}",
            host.config.tmux.display(),
            socket.display()
        );
        return Ok(());
    }
    attach(&server, session, &line)?;
    // What scrolled away when tmux took the screen, once more.
    print_line();
    Ok(())
}

/// Start the dedicated server for `session` if it is not running, or add
/// the session to a running one, and make the socket openable by the group.
fn start_server(host: &Caller, server: &Server, session: &str) -> Result<(), Failure> {
    let dir = server.socket.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(failure!(
            "the socket directory {} does not exist; ask an admin to run `sudo pairshell host add {}`",
            dir.display(),
            host.login
        ));
    }
    if !server.running() {
        server
            .start(session)
            .map_err(|e| failure!("cannot start tmux on {}: {e}", server.socket.display()))?;
    } else if !server.has_session(session) {
        server
            .new_session(session)
            .map_err(|e| failure!("cannot create session {session}: {e}"))?;
    }
    // The socket must be ours (the guest flow refuses any other), and the
    // group (inherited from the set-group-id directory) may connect.
    let meta = std::fs::symlink_metadata(server.socket)
        .map_err(|e| failure!("{}: {e}", server.socket.display()))?;
    if !meta.file_type().is_socket()
        || !crate::sys::trust::owned_as(&meta, crate::sys::trust::Owner::Exactly(host.uid))
    {
        return Err(failure!(
            "{} is not a tmux socket of yours; remove it or pick another socket in your file",
            server.socket.display()
        ));
    }
    std::fs::set_permissions(server.socket, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| failure!("{}: {e}", server.socket.display()))
}

/// `server-access` for the pair account as the grants now say, and the hooks.
fn open_to_guests(
    host: &Caller,
    server: &Server,
    session: &str,
    share: &config::Share,
) -> Result<(), Failure> {
    let pair = &host.config.pair_user;
    // A visit the host allowed (ask to type) needs a writable account too.
    let want_write =
        !share.read_write.is_empty() || !ask::visitors(server.socket, host.uid).is_empty();
    match (
        share.read_write.is_empty() && share.read_only.is_empty(),
        server.access(pair),
    ) {
        (true, _) => server.deny(pair)?,
        // `server-access -w` makes every client of the user writable, even
        // one attached with `-r`, and does so again each time it is run.
        // Guards against: a read-only guest becoming able to type because
        // the host granted someone else, or re-ran `share`.
        (false, Some(true)) if want_write => {}
        (false, Some(false)) if !want_write => {}
        (false, _) => {
            server
                .allow(pair, want_write)
                .map_err(|e| failure!("tmux server-access for {pair}: {e}"))?;
            if want_write {
                restore_read_only(host, server, session, share);
            }
        }
    }
    let exe = std::env::current_exe().map_err(|e| failure!("cannot find this program: {e}"))?;
    for path in [
        &exe,
        &host.config_path,
        &host.config.tmux,
        &server.socket.to_path_buf(),
    ] {
        if !plain_path(path) {
            return Err(failure!(
                "cannot install the server's hooks: {} has characters they cannot carry",
                path.display()
            ));
        }
    }
    server
        .install_hooks(&Hooks {
            exe: &exe,
            config: &host.config_path,
            socket: server.socket,
            session,
            pair_user: pair,
        })
        .map_err(|e| failure!("cannot install the server's hooks: {e}"))
}

/// After the pair account was made writable: make read-only again every
/// pair-account client that is not a read-write guest's (a client nobody can
/// attribute counts as read-only), and let go any that stays writable.
/// A guest is a writer as the file says *now* (promoted live or not), or
/// while a visit the host allowed lasts.
fn restore_read_only(host: &Caller, server: &Server, session: &str, share: &config::Share) {
    let visitors = ask::visitors(server.socket, host.uid);
    let should_watch = |record: &Option<roster::Record>| {
        record.as_ref().is_none_or(|r| {
            !share.read_write.iter().any(|g| g.as_str() == r.seat.guest)
                && !visitors.contains(&r.seat.pid)
        })
    };
    for (client, record) in host.guests_on(server.socket) {
        if should_watch(&record) && !client.readonly {
            let _ = server.toggle_read_only(&client.name, session);
        }
    }
    for (client, record) in host.guests_on(server.socket) {
        if should_watch(&record) && !client.readonly {
            let _ = server.detach(&client.name, true);
        }
    }
}

/// A path made only of characters that need no quoting in a tmux hook.
fn plain_path(p: &Path) -> bool {
    p.to_str().is_some_and(|s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    })
}

fn list(names: &[config::GuestName]) -> String {
    names
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn summary(login: &str, session: &str, share: &config::Share) -> String {
    let mut s = format!("shared {login}/{session}:");
    let mut any = false;
    for (names, mode) in [
        (&share.read_write, "read-write"),
        (&share.read_only, "read-only"),
    ] {
        for g in names {
            let _ = write!(s, "{} {g} {mode}", if any { "," } else { "" });
            any = true;
        }
    }
    if !any {
        s.push_str(" with nobody yet");
    }
    if let Some(t) = share.expires {
        let _ = write!(s, " (until {t})");
    }
    s
}

/// The line a guest types to join.
fn join_line(pair_user: &str, session: &str) -> String {
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "HOST".into());
    format!("ssh -t {pair_user}@{hostname} {session}")
}

/// Attach the host's own client, show it the guests' `line` once tmux has
/// drawn (a status message, and the clipboard), and wait for it to end.
///
/// The client is a child, not an exec: its line can only be shown once the
/// server lists it (a message sent with the attach itself is drawn over),
/// and what scrolled away can be printed again after it ends.
fn attach(server: &Server, session: &str, line: &str) -> Result<(), Failure> {
    let mut child = server
        .attach(session)
        .spawn()
        .map_err(|e| failure!("cannot run {}: {e}", server.tmux.display()))?;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
        if let Some(c) = server.clients().iter().find(|c| c.pid == child.id()) {
            server.show_line(&c.name, line);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = child
        .wait()
        .map_err(|e| failure!("waiting for tmux: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(failure!("tmux attach ended with {status}"))
    }
}

/// `pairshell grant SESSION GUEST --ro|--rw [--for D | --until T]`
pub(crate) fn grant(
    config_path: Option<&Path>,
    session: &str,
    guest: &str,
    mode: Mode,
    ends: Option<Timestamp>,
) -> Result<(), Failure> {
    let mut host = Caller::new(config_path)?;
    check_session_name(session)?;
    host.known_guest(guest)?;
    let mut edit = host.edit()?;
    let Some(socket) = shared_socket(&edit, session)? else {
        return Err(not_shared(session));
    };
    let change = edit.grant(session, guest, mode, Some(ends));
    let file = edit.save().map_err(Failure::from)?;
    let share = &file.sessions[session];
    let server = host.server(&socket);
    if server.running() {
        if mode == Mode::ReadOnly {
            // A visit (ask to type) ends with the grant's word.
            let pids: Vec<u32> = host
                .guests_on(&socket)
                .into_iter()
                .filter_map(|(_, r)| r.filter(|r| r.seat.guest == guest).map(|r| r.seat.pid))
                .collect();
            ask::end_visits(&socket, &pids);
        }
        open_to_guests(&host, &server, session, share)?;
        // The guest's connected clients switch mode live: their pairshell
        // sees the file change and starts or stops forwarding at once;
        // tmux's own read-only flag, the second layer, is set here.
        set_clients_mode(&host, &server, session, guest, mode);
    }
    let mut event = host
        .event("grant", session)
        .field("guest", guest)
        .field("mode", mode.as_str());
    if let Some(t) = ends {
        event = event.field("expires", t.to_string());
    }
    host.audit(event);
    let what = match change {
        Change::Added => "granted",
        Change::Changed => "changed",
        Change::Unchanged => "unchanged",
    };
    let until = ends.map(|t| format!(" until {t}")).unwrap_or_default();
    println!(
        "{what}: {guest} may join {}/{session} {mode}{until}",
        host.login
    );
    Ok(())
}

/// Give `guest`'s clients on `server` tmux's read-only flag for `mode`.
fn set_clients_mode(host: &Caller, server: &Server, session: &str, guest: &str, mode: Mode) {
    let want_readonly = mode == Mode::ReadOnly;
    for (client, record) in host.guests_on(server.socket) {
        if record.is_some_and(|r| r.seat.guest == guest) && client.readonly != want_readonly {
            let _ = server.toggle_read_only(&client.name, session);
        }
    }
}

/// `pairshell answer SOCKET PID NONCE KEY`: the host's key in an ask
/// prompt (run by the host's server, as the host). Never prints:
/// `run-shell` would show it in the host's pane.
pub(crate) fn answer(
    config_path: Option<&Path>,
    socket: &Path,
    pid: u32,
    nonce: &str,
    key: &str,
) -> Exit {
    let Ok(mut host) = Caller::new(config_path) else {
        return Exit::Failed;
    };
    let Some(pair_uid) = host.pair_uid else {
        return Exit::Failed;
    };
    let Ok(file) = host.file() else {
        return Exit::Failed;
    };
    // Only a socket this host's own file shares.
    let Some((session, share)) = file.sessions.iter().find(|(_, s)| s.socket == socket) else {
        return Exit::Failed;
    };
    let yes = key == "y" || key == "Y";
    let dir = roster::dir(&host.config.sockets_dir);
    let request = match ask::write_answer(&dir, pair_uid, &host.login, socket, pid, nonce, yes) {
        Ok(r) => r,
        Err(e) => {
            host.audit(
                host.event("answer-refused", session.as_str())
                    .field("pid", pid.to_string())
                    .field("reason", e),
            );
            return Exit::Failed;
        }
    };
    let server = host.server(socket);
    if yes && request.kind == ask::Kind::Type {
        // tmux's second layer for the visit: the account writable, the
        // others read-only again, this guest's client writable.
        let _ = open_to_guests(&host, &server, session.as_str(), share);
        if server.access(&host.config.pair_user) != Some(true) {
            let _ = server.allow(&host.config.pair_user, true);
            restore_read_only(&host, &server, session.as_str(), share);
        }
        for (client, _) in host.guests_on(socket) {
            if Some(client.pid) == request.client && client.readonly {
                let _ = server.toggle_read_only(&client.name, session.as_str());
            }
        }
        // The host's key to take every visit back (the server's own key
        // table: a guest who can type could press it too, which only takes
        // visits away).
        let exe = std::env::current_exe().unwrap_or_default();
        let take_back = format!(
            "{} --config {} hook end-visits {} {} >/dev/null 2>&1",
            crate::tmux::single_quote(&exe.to_string_lossy()),
            crate::tmux::single_quote(&host.config_path.to_string_lossy()),
            crate::tmux::single_quote(&socket.to_string_lossy()),
            crate::tmux::single_quote(session.as_str()),
        );
        let _ = server.run(&[
            "bind-key",
            "-T",
            "prefix",
            "T",
            "run-shell",
            "-b",
            &take_back,
        ]);
        for c in server.clients().iter().filter(|c| c.user == host.login) {
            server.tell(
                &c.name,
                &format!(
                    "pairshell: {} may type in {session} for this visit; Ctrl-b T takes it back",
                    request.seat.guest
                ),
            );
        }
    }
    Exit::Done
}

/// The socket the host's file names for `session`, if it shares it.
fn shared_socket(edit: &HostEdit, session: &str) -> Result<Option<PathBuf>, Failure> {
    Ok(edit
        .parsed()
        .map_err(Failure::from)?
        .sessions
        .get(session)
        .map(|s| s.socket.clone()))
}

fn not_shared(session: &str) -> Failure {
    failure!("{session} is not shared; share it first with `pairshell share {session} --ro GUEST`")
}

/// Detach (with SIGHUP to their pairshell) the pair-account clients on
/// `socket` whose record satisfies `which`. Returns how many.
fn end_clients(host: &Caller, socket: &Path, which: impl Fn(&roster::Record) -> bool) -> usize {
    let server = host.server(socket);
    let mut n = 0;
    for (client, record) in host.guests_on(socket) {
        if record.as_ref().is_some_and(&which) && server.detach(&client.name, true).is_ok() {
            n += 1;
        }
    }
    n
}

/// `pairshell revoke SESSION GUEST`
pub(crate) fn revoke(
    config_path: Option<&Path>,
    session: &str,
    guest: &str,
) -> Result<(), Failure> {
    let mut host = Caller::new(config_path)?;
    check_session_name(session)?;
    let mut edit = host.edit()?;
    let Some(socket) = shared_socket(&edit, session)? else {
        return Err(not_shared(session));
    };
    if !edit.revoke(session, guest) {
        return Err(failure!("{guest} has no grant on {session}"));
    }
    let file = edit.save().map_err(Failure::from)?;
    let share = &file.sessions[session];
    let server = host.server(&socket);
    let mut ended = 0;
    if server.running() {
        ended = end_clients(&host, &socket, |r| r.seat.guest == guest);
        open_to_guests(&host, &server, session, share)?;
    }
    host.audit(
        host.event("revoke", session)
            .field("guest", guest)
            .field("clients", ended.to_string()),
    );
    println!(
        "revoked: {guest} may no longer join {}/{session}{}",
        host.login,
        match ended {
            0 => String::new(),
            n => format!(" ({n} connection{} ended)", if n == 1 { "" } else { "s" }),
        }
    );
    Ok(())
}

/// `pairshell unshare SESSION`
pub(crate) fn unshare(config_path: Option<&Path>, session: &str) -> Result<(), Failure> {
    let mut host = Caller::new(config_path)?;
    check_session_name(session)?;
    let mut edit = host.edit()?;
    let Some(socket) = shared_socket(&edit, session)? else {
        return Err(failure!("{session} is not shared"));
    };
    edit.unshare(session);
    edit.save().map_err(Failure::from)?;
    let server = host.server(&socket);
    let mut ended = 0;
    if server.running() {
        // Every guest on this server goes, whoever they are (no record
        // needed), then the server is closed to the pair account.
        let guests: Vec<ClientInfo> = server
            .clients()
            .into_iter()
            .filter(|c| c.user == host.config.pair_user)
            .collect();
        for c in &guests {
            let _ = server.detach(&c.name, true);
        }
        ended = guests.len();
        server.deny(&host.config.pair_user)?;
    }
    // The mapping or tunnel goes with the share (its holder also
    // notices by itself; this waits until the gateway has been told).
    let dir = nat::state_dir(&host.config.sockets_dir, &host.login);
    if let Some(held) = nat::stop(&dir, session, host.uid) {
        println!("closed {} ({})", held.external, held.method);
    }
    host.audit(
        host.event("unshare", session)
            .field("clients", ended.to_string()),
    );
    println!(
        "unshared {}/{session}; the tmux session itself keeps running",
        host.login
    );
    Ok(())
}

/// `pairshell who`
pub(crate) fn who(config_path: Option<&Path>) -> Result<(), Failure> {
    let host = Caller::new(config_path)?;
    let file = host.file()?;
    let mut rows = Vec::new();
    for (session, share) in &file.sessions {
        for (client, record) in host.guests_on(&share.socket) {
            let mode = if client.readonly {
                Mode::ReadOnly
            } else {
                Mode::ReadWrite
            };
            let since = record
                .as_ref()
                .and_then(roster::Record::since)
                .or_else(|| Timestamp::from_second(client.created).ok())
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into());
            rows.push([
                session.to_string(),
                record
                    .as_ref()
                    .map_or("unknown".to_string(), |r| r.seat.guest.clone()),
                mode.as_str().to_string(),
                since,
                record
                    .as_ref()
                    .and_then(|r| r.seat.from.clone())
                    .unwrap_or_else(|| "-".into()),
                client.pid.to_string(),
            ]);
        }
    }
    print!(
        "{}",
        crate::core::text::table(&["SESSION", "GUEST", "MODE", "SINCE", "FROM", "PID"], &rows)
    );
    if rows.is_empty() {
        eprintln!("pairshell: no guests are connected to your sessions");
    }
    let dir = nat::state_dir(&host.config.sockets_dir, &host.login);
    for held in nat::all_running(&dir, host.uid) {
        println!("{}", nat::describe(&held));
    }
    Ok(())
}

/// `pairshell kick GUEST [SESSION]`
pub(crate) fn kick(
    config_path: Option<&Path>,
    guest: &str,
    session: Option<&str>,
) -> Result<(), Failure> {
    let mut host = Caller::new(config_path)?;
    let file = host.file()?;
    if let Some(s) = session {
        check_session_name(s)?;
        if !file.sessions.contains_key(s) {
            return Err(failure!("{s} is not one of your shared sessions"));
        }
    }
    let mut total = 0;
    for (name, share) in &file.sessions {
        if session.is_some_and(|s| s != name.as_str()) {
            continue;
        }
        let n = end_clients(&host, &share.socket, |r| r.seat.guest == guest);
        if n > 0 {
            host.audit(
                host.event("kick", name.as_str())
                    .field("guest", guest)
                    .field("clients", n.to_string()),
            );
            total += n;
        }
    }
    if total == 0 {
        return Err(failure!(
            "{guest} is not connected to {}",
            session.map_or("any of your sessions".to_string(), |s| format!(
                "{}/{s}",
                host.login
            ))
        ));
    }
    println!(
        "kicked {guest} ({total} connection{} ended); their grant stands: `pairshell revoke SESSION {guest}` takes it away",
        if total == 1 { "" } else { "s" }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Hooks: run by the shared server (as the host) through `run-shell`.
// ---------------------------------------------------------------------------

pub(crate) use crate::core::hook::HookEvent;

/// `pairshell hook EVENT SOCKET ARG` (ARG: the shared session for
/// `enforce`, tmux's client name otherwise). Never prints: `run-shell` would
/// show its output in the host's pane.
pub(crate) fn hook(config_path: Option<&Path>, event: HookEvent, socket: &Path, arg: &str) -> Exit {
    let me = nix::unistd::getuid();
    let login = crate::sys::accounts::user_by_uid(me).map(|u| u.name);
    match event {
        HookEvent::Enforce => {
            // Without our own name we cannot tell the host's clients from
            // guests': do nothing rather than detach the host.
            let Some(login) = login else {
                return Exit::Failed;
            };
            // No config needed, so this works even when the config does not
            // load: every client of another user goes if it is not on the
            // shared session.
            let tmux = config::load_main(&config::main_path(config_path))
                .map(|(_, c)| c.tmux)
                .unwrap_or_else(|_| config::default_tmux());
            let server = Server {
                tmux: &tmux,
                socket,
            };
            for c in server.clients() {
                if c.user != login && c.session != arg {
                    // Back first, so the last frame it is drawn is the shared
                    // session's (see `Hooks::commands`).
                    let _ = server.switch(&c.name, arg);
                    let _ = server.detach(&c.name, false);
                }
            }
        }
        HookEvent::EndVisits => {
            let Ok((_, config)) = config::load_main(&config::main_path(config_path)) else {
                return Exit::Failed;
            };
            let server = Server {
                tmux: &config.tmux,
                socket,
            };
            let visitors = ask::visitors(socket, me);
            ask::end_visits(socket, &visitors);
            for c in server.clients() {
                if visitors.contains(&c.pid) && !c.readonly {
                    let _ = server.toggle_read_only(&c.name, arg);
                }
            }
        }
        HookEvent::Asks => {
            let Ok((config_path, config)) = config::load_main(&config::main_path(config_path))
            else {
                return Exit::Failed;
            };
            let (Some(login), Some(pair_uid)) = (
                login,
                crate::sys::accounts::user(&config.pair_user).map(|u| u.uid),
            ) else {
                return Exit::Failed;
            };
            prompt_asks(&config_path, &config, &login, pair_uid, socket);
        }
        HookEvent::Joined | HookEvent::Left => {
            let Ok((_, config)) = config::load_main(&config::main_path(config_path)) else {
                return Exit::Failed;
            };
            let server = Server {
                tmux: &config.tmux,
                socket,
            };
            // Presence: any client coming or going wakes the guests'
            // pairshells, which watch this directory and look again
            // whether the host is there (see `guest/live.rs`).
            crate::tmux::touch_presence(socket);
            let option = format!("@pairshell-client-{arg}");
            let clients = server.clients();
            let message = if event == HookEvent::Joined {
                let Some(client) = clients.iter().find(|c| c.name == arg) else {
                    return Exit::Done;
                };
                if client.user != config.pair_user {
                    return Exit::Done;
                }
                let pair_uid = crate::sys::accounts::user(&config.pair_user).map(|u| u.uid);
                let record = pair_uid.and_then(|uid| {
                    roster::read(&roster::dir(&config.sockets_dir), client.pid, uid, socket)
                });
                let guest = record
                    .as_ref()
                    .map_or("an unknown guest", |r| r.seat.guest.as_str());
                let mode = if client.readonly {
                    "read-only"
                } else {
                    "read-write"
                };
                let from = record
                    .as_ref()
                    .and_then(|r| r.seat.from.as_deref())
                    .map(|f| format!(" from {f}"))
                    .unwrap_or_default();
                let _ = server.set_option(
                    &option,
                    &format!("{guest}|{}", Timestamp::now().as_second()),
                );
                format!("{guest} joined ({mode}){from}")
            } else {
                let Some(value) = server.option(&option) else {
                    return Exit::Done;
                };
                server.unset_option(&option);
                let Some((guest, since)) = value.split_once('|') else {
                    return Exit::Done;
                };
                let stayed = since
                    .parse::<i64>()
                    .map(|s| Timestamp::now().as_second() - s)
                    .unwrap_or(0);
                format!("{guest} left after {}", human(stayed))
            };
            for c in clients
                .iter()
                .filter(|c| c.user != config.pair_user && c.name != arg)
            {
                server.tell(&c.name, &format!("pairshell: {message}"));
            }
        }
    }
    Exit::Done
}

/// Put each waiting request for `socket` on every client of the host's own
/// (`login`) as a one-key prompt, once per request.
///
/// Guards against: a guest answering. The prompt goes only to clients
/// whose Unix user is the host, never to a pair-account client, and its
/// key runs `pairshell answer` as the host, bound to the request's nonce.
fn prompt_asks(config_path: &Path, config: &Config, login: &str, pair_uid: Uid, socket: &Path) {
    let server = Server {
        tmux: &config.tmux,
        socket,
    };
    let dir = roster::dir(&config.sockets_dir);
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let requests = ask::requests_for(&dir, pair_uid, login, socket);
    if requests.is_empty() {
        return;
    }
    let mine: Vec<ClientInfo> = server
        .clients()
        .into_iter()
        .filter(|c| c.user == login)
        .collect();
    for request in requests {
        // Once per request: a server option remembers which were shown.
        let option = format!("@pairshell-asked-{}", request.seat.pid);
        if server.option(&option).as_deref() == Some(request.nonce.as_str()) {
            continue;
        }
        let _ = server.set_option(&option, &request.nonce);
        let command = format!(
            "{} --config {} answer {} {} {} '%%%' >/dev/null 2>&1",
            crate::tmux::single_quote(&exe.to_string_lossy()),
            crate::tmux::single_quote(&config_path.to_string_lossy()),
            crate::tmux::single_quote(&socket.to_string_lossy()),
            request.seat.pid,
            request.nonce,
        );
        let template = format!("run-shell -b \"{}\"", command.replace('"', "\\\""));
        for client in &mine {
            let _ = server.prompt(
                &client.name,
                &format!("pairshell: {} ", request.prompt()),
                &template,
            );
        }
    }
}

/// `45s`, `12m`, `2h 5m`.
fn human(seconds: i64) -> String {
    let d = SignedDuration::from_secs(seconds.max(0));
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(720), "12m");
        assert_eq!(human(7500), "2h 5m");
    }

    #[test]
    fn who_table_aligns_columns() {
        let rows = [[
            "api".to_string(),
            "alice".to_string(),
            "read-write".to_string(),
            "2026-11-20T12:00:00Z".to_string(),
            "127.0.0.1".to_string(),
            "4242".to_string(),
        ]];
        let t =
            crate::core::text::table(&["SESSION", "GUEST", "MODE", "SINCE", "FROM", "PID"], &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].split_whitespace().count(), 6);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "api",
                "alice",
                "read-write",
                "2026-11-20T12:00:00Z",
                "127.0.0.1",
                "4242"
            ]
        );
        assert_eq!(lines[0].find("GUEST"), lines[1].find("alice"));
    }

    #[test]
    fn hook_paths_with_shell_or_tmux_syntax_are_refused() {
        assert!(plain_path(Path::new("/usr/local/bin/pairshell")));
        for bad in [
            "/tmp/a b",
            "/tmp/$(id)",
            "/tmp/#{x}",
            "/tmp/a'b",
            "/tmp/a;b",
        ] {
            assert!(!plain_path(Path::new(bad)), "{bad}");
        }
    }
}
