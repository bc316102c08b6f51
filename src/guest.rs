//! The guest flow, top to bottom:
//! identify → load → parse request → choose → verify socket → audit → run
//! tmux → audit leave.
//!
//! Each stage either hands the next one what it established or ends the
//! login with a [`Refusal`]: a short reason for the guest and a `deny` audit
//! line with the full one for the admin. Nothing here trusts the request
//! text beyond what `request::parse` accepted.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{Uid, User};

use crate::audit::{Audit, Event};
use crate::chooser::{self, Item, State};
use crate::cli;
use crate::config::index::Stamp;
use crate::config::{self, Config, Host, OnHostLeave};
use crate::identity::{self, Identity};
use crate::live::HostPresence as Presence;
use crate::policy::{self, Grant, Mode, Resolution, Verdict};
use crate::record;
use crate::relay::{self, Event as Happened, Input, Relay, Stopped};
use crate::request::{self, Request, Target};
use crate::roster;
use crate::sandbox::{self, Confinement, Jail};
use crate::terminfo;
use crate::tmux::{self, PairTmux, Seen, SessionState};
use crate::trust::{self, Owner};

/// Where the flow starts: which config, and the guest's raw request.
#[derive(Debug)]
pub struct Start {
    config: Option<PathBuf>,
    request: Vec<u8>,
}

impl Start {
    pub fn new(config: Option<PathBuf>, request: Option<OsString>) -> Start {
        Start {
            config,
            request: request.map(OsString::into_vec).unwrap_or_default(),
        }
    }

    /// `pairshell login`: the request is what the guest typed after the host.
    pub fn login(config: Option<PathBuf>) -> Start {
        Start::new(config, std::env::var_os("SSH_ORIGINAL_COMMAND"))
    }
}

/// A login ended by pairshell: what the guest reads and what the audit keeps.
#[derive(Debug)]
struct Refusal {
    reason: &'static str,
    to_guest: String,
    detail: Option<String>,
    /// More guests the refusal concerns (the keys of several guests in
    /// one session): each gets a `deny` line of their own, so one guest's
    /// trail (`grep guest=NAME`) has it.
    also_guests: Vec<String>,
}

/// What a guest is told when the fault is the host's setup, not theirs.
const SETUP_FAULT: &str = "pairshell is not set up correctly on this host; the admin has been told";

impl Refusal {
    /// A refusal whose cause only the admin can fix; `detail` says what.
    fn setup(reason: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal::new(reason, SETUP_FAULT).detail(detail)
    }

    /// The session has no running server or no such session.
    fn not_running(label: &str, host: &str) -> Refusal {
        Refusal::new(
            "not-running",
            format!("that session is not running: {label}; ask {host} to start it"),
        )
    }

    /// The session's server did not answer within tmux's deadline.
    fn stuck(label: &str) -> Refusal {
        Refusal::new(
            "server-stuck",
            format!("{label} is not answering; try again later"),
        )
    }

    fn new(reason: &'static str, to_guest: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            to_guest: to_guest.into(),
            detail: None,
            also_guests: Vec::new(),
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Refusal {
        self.detail = Some(detail.into());
        self
    }
}

/// What is known about this login so far; every audit line carries it.
#[derive(Default)]
struct Trail {
    guest: Option<String>,
    fingerprint: Option<String>,
    key_type: Option<String>,
    /// The certificate principal that identified the guest.
    principal: Option<String>,
    /// The certificate's key id and serial.
    cert: Option<(String, u64)>,
    from: Option<String>,
    request: Vec<u8>,
    host: Option<String>,
    session: Option<String>,
    mode: Option<&'static str>,
}

/// Longest request kept in an audit line. A real request is a session
/// name; anything longer is refused, and only its start is logged (with its
/// length), so an oversized request can neither exceed a syslog datagram
/// and vanish from the trail, nor push `reason` out of a truncated line.
const MAX_REQUEST_LOGGED: usize = 128;

impl Trail {
    fn event(&self, name: &str) -> Event {
        self.fields(Event::new(name))
    }

    fn fields(&self, event: Event) -> Event {
        let request = &self.request[..self.request.len().min(MAX_REQUEST_LOGGED)];
        let event = event
            .opt("guest", self.guest.as_deref())
            .opt("fingerprint", self.fingerprint.as_deref())
            .opt("key_type", self.key_type.as_deref())
            .opt("principal", self.principal.as_deref())
            .opt("cert_id", self.cert.as_ref().map(|c| c.0.as_str()))
            .opt("cert_serial", self.cert.as_ref().map(|c| c.1.to_string()))
            .opt("from", self.from.as_deref())
            .opt("host", self.host.as_deref())
            .opt("session", self.session.as_deref())
            .opt("mode", self.mode)
            .field_bytes("request", request);
        if self.request.len() > MAX_REQUEST_LOGGED {
            event.field("request_len", self.request.len().to_string())
        } else {
            event
        }
    }
}

/// Run the guest flow and turn its outcome into an exit code.
pub fn run(start: Start) -> ExitCode {
    let mut trail = Trail {
        from: ssh_client_address(),
        request: start.request.clone(),
        ..Trail::default()
    };
    // Until the config says where audit lines go, use the system's socket.
    let mut audit = Audit::fallback();
    match flow(&start, &mut trail, &mut audit) {
        Ok(code) => code,
        Err(refusal) => {
            let deny = |trail: &Trail| {
                trail.fields(
                    Event::new("deny")
                        .field("reason", refusal.reason)
                        .opt("detail", refusal.detail.as_deref()),
                )
            };
            let key = trail.fingerprint.clone();
            audit.write_refusal(deny(&trail), key.as_deref());
            for guest in &refusal.also_guests {
                trail.guest = Some(guest.clone());
                audit.write_refusal(deny(&trail), key.as_deref());
            }
            eprintln!("pairshell: {}", refusal.to_guest);
            ExitCode::FAILURE
        }
    }
}

fn flow(start: &Start, trail: &mut Trail, audit: &mut Audit) -> Result<ExitCode, Refusal> {
    let now = Timestamp::now();

    // Load: the admin's config, believed only if root owns it.
    let path = cli::config_path(start.config.as_deref());
    // Through its index, when one matches it: then only the guests who hold
    // the presented keys are read (see `config::index`).
    let mut loaded = config::index::Loaded::load(&path)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    *audit = Audit::new(
        &loaded.config.audit.syslog_socket,
        loaded.config.audit.required,
    )
    .with_gap_file(roster::dir(&loaded.config.sockets_dir).join(".audit-gap"))
    .with_refusal_limit(loaded.config.audit.refusals_per_minute);
    let pair_uid = pair_account(&loaded.config)?;
    // An index that exists but was not used (stale after a hand edit, or not
    // root's, which may be tampering) is the admin's to know about: once
    // per config version, not at every login (`check` keeps reporting it).
    if let Some(note) = loaded.index_note_once(&roster::dir(&loaded.config.sockets_dir)) {
        audit.write_best_effort(trail.event("index-unused").field("reason", note));
    }

    // Identify: the key sshd verified, and nothing else.
    let auth_info = std::env::var_os("SSH_USER_AUTH").map(PathBuf::from);
    let id = identify(&mut loaded, auth_info.as_deref(), pair_uid, now, trail)?;
    let config = loaded.into_config();

    // Parse the request against the grammar.
    let request = request::parse(&start.request).map_err(|e| {
        Refusal::new(
            e.code(),
            "that is not a request pairshell understands; `ssh pair@host help` shows what is",
        )
    })?;

    match request {
        Request::Help => {
            print_help(&config, &id);
            Ok(ExitCode::SUCCESS)
        }
        Request::List => {
            let hosts = load_hosts(&config, &id.guest, None, trail, audit)?;
            let grants = policy::grants(&hosts, &id.guest, now);
            let mut out = std::io::stdout().lock();
            for g in &grants {
                let _ = writeln!(out, "{}\t{}", g.label(), g.mode);
            }
            if grants.is_empty() {
                eprintln!("pairshell: {}", nothing_shared(&id.guest));
            }
            Ok(ExitCode::SUCCESS)
        }
        Request::Choose => {
            let hosts = load_hosts(&config, &id.guest, None, trail, audit)?;
            let grants = policy::grants(&hosts, &id.guest, now);
            if grants.is_empty() {
                eprintln!("pairshell: {}", nothing_shared(&id.guest));
                return Ok(ExitCode::SUCCESS);
            }
            need_terminal()?;
            let items = probe_all(&config, &hosts, &grants);
            let picked = chooser::choose(&id.guest, &items).map_err(|e| {
                Refusal::new("chooser-failed", "the chooser failed").detail(e.to_string())
            })?;
            let Some(i) = picked else {
                return Ok(ExitCode::SUCCESS);
            };
            // The guest may have sat in the chooser for hours: decide again,
            // now, from the host's file as it is now.
            let target = Target {
                host: Some(grants[i].host.to_string()),
                session: grants[i].session.to_string(),
            };
            let now = Timestamp::now();
            let config = current_config(&path, &id, now)?;
            join_target(&path, &config, &id, &target, now, trail, audit)
        }
        Request::Join(target) => join_target(&path, &config, &id, &target, now, trail, audit),
    }
}

/// The chooser's view of each granted session, probed in parallel: a
/// server that does not answer costs the chooser one deadline, not one per
/// session. Each probe goes through the checked socket, confined.
fn probe_all(config: &Config, hosts: &[Host], grants: &[Grant]) -> Vec<Item> {
    let probe = |g: &Grant| -> State {
        let Some(host) = hosts.iter().find(|h| h.login == g.host) else {
            return State::NotRunning;
        };
        let Ok(socket) = trust::open_socket(&g.share.socket, Owner::Exactly(host.uid)) else {
            return State::NotRunning;
        };
        match tmux::PairTmux::new(&config.tmux, socket).map(|t| t.has_session(g.session)) {
            Ok(SessionState::Running) => State::Running,
            Ok(SessionState::Stuck) => State::NotAnswering,
            _ => State::NotRunning,
        }
    };
    let states: Vec<State> = std::thread::scope(|scope| {
        let handles: Vec<_> = grants
            .iter()
            .map(|g| scope.spawn(move || probe(g)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(State::NotRunning))
            .collect()
    });
    grants
        .iter()
        .zip(states)
        .map(|(g, state)| Item {
            label: g.label(),
            mode: g.mode.as_str(),
            state,
        })
        .collect()
}

/// The config as it is now, and the guest still in it with the key that
/// identified them, after a wait (the chooser).
///
/// Guards against: a guest removed (or whose key was removed, or who
/// expired) while sitting in the chooser joining anyway, with a `join`
/// line, until the first re-check.
fn current_config(path: &Path, id: &Identity, now: Timestamp) -> Result<Config, Refusal> {
    let mut loaded = config::index::Loaded::load(path)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    let principal: Vec<&str> = id.principal.as_deref().into_iter().collect();
    loaded
        .add_guests_for(&[(id.key_type.as_str(), id.base64.as_str())], &principal)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    let config = loaded.into_config();
    let theirs = policy::still_theirs(
        &config,
        &id.guest,
        &id.key_type,
        &id.base64,
        id.principal.as_deref(),
        now,
    );
    match theirs {
        Ok(_) => Ok(config),
        Err(Verdict::Expired(message)) => Err(Refusal::new("expired-guest", message)),
        Err(Verdict::Revoked(message)) => Err(Refusal::new("removed-guest", message)),
        Err(Verdict::Granted { .. }) => Ok(config),
    }
}

/// Resolve a named session against the guest's grants and join it.
fn join_target(
    config_path: &Path,
    config: &Config,
    id: &Identity,
    target: &Target,
    now: Timestamp,
    trail: &mut Trail,
    audit: &mut Audit,
) -> Result<ExitCode, Refusal> {
    let hosts = load_hosts(config, &id.guest, target.host.as_deref(), trail, audit)?;
    let grants = policy::grants(&hosts, &id.guest, now);
    match policy::resolve(&grants, target) {
        Resolution::Join(grant) => {
            need_terminal()?;
            within_connection_limit(config, &id.guest)?;
            join(config_path, config, id, &hosts, grant, trail, audit)
        }
        Resolution::NotShared => Err(not_shared(&id.guest, target, &grants)),
        Resolution::Ambiguous(several) => {
            let names: Vec<String> = several.iter().map(Grant::label).collect();
            Err(Refusal::new(
                "ambiguous",
                format!(
                    "{} hosts share {} with you: {}; ask for HOST/SESSION",
                    names.len(),
                    target.session,
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Refuse a join past `max_connections_per_guest`.
///
/// Guards against: one guest holding a host's session with a hundred
/// connections at once, each flashing a message on the host's status line.
/// Two joins at the same moment can both pass; the cap is a bound, not a
/// count to the unit.
fn within_connection_limit(config: &Config, guest: &str) -> Result<(), Refusal> {
    let max = config.max_connections_per_guest;
    if max == 0 {
        return Ok(());
    }
    let uid = nix::unistd::geteuid();
    let joined = roster::joined_by(&roster::dir(&config.sockets_dir), guest, uid);
    if joined < max as usize {
        return Ok(());
    }
    Err(Refusal::new(
        "too-many-connections",
        format!("you ({guest}) already have {joined} sessions open on this host; leave one first"),
    )
    .detail(format!("max_connections_per_guest = {max}")))
}

/// The pair account's uid; the guest flow runs only as that account.
///
/// Guards against: another local user running `pairshell login` with a
/// forged `SSH_USER_AUTH` to write a false `join` line under a guest's name.
fn pair_account(config: &Config) -> Result<Uid, Refusal> {
    let user = User::from_name(&config.pair_user)
        .ok()
        .flatten()
        .ok_or_else(|| {
            Refusal::setup(
                "config-error",
                format!("pair_user {} does not exist", config.pair_user),
            )
        })?;
    let me = nix::unistd::geteuid();
    if me != user.uid {
        return Err(Refusal::setup(
            "not-pair-account",
            format!("the guest flow runs as {}, not uid {me}", config.pair_user),
        ));
    }
    Ok(user.uid)
}

fn identify(
    loaded: &mut config::index::Loaded,
    auth_info: Option<&Path>,
    pair_uid: Uid,
    now: Timestamp,
    trail: &mut Trail,
) -> Result<Identity, Refusal> {
    let result = identity::read_auth_info(auth_info, pair_uid).and_then(|keys| {
        let plain: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.key_type.as_str(), k.base64.as_str()))
            .collect();
        let principals: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.certificate.as_ref())
            .flat_map(|c| c.principals.iter().map(String::as_str))
            .collect();
        loaded
            .add_guests_for(&plain, &principals)
            .map_err(|e| identity::IdentityError::Config(e.to_string()))?;
        let config = &loaded.config;
        // The CAs are read only for a certificate, and only when the admin
        // named them: a login by plain key never depends on that file.
        let cas = match &config.trusted_user_ca_keys {
            Some(path) if keys.iter().any(|k| k.certificate.is_some()) => {
                config::load_ca_keys(path).map_err(identity::IdentityError::Unsafe)?
            }
            _ => Vec::new(),
        };
        identity::identify(config, &keys, &cas, now)
    });
    match result {
        Ok(id) => {
            trail.guest = Some(id.guest.clone());
            trail.fingerprint = Some(id.fingerprint.clone());
            trail.key_type = Some(id.key_type.clone());
            trail.principal = id.principal.clone();
            trail.cert = id.cert.clone();
            Ok(id)
        }
        Err(e) => {
            if let Some(key) = e.key() {
                trail.fingerprint = Some(key.fingerprint.clone());
                trail.key_type = Some(key.key_type.clone());
                trail.cert = key
                    .certificate
                    .as_ref()
                    .map(|c| (c.key_id.clone(), c.serial));
            }
            let mut refusal = Refusal::new(e.code(), e.to_guest()).detail(e.detail());
            match &e {
                identity::IdentityError::Expired(guest, _) => trail.guest = Some(guest.clone()),
                identity::IdentityError::Conflict(a, b) => {
                    trail.guest = Some(a.clone());
                    refusal.also_guests.push(b.clone());
                }
                _ => {}
            }
            Err(refusal)
        }
    }
}

/// Load the host files a request needs that could grant `guest` something:
/// one host's, or all of them. A file that fails its checks is skipped with
/// an audit line; other hosts keep working.
fn load_hosts(
    config: &Config,
    guest: &str,
    only: Option<&str>,
    trail: &Trail,
    audit: &mut Audit,
) -> Result<Vec<Host>, Refusal> {
    let logins = match only {
        Some(login) => {
            trust::check_root_path(&config.hosts_dir).map_err(hosts_dir_refusal)?;
            vec![login.to_string()]
        }
        None => config::host_logins(&config.hosts_dir).map_err(hosts_dir_refusal)?,
    };
    let mut hosts = Vec::with_capacity(logins.len());
    let mut buf = Vec::new();
    // Waits for writers' locks share one budget across all files: a local
    // user holding every host file's lock costs a login this much, not this
    // much per file (see `trust::lock_briefly`).
    let lock_budget_ends = Instant::now() + Duration::from_millis(100);
    for login in logins {
        let lock_wait = lock_budget_ends.saturating_duration_since(Instant::now());
        if !config::host_file_may_name(&config.hosts_dir, &login, guest, lock_wait, &mut buf) {
            continue;
        }
        match config::load_host(&config.hosts_dir, &login) {
            Ok(host) => hosts.push(host),
            // A host without a file simply shares nothing.
            Err(e) if only.is_some() && e.is_not_found() => {}
            Err(e) => audit.write_best_effort(
                trail
                    .event("skip-host-file")
                    .field(
                        "file",
                        config::host_path(&config.hosts_dir, &login).to_string_lossy(),
                    )
                    .field("reason", e.to_string()),
            ),
        }
    }
    Ok(hosts)
}

fn hosts_dir_refusal(e: crate::error::Error) -> Refusal {
    Refusal::setup("config-error", e.to_string())
}

fn need_terminal() -> Result<(), Refusal> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Ok(())
    } else {
        Err(Refusal::new(
            "no-terminal",
            "joining a session needs a terminal: use `ssh -t pair@host …`",
        ))
    }
}

fn nothing_shared(guest: &str) -> String {
    format!("no session is shared with you ({guest}) on this host")
}

fn not_shared(guest: &str, target: &Target, grants: &[Grant]) -> Refusal {
    let msg = if grants.is_empty() {
        format!(
            "{target} is not shared with you, and {}",
            nothing_shared(guest)
        )
    } else {
        let names: Vec<String> = grants.iter().map(Grant::label).collect();
        format!(
            "{target} is not shared with you ({guest}); you may join: {}",
            names.join(", ")
        )
    };
    Refusal::new("not-shared", msg)
}

fn print_help(config: &Config, id: &Identity) {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into());
    let at = format!("{}@{host}", config.pair_user);
    println!("pairshell on {host}: you are {}.", id.guest);
    println!("  ssh -t {at}                  choose a session");
    println!("  ssh -t {at} SESSION          join SESSION");
    println!("  ssh -t {at} HOST/SESSION     join HOST's SESSION");
    println!("  ssh {at} list                list the sessions you may join");
    println!("In a session, Ctrl-b d leaves; watching, Ctrl-b a asks the host to let you type.");
}

/// Verify the socket and the session, write `join`, run the client, write
/// `leave`.
fn join(
    config_path: &Path,
    config: &Config,
    id: &Identity,
    hosts: &[Host],
    grant: Grant,
    trail: &mut Trail,
    audit: &mut Audit,
) -> Result<ExitCode, Refusal> {
    trail.host = Some(grant.host.to_string());
    trail.session = Some(grant.session.to_string());
    trail.mode = Some(grant.mode.as_str());
    let label = grant.label();
    let term = terminal_choice()?;
    let host = hosts
        .iter()
        .find(|h| h.login == grant.host)
        .expect("a grant comes from a loaded host");
    let tmux = checked_server(config, host, &grant)?;
    let confinement = if config.test_pretend_no_landlock {
        Confinement::Unavailable
    } else {
        tmux.confinement()
    };
    if confinement == Confinement::Unavailable
        && !policy::unconfined_join_allowed(grant.mode, config.allow_unconfined_read_write)
    {
        return Err(Refusal::new(
            "unconfined-read-write",
            format!("{label} cannot be joined read-write on this host right now; the admin has been told"),
        )
        .detail(
            "the kernel has no Landlock, so the tmux client cannot be confined \
             (allow_unconfined_read_write = true would let read-write guests in unconfined)",
        ));
    }
    match tmux.has_session(grant.session) {
        SessionState::Running => {}
        SessionState::NotRunning => return Err(Refusal::not_running(&label, grant.host)),
        SessionState::Stuck => return Err(Refusal::stuck(&label)),
        SessionState::AccessDenied(why) => {
            return Err(Refusal::new(
                "no-server-access",
                format!("{} has not opened {label} to guests yet", grant.host),
            )
            .detail(why))
        }
        SessionState::Failed(why) => {
            return Err(Refusal::new(
                "tmux-error",
                format!("{label} cannot be joined: tmux failed"),
            )
            .detail(why))
        }
    }

    if grant.share.presence == config::Presence::Required && !host_attached(&tmux, grant.host) {
        return Err(Refusal::new(
            "host-away",
            format!(
                "{} is not here right now; {label} can be joined while they are",
                grant.host
            ),
        ));
    }
    if grant.share.ask {
        approve_join(config, host, &grant, &tmux, trail, audit)?;
    }

    let exe = std::env::current_exe()
        .map_err(|e| Refusal::setup("spawn-failed", format!("cannot find this program: {e}")))?;
    let terminal = Terminal::open()
        .map_err(|e| Refusal::new("spawn-failed", "the session could not be started").detail(e))?;
    let client = Client::spawn(
        &exe,
        &tmux,
        &grant,
        &term,
        confinement,
        terminal.client_side,
    )?;
    let pid = client.pid();
    // Who is behind this client, for the host's `who`, `kick` and messages.
    let roster_dir = roster::dir(&config.sockets_dir);
    let record = roster::process_start(pid).map(|start| roster::Record {
        pid,
        start,
        guest: id.guest.clone(),
        host: grant.host.to_string(),
        session: grant.session.to_string(),
        socket: grant.share.socket.clone(),
        mode: grant.mode.as_str().to_string(),
        from: trail.from.clone(),
        // Whole seconds, rounded down: never later than the join itself.
        since: Timestamp::from_second(Timestamp::now().as_second())
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_string(),
    });
    let recorded = match record.map(|r| roster::write(&roster_dir, &r, host.uid)) {
        Some(Ok(note)) => note,
        Some(Err(e)) => Some(e),
        None => Some(format!("no /proc entry for client {pid}")),
    };
    // From here on this process only re-reads the config and the host's
    // file, asks tmux about its client and writes under the roster
    // directory: narrow it to that (see `sandbox::Jail::guest_parent`).
    // The recording is opened before this process narrows itself, which
    // then may write to it but create nothing (see `record`).
    let recording = match start_recording(config, id, &grant, &term, pid) {
        None => None,
        Some(Ok(recorder)) => Some(Some(recorder)),
        Some(Err(stop)) => {
            audit.write_best_effort(record_stopped(trail, pid, &stop));
            if config.record_required {
                client.abort();
                roster::remove(&roster_dir, pid);
                return Err(Refusal::new(
                    "record-unavailable",
                    "this session is recorded and the recording cannot be written, so pairshell cannot let you in; the admin has been told",
                )
                .detail(format!("{}: {}", stop.reason, stop.detail)));
            }
            Some(None)
        }
    };
    // Asking to type needs nonces, from a file the narrowed process may
    // not open any more.
    let mut live = crate::live::Live::prepare(config, host, trail.from.clone());
    if let Err(e) = narrow_self(config_path, config, &tmux, &roster_dir, &grant.share.socket) {
        client.abort();
        roster::remove(&roster_dir, pid);
        return Err(Refusal::setup("spawn-failed", e));
    }
    let recorded_at = recording.as_ref().map(|r| match r {
        Some(r) => r.path().to_string_lossy().into_owned(),
        None => "none".to_string(),
    });
    let joined = trail
        .event("join")
        .field("pid", pid.to_string())
        .field("confinement", confinement.label())
        .field("term", logged_term(&term.asked))
        .field("term_used", &term.used)
        .opt("roster", recorded.as_deref())
        .opt("recording", recorded_at.as_deref());
    if let Err(e) = audit.write(joined) {
        client.abort();
        roster::remove(&roster_dir, pid);
        return Err(Refusal::new(
            "audit-unavailable",
            "the audit log cannot be written, so pairshell cannot let you in; the admin has been told",
        )
        .detail(format!("{}: {}", e.socket.display(), e.reason)));
    }
    let started = Instant::now();
    let input = match grant.mode {
        Mode::ReadWrite => Input::Forward,
        Mode::ReadOnly => Input::Drop,
    };
    let relay = Relay::new(
        terminal.guest,
        terminal.client,
        Some(terminal.signals),
        input,
    )
    .map_err(|e| {
        Refusal::new("spawn-failed", "the session could not be started").detail(e.to_string())
    });
    let mut relay = match relay {
        Ok(relay) => relay,
        Err(refusal) => {
            client.abort();
            roster::remove(&roster_dir, pid);
            return Err(refusal);
        }
    };
    let is_recorded = matches!(recording, Some(Some(_)));
    if let Some(Some(recorder)) = recording {
        relay.observe(Box::new(recorder));
        relay.mark("join");
    }
    // Printed now it would be gone the moment tmux takes the screen: the
    // relay draws it once tmux has drawn.
    relay.show_banner(
        &banner(&label, grant.mode, term.utf8, is_recorded),
        BANNER_FOR,
    );
    let mut watch = Watch::new(config_path, config, id, &grant, pid, tmux);
    watch.may_write = confinement != Confinement::Unavailable || config.allow_unconfined_read_write;
    live.watch(config, &grant, &mut relay);
    live.need_host(grant.share.presence, grant.share.on_host_leave);
    watch.live = live;
    let mut note = |note: Note<'_>| {
        let line = match note {
            Note::Stopped(stop) => record_stopped(trail, pid, stop),
            Note::Event(name) => trail.event(name).field("pid", pid.to_string()),
            Note::Mode(mode) => {
                trail.mode = Some(mode.as_str());
                trail
                    .event("mode-change")
                    .field("pid", pid.to_string())
                    .field("by", grant.host)
            }
            Note::Line(event) => trail.fields(event.field("pid", pid.to_string())),
        };
        audit.write_best_effort(line);
    };
    let (status, ending) = client.run(
        &mut relay,
        &mut watch,
        &terminal.client_name,
        config.record_required,
        &mut note,
    );
    relay.mark(&format!("leave: {}", ending.reason));
    if let Some(stop) = relay.finish() {
        audit.write_best_effort(record_stopped(trail, pid, &stop));
    }
    // The guest's terminal gets its mode back before any message.
    drop(relay);
    roster::remove(&roster_dir, pid);
    if let Some(message) = &ending.message {
        eprintln!("pairshell: {message}");
    }
    // If syslog is gone now, the guest's own leave line goes to their
    // screen and waits in the gap file for the next line that can be sent.
    audit.write_or_show(
        trail
            .event("leave")
            .field("pid", pid.to_string())
            .field("duration_s", started.elapsed().as_secs().to_string())
            .field("reason", ending.reason)
            .opt("detail", ending.detail.as_deref()),
    );
    Ok(if status.success() || ending.reason == "detached" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether a client of `host` (their own uid, not the pair account) is
/// attached to the server.
fn host_attached(tmux: &PairTmux, host: &str) -> bool {
    tmux.client_users()
        .unwrap_or_default()
        .iter()
        .any(|u| u == host)
}

/// `ask = true`: the host lets this guest in, or not (see `crate::ask`).
/// The guest may give up with Ctrl-C; the wait is [`crate::ask::ASK_FOR`].
fn approve_join(
    config: &Config,
    host: &Host,
    grant: &Grant,
    tmux: &PairTmux,
    trail: &Trail,
    audit: &mut Audit,
) -> Result<(), Refusal> {
    use crate::ask::{Answer, Kind, Nonces, Pending, Request};
    let not_there = || {
        Refusal::new(
            "no-answer",
            format!("{} is not there to let you in", grant.host),
        )
    };
    let failed = |e: String| Refusal::setup("ask-failed", e);
    if !host_attached(tmux, grant.host) {
        return Err(not_there().detail("no client of the host is attached"));
    }
    let me = std::process::id();
    let start = roster::process_start(me).ok_or_else(|| failed("no /proc entry".into()))?;
    let nonce = Nonces::open()
        .and_then(|mut n| n.next())
        .map_err(|e| failed(e.to_string()))?;
    let request = Request {
        pid: me,
        start,
        kind: Kind::Join,
        guest: trail.guest.clone().unwrap_or_default(),
        host: grant.host.to_string(),
        session: grant.session.to_string(),
        socket: grant.share.socket.clone(),
        mode: grant.mode.as_str().into(),
        from: trail.from.clone(),
        nonce,
        client: None,
    };
    let pending =
        Pending::post(&roster::dir(&config.sockets_dir), &request, host.uid).map_err(failed)?;
    audit.write_best_effort(
        trail
            .event("ask")
            .field("kind", "join")
            .field("pid", me.to_string()),
    );
    eprintln!(
        "pairshell: asking {} to let you in… (Ctrl-C gives up)",
        grant.host
    );
    tmux.ring();
    // Ctrl-C, a hang-up or a stop ends the wait, not the process at once.
    let mut mask = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        mask.add(sig);
    }
    let _ = mask.thread_block();
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| failed(e.to_string()))?;
    let answer = loop {
        match pending.answer() {
            Answer::Waiting => {}
            other => break Some(other),
        }
        let mut fds = [nix::poll::PollFd::new(
            signals.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16));
        if let Ok(Some(_)) = signals.read_signal() {
            break None;
        }
    };
    drop(pending);
    let _ = mask.thread_unblock();
    match answer {
        Some(Answer::Yes) => {
            audit.write_best_effort(
                trail
                    .event("allow")
                    .field("kind", "join")
                    .field("by", grant.host),
            );
            Ok(())
        }
        Some(Answer::No) => Err(Refusal::new("declined", format!("{} declined", grant.host))),
        Some(_) => Err(not_there().detail("no answer within 60 s")),
        None => Err(Refusal::new("gave-up", "you stopped waiting")),
    }
}

/// How long the guest's banner stays on their bottom line.
const BANNER_FOR: Duration = Duration::from_secs(6);

/// The guest's banner: the session, the mode, whether it is recorded, and
/// how to leave.
fn banner(label: &str, mode: Mode, utf8: bool, recorded: bool) -> String {
    let dash = if utf8 { "—" } else { "-" };
    let recorded = if recorded {
        format!(" {dash} this session is recorded")
    } else {
        String::new()
    };
    format!("pairshell: you joined {label} {mode}{recorded} {dash} Ctrl-b d to leave")
}

/// This join's recording, when the config asks for one: `None` when it
/// does not, `Some(Err)` when it cannot be started.
fn start_recording(
    config: &Config,
    id: &Identity,
    grant: &Grant,
    term: &terminfo::Choice,
    pid: u32,
) -> Option<Result<record::Recorder, Stopped>> {
    if !config.record.records(grant.mode) {
        return None;
    }
    let meta = record::Meta {
        guest: id.guest.clone(),
        host: grant.host.to_string(),
        session: grant.session.to_string(),
        mode: grant.mode.as_str(),
        term: term.used.clone(),
        pid,
    };
    let size =
        relay::window_size(std::io::stdin().as_fd()).map_or((80, 24), |s| (s.ws_col, s.ws_row));
    let cap = config.record_max_bytes;
    Some(record::open(
        &config.recordings_dir,
        &meta,
        size,
        cap,
        Timestamp::now(),
    ))
}

/// The trail's line for a recording that stopped or never started.
fn record_stopped(trail: &Trail, pid: u32, stop: &Stopped) -> Event {
    trail
        .event("record-stopped")
        .field("pid", pid.to_string())
        .field("reason", stop.reason)
        .field("detail", &stop.detail)
}

/// The terminal the guest's tmux client gets (see `terminfo`); a TERM that
/// cannot show a session is refused with a reason the guest can act on.
fn terminal_choice() -> Result<terminfo::Choice, Refusal> {
    terminfo::choose_here().map_err(|why| {
        let asked = std::env::var("TERM").unwrap_or_default();
        Refusal::new(why.reason(), why.message()).detail(format!(
            "TERM={}; looked in {}",
            logged_term(&asked),
            terminfo::SYSTEM_DIRS.join(":")
        ))
    })
}

/// The guest's TERM as the trail records it: at most 64 characters (the
/// audit line escapes the rest of what a guest could put in it).
fn logged_term(term: &str) -> String {
    term.chars().take(64).collect()
}

/// Open the session's socket once and check the opened object; every
/// tmux client of this join talks to it (see `trust::PinnedSocket`).
///
/// Only the host who shares a session may own its socket (root's sockets
/// only in root's own file). Guards against: a host naming another user's,
/// or root's, server in their file and handing it to a guest, and a host
/// swapping the socket's path after the check.
fn checked_server(config: &Config, host: &Host, grant: &Grant) -> Result<PairTmux, Refusal> {
    let label = grant.label();
    let socket =
        trust::open_socket(&grant.share.socket, Owner::Exactly(host.uid)).map_err(|e| {
            if e.is_not_found() {
                Refusal::not_running(&label, grant.host)
            } else {
                Refusal::new(
                    "unsafe-socket",
                    format!("{label} cannot be joined safely right now; the admin has been told"),
                )
            }
            .detail(e.to_string())
        })?;
    PairTmux::new(&config.tmux, socket).map_err(|e| Refusal::setup("spawn-failed", e))
}

/// Narrow this process to what it still needs once a guest is joined.
fn narrow_self(
    config_path: &Path,
    config: &Config,
    tmux: &PairTmux,
    roster_dir: &Path,
    socket: &Path,
) -> Result<(), String> {
    let mut reads: Vec<&Path> = vec![config.hosts_dir.as_path()];
    // The host's answers (ask to type) appear beside the socket.
    reads.extend(socket.parent());
    // The config and its index are replaced by rename when edited, so the
    // rule is on their directory, not on today's files.
    reads.extend(config_path.parent());
    let jail = Jail::guest_parent(
        tmux.tmux(),
        tmux.socket().as_fd(),
        &reads,
        &config.audit.syslog_socket,
        roster_dir,
    )?;
    jail.enter()
        .map(drop)
        .map_err(|e| format!("cannot narrow the guest's pairshell: {e}"))
}

/// The terminals of one join: the guest's (reopened), the inner pty the
/// tmux client runs on, and the signals the relay waits for.
struct Terminal {
    guest: OwnedFd,
    client: OwnedFd,
    /// The inner pty's slave, handed to the client.
    client_side: OwnedFd,
    /// The slave's name (`/dev/pts/N`), which is also tmux's client name.
    client_name: String,
    signals: SignalFd,
}

impl Terminal {
    fn open() -> Result<Terminal, String> {
        let guest = relay::reopen_terminal(std::io::stdin().as_fd())
            .map_err(|e| format!("cannot open the guest's terminal: {e}"))?;
        let (client, client_side) =
            relay::inner_pty().map_err(|e| format!("cannot open a pty: {e}"))?;
        let client_name = nix::unistd::ttyname(&client_side)
            .map_err(|e| format!("cannot name the pty: {e}"))?
            .to_string_lossy()
            .into_owned();
        // The relay reads these signals from a descriptor; children get a
        // clean mask back (std resets it, and so does `Jail::prepare`).
        let mut mask = SigSet::empty();
        for sig in [
            Signal::SIGHUP,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGCHLD,
            Signal::SIGWINCH,
        ] {
            mask.add(sig);
        }
        mask.thread_block()
            .map_err(|e| format!("cannot block signals: {e}"))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| format!("cannot open a signal descriptor: {e}"))?;
        Ok(Terminal {
            guest,
            client,
            client_side,
            client_name,
            signals,
        })
    }
}

/// The tmux client, started behind a gate.
///
/// The child is pairshell itself (`exec-client`), which waits on a pipe and
/// then execs tmux in place, keeping its pid. So the `join` line can name the
/// client's pid before the client exists, and a login whose `join` cannot be
/// written never shows the guest a single frame of the session.
struct Client {
    child: std::process::Child,
    gate: OwnedFd,
}

/// How a client ended, for the `leave` line and the guest.
struct Ending {
    reason: &'static str,
    message: Option<String>,
    detail: Option<String>,
}

impl Ending {
    fn new(reason: &'static str) -> Ending {
        Ending {
            reason,
            message: None,
            detail: None,
        }
    }

    fn from_verdict(verdict: Verdict) -> Option<Ending> {
        let (reason, message) = match verdict {
            Verdict::Granted { .. } => return None,
            Verdict::Revoked(m) => ("revoked", m),
            Verdict::Expired(m) => ("expired", m),
        };
        Some(Ending {
            reason,
            message: Some(message),
            detail: None,
        })
    }
}

/// Longest time between two re-checks of a joined guest's grant.
const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A file that fails to load is tried this many times, a second apart,
/// before the guest is let go (a host may be saving it by hand).
const LOAD_ATTEMPTS: u32 = 3;

/// The live re-check of a joined guest: the grant, decided again from the
/// files, whenever they change, when an `expires` passes, every 30 seconds
/// and on SIGHUP.
///
/// Cheap by construction: a check `stat`s the main config and the host's
/// file and reads one again only when its identity, size or times changed.
struct Watch {
    config_path: PathBuf,
    host_path: PathBuf,
    hosts_dir: PathBuf,
    /// The checked server, through which every question goes.
    tmux: PairTmux,
    joined: policy::Joined,
    allow_other_sessions: bool,
    config: Option<Config>,
    config_stamp: Option<Stamp>,
    host_file: Option<config::HostFile>,
    host_stamp: Option<Stamp>,
    loaded_at: Instant,
    failures: u32,
    /// Why the last load failed, for the `leave` line.
    load_error: Option<String>,
    /// The tmux client's pid.
    pid: u32,
    /// Whether tmux's own read-only flag was seen reset (reported once).
    flag_reset_seen: bool,
    /// Events for the trail, written when the client has ended.
    notes: Vec<&'static str>,
    /// Whether this client may be made read-write live: it is confined, or
    /// the admin allows unconfined writers (see
    /// `policy::unconfined_join_allowed`).
    may_write: bool,
    /// A promotion refused for want of confinement was noted.
    promotion_refused_noted: bool,
    /// Live mode changes the host made, ask-to-type and presence (see
    /// `crate::live`).
    pub(crate) live: crate::live::Live,
}

/// What identifies a version of a file without reading it.
fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
}

impl Watch {
    fn new(
        config_path: &Path,
        config: &Config,
        id: &Identity,
        grant: &Grant,
        pid: u32,
        tmux: PairTmux,
    ) -> Watch {
        Watch {
            config_path: config_path.to_path_buf(),
            host_path: config::host_path(&config.hosts_dir, grant.host),
            hosts_dir: config.hosts_dir.clone(),
            tmux,
            joined: policy::Joined {
                key_type: id.key_type.clone(),
                base64: id.base64.clone(),
                principal: id.principal.clone(),
                guest: id.guest.clone(),
                host: grant.host.to_string(),
                session: grant.session.to_string(),
                socket: grant.share.socket.clone(),
                mode: grant.mode,
            },
            allow_other_sessions: grant.share.allow_other_sessions,
            config: None,
            config_stamp: None,
            host_file: None,
            host_stamp: None,
            loaded_at: Instant::now(),
            failures: 0,
            load_error: None,
            pid,
            flag_reset_seen: false,
            notes: Vec::new(),
            may_write: true,
            promotion_refused_noted: false,
            live: crate::live::Live::default(),
        }
    }

    /// The mode the client must switch to now, when it is not the one it
    /// has: `listed` is what the host's file says, raised to read-write by
    /// a visit the host allowed (ask to type).
    ///
    /// Guards against: a live promotion making an unconfined client
    /// writable where the admin refuses unconfined writers at the join.
    fn switch_to(&mut self, listed: Mode) -> Option<Mode> {
        let host = self.joined.host.clone();
        let want = if self.live.visit_allowed(&host) {
            Mode::ReadWrite
        } else {
            listed
        };
        if want == self.joined.mode {
            return None;
        }
        if want == Mode::ReadWrite && !self.may_write {
            if !std::mem::replace(&mut self.promotion_refused_noted, true) {
                self.notes.push("mode-change-refused");
            }
            return None;
        }
        self.joined.mode = want;
        // A read-only client's own tmux flag is watched again.
        self.flag_reset_seen = false;
        Some(want)
    }

    /// Decide again. `Err(retry)` when a file could not be loaded and the
    /// check should be repeated after `retry`.
    fn check(&mut self, now: Timestamp) -> Result<Verdict, Duration> {
        match self.reload() {
            Ok(()) => self.failures = 0,
            Err(why) => {
                self.failures += 1;
                if self.failures < LOAD_ATTEMPTS {
                    return Err(Duration::from_secs(1));
                }
                // The guest is told that much; the admin's line says why.
                self.load_error = Some(why);
                return Ok(Verdict::Revoked(
                    "pairshell can no longer confirm your access; the admin has been told".into(),
                ));
            }
        }
        let config = self.config.as_ref().expect("reload loads the config");
        let verdict = policy::recheck(config, self.host_file.as_ref(), &self.joined, now);
        // The server is reached only through the socket that was checked;
        // the opened object must still pass the same checks.
        if let Err(e) = self.tmux.socket().recheck() {
            self.load_error = Some(e.to_string());
            return Ok(Verdict::Revoked(format!(
                "{}/{} cannot be joined safely any more; the admin has been told",
                self.joined.host, self.joined.session
            )));
        }
        // tmux's `server-access` resets the read-only flag of every client
        // of the pair account. The relay keeps this guest from typing
        // whatever the flag says; the trail records that tmux's second
        // layer is gone for this client.
        if self.joined.mode == Mode::ReadOnly
            && !self.flag_reset_seen
            && self.tmux.client_read_only(self.pid) == Seen::Yes(false)
        {
            self.flag_reset_seen = true;
            self.notes.push("readonly-flag-reset");
        }
        Ok(verdict)
    }

    /// How a verdict ends the client, with the reason a file failed to load
    /// (for the audit line) when that was the cause.
    fn ending(&mut self, verdict: Verdict) -> Option<Ending> {
        let mut ending = Ending::from_verdict(verdict)?;
        ending.detail = self.load_error.take();
        Some(ending)
    }

    /// Read again whichever file changed since the last check.
    fn reload(&mut self) -> Result<(), String> {
        // Two edits within one tick of the file system's clock that keep the
        // size would look unchanged; so every 30 s, read both anyway.
        if self.loaded_at.elapsed() >= RECHECK_EVERY {
            self.config_stamp = None;
            self.host_stamp = None;
            self.loaded_at = Instant::now();
        }
        let config_stamp = stamp(&self.config_path);
        if self.config.is_none() || config_stamp != self.config_stamp {
            let mut loaded =
                config::index::Loaded::load(&self.config_path).map_err(|e| e.to_string())?;
            let key = (self.joined.key_type.as_str(), self.joined.base64.as_str());
            let principal: Vec<&str> = self.joined.principal.as_deref().into_iter().collect();
            loaded
                .add_guests_for(&[key], &principal)
                .map_err(|e| e.to_string())?;
            self.config = Some(loaded.into_config());
            self.config_stamp = config_stamp;
        }
        let host_stamp = stamp(&self.host_path);
        if host_stamp.is_none() || host_stamp != self.host_stamp {
            self.host_file = match config::load_host(&self.hosts_dir, &self.joined.host) {
                Ok(host) => Some(host.file),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.to_string()),
            };
            self.host_stamp = host_stamp;
        }
        Ok(())
    }

    /// When the server holds sessions besides the shared one and the host
    /// did not allow that: the reason to end the client. `NotListed` while
    /// our client has not shown up in the server's list yet.
    fn other_sessions(&self, pid: u32) -> Seen<Option<Ending>> {
        if self.allow_other_sessions {
            return Seen::Yes(None);
        }
        let n = match self.tmux.server_sessions(pid) {
            Seen::Yes(n) => n,
            Seen::NotListed => return Seen::NotListed,
            Seen::Stuck => return Seen::Stuck,
        };
        Seen::Yes((n > 1).then(|| Ending {
            reason: "other-sessions",
            message: Some(format!(
                "{}/{} is served by a tmux server that holds other sessions too, so pairshell will not serve it; ask {} to share it on its own server",
                self.joined.host, self.joined.session, self.joined.host
            )),
            detail: Some(format!("{n} sessions on {}", self.joined.socket.display())),
        }))
    }
}

impl Client {
    fn spawn(
        exe: &Path,
        tmux: &PairTmux,
        grant: &Grant,
        term: &terminfo::Choice,
        confinement: Confinement,
        terminal: OwnedFd,
    ) -> Result<Client, Refusal> {
        let failed = |e: std::io::Error| {
            Refusal::new("spawn-failed", "the session could not be started").detail(e.to_string())
        };
        let tmux_cmd = tmux.attach(grant.session, grant.mode, term);
        let (gate_rx, gate_tx) = nix::unistd::pipe().map_err(|e| failed(e.into()))?;
        // The write end must not leak into the child.
        nix::fcntl::fcntl(
            &gate_tx,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| failed(e.into()))?;
        let stdio = |fd: &OwnedFd| fd.try_clone().map(std::process::Stdio::from);
        let mut cmd = Command::new(exe);
        cmd.env_clear()
            .envs(tmux_cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .arg("exec-client")
            .args(
                (grant.mode == Mode::ReadWrite && confinement != Confinement::Unavailable)
                    .then_some("--require-confinement"),
            )
            .arg("--gate")
            .arg(gate_rx.as_raw_fd().to_string())
            .arg("--socket-fd")
            .arg(tmux.socket().raw_fd().to_string())
            .arg("--")
            .arg(tmux_cmd.get_program())
            .args(tmux_cmd.get_args())
            .stdin(stdio(&terminal).map_err(failed)?)
            .stdout(stdio(&terminal).map_err(failed)?)
            .stderr(stdio(&terminal).map_err(failed)?);
        sandbox::keep_open(&mut cmd, tmux.socket().raw_fd());
        let child = cmd.spawn().map_err(failed)?;
        drop(gate_rx);
        drop(terminal);
        Ok(Client {
            child,
            gate: gate_tx,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Close the gate without opening it: the child exits without exec.
    fn abort(mut self) {
        drop(self.gate);
        let _ = self.child.wait();
    }

    /// Open the gate, relay the guest's terminal and watch the grant until
    /// the client ends, and say how it ended.
    ///
    /// Signals arrive through the relay. SIGTERM/SIGINT/SIGQUIT end the
    /// client. SIGHUP with the guest's terminal gone is the guest hanging
    /// up (passed on: the client is in a session of its own). SIGHUP with
    /// the terminal still there means "check again now": an admin after
    /// editing the config, or the client itself when the host detached it
    /// with `detach-client -P` (`kick`, `revoke`, `unshare`). If the client
    /// then ends while the grant still stands, the host let the guest go:
    /// a kick.
    fn run(
        mut self,
        relay: &mut Relay,
        watch: &mut Watch,
        name: &str,
        record_required: bool,
        note: &mut dyn FnMut(Note<'_>),
    ) -> (ExitStatus, Ending) {
        let pid = self.pid();
        let _ = nix::unistd::write(&self.gate, b"g");
        drop(self.gate);
        let mut end = EndState::default();
        let mut stopping: Option<(Signal, Instant)> = None;
        // The first check right away: it learns when access ends.
        let mut next_check = Instant::now();
        // Until our client shows up in the server's list (normally the
        // first or second try; give up after five seconds).
        let mut sessions_until = Some(Instant::now() + Duration::from_secs(5));
        // Whether the client may have exited: SIGCHLD (blocked before the
        // spawn, so never missed), the inner pty closing, or a quiet wake.
        // Not asked on every keystroke: a wait4 per pass is latency.
        let mut may_have_exited = true;
        let status = loop {
            if std::mem::take(&mut may_have_exited) {
                match self.child.try_wait() {
                    Ok(Some(status)) => break status,
                    Ok(None) => {}
                    Err(_) => break self.child.wait().unwrap_or_else(|_| ExitStatus::default()),
                }
            }
            let mut wake = next_check;
            if sessions_until.is_some() || stopping.is_some() {
                wake = wake.min(Instant::now() + Duration::from_millis(100));
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            let events = relay.step(timeout).unwrap_or_else(|_| {
                std::thread::sleep(Duration::from_millis(10));
                Vec::new()
            });
            let mut check_now = false;
            if Instant::now() >= wake {
                may_have_exited = true;
            }
            for event in events {
                match event {
                    Happened::Signal(Signal::SIGCHLD) | Happened::ClientClosed => {
                        may_have_exited = true
                    }
                    Happened::Signal(Signal::SIGHUP) if terminal_alive() => {
                        end.hup_seen = true;
                        check_now = true;
                    }
                    Happened::Signal(Signal::SIGHUP) | Happened::GuestGone => end.hung_up = true,
                    Happened::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                        end.terminated = true
                    }
                    Happened::Redraw => {
                        // The banner's time is up: a tmux client asks its
                        // server for a full redraw on SIGWINCH.
                        let client = nix::unistd::Pid::from_raw(pid as i32);
                        let _ = nix::sys::signal::kill(client, Signal::SIGWINCH);
                    }
                    Happened::Wake => {
                        watch.live.woke();
                        check_now = true
                    }
                    Happened::AskToType => {
                        if let Some(n) = watch.live.ask_to_type(&watch.tmux, &watch.joined, pid) {
                            note(n);
                            check_now = true;
                        }
                    }
                    Happened::ObserverStopped(stop) => {
                        note(Note::Stopped(&stop));
                        // As `audit.required` for the trail: no session
                        // goes on unrecorded when the admin said so.
                        if record_required && end.ending.is_none() {
                            end.ending = Some(Ending {
                                reason: "record-stopped",
                                message: Some(
                                    "this session's recording stopped, and it may not go on unrecorded; the admin has been told"
                                        .into(),
                                ),
                                detail: Some(format!("{}: {}", stop.reason, stop.detail)),
                            });
                        }
                    }
                    Happened::Leave if !end.left => {
                        end.left = true;
                        // tmux's own goodbye; a server that opened itself
                        // read-only refuses it, and then a signal ends it.
                        end.left_by_signal = !watch.tmux.detach(name);
                    }
                    _ => {}
                }
            }
            if end.ending.is_none() && (check_now || Instant::now() >= next_check) {
                next_check = match watch.check(Timestamp::now()) {
                    Ok(Verdict::Granted { ends, mode }) => {
                        if let Some(mode) = watch.switch_to(mode) {
                            switch_live(relay, pid, &watch.joined, mode);
                            note(Note::Mode(mode));
                        }
                        let host = watch.joined.host.clone();
                        match watch.live.presence(&watch.tmux, &host) {
                            Presence::Same => {}
                            Presence::Left(OnHostLeave::Pause) => {
                                relay.pause(&format!("pairshell: {host} stepped away"));
                                note(Note::Event("host-away"));
                            }
                            Presence::Left(OnHostLeave::End) => {
                                end.ending = Some(Ending {
                                    reason: "host-left",
                                    message: Some(format!(
                                        "{host} left, so your visit to {}/{} ended",
                                        host, watch.joined.session
                                    )),
                                    detail: None,
                                });
                            }
                            Presence::Back => {
                                relay.resume();
                                note(Note::Event("host-back"));
                                relay
                                    .show_banner(&format!("pairshell: {host} is back"), BANNER_FOR);
                                let client = nix::unistd::Pid::from_raw(pid as i32);
                                let _ = nix::sys::signal::kill(client, Signal::SIGWINCH);
                            }
                        }
                        Instant::now() + until(ends).min(RECHECK_EVERY).min(watch.live.next_look())
                    }
                    Ok(verdict) => {
                        end.ending = watch.ending(verdict);
                        Instant::now() + RECHECK_EVERY
                    }
                    Err(retry) => Instant::now() + retry,
                };
                for name in watch.notes.drain(..) {
                    note(Note::Event(name));
                }
                for line in std::mem::take(&mut watch.live.notes) {
                    note(Note::Line(line));
                }
                for text in std::mem::take(&mut watch.live.banners) {
                    relay.show_banner(&text, BANNER_FOR);
                    let client = nix::unistd::Pid::from_raw(pid as i32);
                    let _ = nix::sys::signal::kill(client, Signal::SIGWINCH);
                }
            }
            if let Some(give_up) = sessions_until.filter(|_| end.ending.is_none()) {
                match watch.other_sessions(pid) {
                    Seen::Yes(found) => {
                        sessions_until = None;
                        end.ending = found;
                    }
                    Seen::Stuck => {
                        sessions_until = None;
                        end.ending = Some(Ending {
                            reason: "server-stuck",
                            message: Some(format!(
                                "{}/{} is not answering; try again later",
                                watch.joined.host, watch.joined.session
                            )),
                            detail: None,
                        });
                    }
                    Seen::NotListed if Instant::now() >= give_up => sessions_until = None,
                    Seen::NotListed => {}
                }
            }
            let signal = if end.terminated || end.left_by_signal {
                Some(Signal::SIGTERM)
            } else if end.hung_up {
                Some(Signal::SIGHUP)
            } else if end.ending.is_some() {
                Some(Signal::SIGTERM)
            } else {
                None
            };
            let client = nix::unistd::Pid::from_raw(pid as i32);
            match (signal, stopping) {
                (Some(sig), None) => {
                    let _ = nix::sys::signal::kill(client, sig);
                    stopping = Some((sig, Instant::now()));
                }
                (Some(_), Some((_, since))) if since.elapsed() > Duration::from_secs(5) => {
                    let _ = nix::sys::signal::kill(client, Signal::SIGKILL);
                }
                _ => {}
            }
        };
        // What the client wrote last (tmux's "[detached …]") reaches the
        // guest before pairshell says anything.
        relay.drain(Duration::from_millis(250));
        // A SIGHUP that came with the client's own exit.
        for event in relay.step(Duration::ZERO).unwrap_or_default() {
            match event {
                Happened::Signal(Signal::SIGHUP) if terminal_alive() => end.hup_seen = true,
                Happened::Signal(Signal::SIGHUP) | Happened::GuestGone => end.hung_up = true,
                _ => {}
            }
        }
        let ending = end.decide(&status, watch);
        (status, ending)
    }
}

/// Something for the trail while the client runs.
pub(crate) enum Note<'a> {
    /// A plain event line with the client's pid.
    Event(&'static str),
    /// The recording stopped.
    Stopped(&'a Stopped),
    /// The client's mode was switched live (`event=mode-change`).
    Mode(Mode),
    /// A line built elsewhere (ask to type); the trail's fields are added.
    Line(Event),
}

/// Switch a running client to `mode`: the relay starts or stops forwarding
/// at once, the recording gets a marker, and the guest reads why on their
/// bottom line once tmux has redrawn (the SIGWINCH asks it to).
fn switch_live(relay: &mut Relay, pid: u32, joined: &policy::Joined, mode: Mode) {
    relay.set_input(match mode {
        Mode::ReadWrite => Input::Forward,
        Mode::ReadOnly => Input::Drop,
    });
    relay.mark(&format!("mode: {mode}"));
    relay.show_banner(
        &format!("pairshell: {} made you {mode}", joined.host),
        BANNER_FOR,
    );
    let client = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::kill(client, Signal::SIGWINCH);
}

/// What the relay loop learnt about why the client is ending.
#[derive(Default)]
struct EndState {
    /// The guest's terminal went away.
    hung_up: bool,
    /// A SIGHUP while the terminal was still there (a check-now request,
    /// or the host's `detach-client -P`).
    hup_seen: bool,
    /// pairshell itself was told to stop.
    terminated: bool,
    /// A read-only guest pressed the leave keys.
    left: bool,
    /// …and tmux would not detach the client, so a signal ends it.
    left_by_signal: bool,
    /// The re-check (or the session count) ended access.
    ending: Option<Ending>,
}

impl EndState {
    /// How the client ended, once it has.
    fn decide(self, status: &ExitStatus, watch: &mut Watch) -> Ending {
        use std::os::unix::process::ExitStatusExt;
        if self.hung_up || (self.hup_seen && !terminal_alive()) {
            Ending::new("hangup")
        } else if self.terminated {
            Ending::new("terminated")
        } else if self.left {
            Ending {
                reason: "detached",
                message: self
                    .left_by_signal
                    .then(|| format!("you left {}/{}", watch.joined.host, watch.joined.session)),
                detail: None,
            }
        } else if let Some(ending) = self.ending {
            ending
        } else if self.hup_seen {
            // The host detached us with -P. Revoked, or let go (kicked)?
            let verdict = loop {
                match watch.check(Timestamp::now()) {
                    Ok(v) => break v,
                    Err(retry) => std::thread::sleep(retry),
                }
            };
            watch.ending(verdict).unwrap_or_else(|| Ending {
                reason: "kicked",
                message: Some(format!("{} ended your access", watch.joined.host)),
                detail: None,
            })
        } else if status.signal().is_some() {
            Ending::new("killed")
        } else if !watch.tmux.server_running()
            || watch.tmux.has_session(&watch.joined.session) == SessionState::NotRunning
        {
            // The server went away under the client (killed, or its last
            // session ended; tmux's client then exits with an error), or the
            // session was killed on a server that keeps running.
            Ending {
                reason: "server-gone",
                message: Some("the session ended".into()),
                detail: None,
            }
        } else if !status.success() {
            Ending::new("error")
        } else {
            Ending::new("detached")
        }
    }
}

/// Time from now until `ends` (zero if past, "forever" if none).
fn until(ends: Option<Timestamp>) -> Duration {
    match ends {
        None => Duration::MAX,
        Some(t) => {
            let left = t.duration_since(Timestamp::now());
            Duration::try_from(left).unwrap_or(Duration::ZERO)
        }
    }
}

/// Whether our controlling terminal is still there (it is not after an ssh
/// hang-up: the kernel then fails every terminal ioctl with EIO).
fn terminal_alive() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_ok()
}

/// `pairshell exec-client --gate FD --socket-fd N -- TMUX ARGS…`: wait for
/// the parent to open the gate, take the inner pty (stdin) as the
/// controlling terminal, enter the tmux client's jail, then become the tmux
/// client (same pid).
pub fn exec_client(
    gate: i32,
    socket_fd: i32,
    require_confinement: bool,
    argv: &[OsString],
) -> ExitCode {
    use std::io::Read;
    use std::os::fd::BorrowedFd;
    use std::os::unix::io::FromRawFd;
    use std::os::unix::process::CommandExt;
    if gate < 3 || socket_fd < 3 {
        return ExitCode::FAILURE;
    }
    // SAFETY: the parent passes the read end of a pipe it created for us at
    // this number; nothing else in this process owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(gate) };
    let mut byte = [0u8; 1];
    if !matches!(file.read(&mut byte), Ok(1)) {
        // The parent closed the gate: the login was refused.
        return ExitCode::FAILURE;
    }
    drop(file);
    let Some((program, args)) = argv.split_first() else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = relay::take_terminal() {
        eprintln!("pairshell: cannot take the terminal: {e}");
        return ExitCode::FAILURE;
    }
    // SAFETY: the parent left the checked socket open at this number for
    // the client; it stays open for this process's whole life.
    let socket = unsafe { BorrowedFd::borrow_raw(socket_fd) };
    let jail = match Jail::tmux_client(Path::new(program), Some(socket)) {
        Ok(jail) => jail,
        Err(e) => {
            eprintln!("pairshell: cannot confine the tmux client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match jail.enter() {
        Ok(Confinement::Landlock { .. }) => {}
        Ok(Confinement::Unavailable) if !require_confinement => {}
        Ok(Confinement::Unavailable) => {
            eprintln!("pairshell: the tmux client cannot be confined on this host");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("pairshell: cannot confine the tmux client: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = sandbox::reset_own_signals() {
        eprintln!("pairshell: cannot reset signals: {e}");
        return ExitCode::FAILURE;
    }
    let err = Command::new(program).args(args).exec();
    eprintln!(
        "pairshell: cannot start {}: {err}",
        Path::new(program).display()
    );
    ExitCode::FAILURE
}

/// The guest's address, from `SSH_CONNECTION` (set by sshd).
fn ssh_client_address() -> Option<String> {
    let conn = std::env::var("SSH_CONNECTION").ok()?;
    conn.split(' ').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_request_cannot_push_reason_out_of_the_audit_line() {
        let trail = Trail {
            guest: Some("alice".into()),
            request: [b"api; id".as_slice(), &[b' '; 250_000]].concat(),
            ..Trail::default()
        };
        let event = trail.fields(Event::new("deny").field("reason", "bad-request"));
        let line = event.line();
        assert!(line.starts_with("event=deny reason=bad-request "), "{line}");
        assert!(line.ends_with(" request_len=250007"), "{line}");
        assert!(line.len() < 512, "{} bytes", line.len());
    }

    #[test]
    fn short_request_is_logged_whole_without_a_length() {
        let trail = Trail {
            request: b"api".to_vec(),
            ..Trail::default()
        };
        assert_eq!(trail.event("join").line(), "event=join request=api");
    }
}
