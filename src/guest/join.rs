//! The join: check the server, narrow pairshell itself, open the terminal,
//! start the confined client and relay it until it ends.

use super::*;

/// Verify the socket and the session, write `join`, run the client, write
/// `leave`.
pub(super) fn join(
    config_path: &Path,
    config: &Config,
    id: &Identity,
    hosts: &[Host],
    grant: Grant,
    trail: &mut Context,
    audit: &mut Audit,
) -> Result<Exit, Refusal> {
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
    let confinement = confinement_for(config, &tmux, &grant)?;
    session_ready(&tmux, &grant)?;
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
    // From here on, a refusal also takes the client down, gate closed, and
    // its roster record with it.
    let roster_dir = roster::dir(&config.sockets_dir);
    let undo = |client: Client, refusal: Refusal| {
        client.abort();
        roster::remove(&roster_dir, pid);
        Err(refusal)
    };
    let roster_note = write_roster(config, id, &grant, trail, pid, host.uid);
    let recording = match open_recording(config, id, &grant, &term, pid, trail, audit) {
        Ok(recording) => recording,
        Err(refusal) => return undo(client, refusal),
    };
    // Asking to type needs nonces, from a file the narrowed process may
    // not open any more.
    let mut live = Live::prepare(config, host, trail.from.clone());
    if let Err(e) = narrow_self(config_path, config, &tmux, &roster_dir, &grant.share.socket) {
        return undo(client, Refusal::setup("spawn-failed", e));
    }
    let joined = trail
        .event("join")
        .field("pid", pid.to_string())
        .field("confinement", confinement.label())
        .field("term", logged_term(&term.asked))
        .field("term_used", &term.used)
        .opt("roster", roster_note.as_deref())
        .opt(
            "recording",
            recording.as_ref().map(Recording::shown).as_deref(),
        );
    if let Err(e) = audit.write(joined) {
        return undo(client, Refusal::new(
            "audit-unavailable",
            "the audit log cannot be written, so pairshell cannot let you in; the admin has been told",
        )
        .detail(format!("{}: {}", e.socket.display(), e.reason)));
    }

    let started = Instant::now();
    let mut relay = match open_relay(
        terminal.guest,
        terminal.client,
        terminal.signals,
        grant.mode,
    ) {
        Ok(relay) => relay,
        Err(refusal) => return undo(client, refusal),
    };
    let is_recorded = matches!(recording, Some(Recording::On(_)));
    if let Some(Recording::On(recorder)) = recording {
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
        Exit::Done
    } else {
        Exit::Failed
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
    trail: &Context,
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
    let guest = trail.guest.clone().unwrap_or_default();
    let request = Request {
        kind: Kind::Join,
        nonce,
        client: None,
        seat: seat(me, start, guest, grant, trail),
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

/// How the tmux client will be confined, or the refusal when it cannot be
/// and the grant needs it (a read-write join without Landlock).
fn confinement_for(
    config: &Config,
    tmux: &PairTmux,
    grant: &Grant,
) -> Result<Confinement, Refusal> {
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
            format!(
                "{} cannot be joined read-write on this host right now; the admin has been told",
                grant.label()
            ),
        )
        .detail(
            "the kernel has no Landlock, so the tmux client cannot be confined \
             (allow_unconfined_read_write = true would let read-write guests in unconfined)",
        ));
    }
    Ok(confinement)
}

/// The session is there, answering, and open to the pair account.
fn session_ready(tmux: &PairTmux, grant: &Grant) -> Result<(), Refusal> {
    let label = grant.label();
    match tmux.has_session(grant.session) {
        SessionState::Running => Ok(()),
        SessionState::NotRunning => Err(Refusal::not_running(&label, grant.host)),
        SessionState::Stuck => Err(Refusal::stuck(&label)),
        SessionState::AccessDenied(why) => Err(Refusal::new(
            "no-server-access",
            format!("{} has not opened {label} to guests yet", grant.host),
        )
        .detail(why)),
        SessionState::Failed(why) => Err(Refusal::new(
            "tmux-error",
            format!("{label} cannot be joined: tmux failed"),
        )
        .detail(why)),
    }
}

/// Write who is behind client `pid`, for the host's `who`, `kick` and
/// messages. Returns what the join line's `roster=` says when it could not
/// be written whole.
fn write_roster(
    config: &Config,
    id: &Identity,
    grant: &Grant,
    trail: &Context,
    pid: u32,
    host_uid: Uid,
) -> Option<String> {
    let record = roster::process_start(pid).map(|start| roster::Record {
        seat: seat(pid, start, id.guest.clone(), grant, trail),
        // Whole seconds, rounded down: never later than the join itself.
        since: Timestamp::from_second(Timestamp::now().as_second())
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_string(),
    });
    match record.map(|r| roster::write(&roster::dir(&config.sockets_dir), &r, host_uid)) {
        Some(Ok(note)) => note,
        Some(Err(e)) => Some(e),
        None => Some(format!("no /proc entry for client {pid}")),
    }
}

/// A join's recording, when the config asks for one.
pub(super) enum Recording {
    On(record::Recorder),
    /// Asked for, but it could not be started (and is not required).
    Failed,
}

impl Recording {
    /// The join line's `recording=`.
    fn shown(&self) -> String {
        match self {
            Recording::On(r) => r.path().to_string_lossy().into_owned(),
            Recording::Failed => "none".to_string(),
        }
    }
}

/// Start this join's recording, if the config asks for one. It is opened
/// before this process narrows itself, which then may write to it but
/// create nothing (see `record`). A recording that cannot start is noted
/// in the trail, and refuses the join only with `record_required`.
fn open_recording(
    config: &Config,
    id: &Identity,
    grant: &Grant,
    term: &terminfo::Choice,
    pid: u32,
    trail: &Context,
    audit: &mut Audit,
) -> Result<Option<Recording>, Refusal> {
    match start_recording(config, id, grant, term, pid) {
        None => Ok(None),
        Some(Ok(recorder)) => Ok(Some(Recording::On(recorder))),
        Some(Err(stop)) => {
            audit.write_best_effort(record_stopped(trail, pid, &stop));
            if config.record_required {
                return Err(Refusal::new(
                    "record-unavailable",
                    "this session is recorded and the recording cannot be written, so pairshell cannot let you in; the admin has been told",
                )
                .detail(format!("{}: {}", stop.reason, stop.detail)));
            }
            Ok(Some(Recording::Failed))
        }
    }
}

/// The relay between the guest's terminal and the client's pty; a
/// read-only guest's input is dropped in it.
fn open_relay(
    guest: OwnedFd,
    client: OwnedFd,
    signals: SignalFd,
    mode: Mode,
) -> Result<Relay, Refusal> {
    let input = match mode {
        Mode::ReadWrite => Input::Forward,
        Mode::ReadOnly => Input::Drop,
    };
    Relay::new(guest, client, Some(signals), input).map_err(|e| {
        Refusal::new("spawn-failed", "the session could not be started").detail(e.to_string())
    })
}

/// How long the guest's banner stays on their bottom line.
pub(super) const BANNER_FOR: Duration = Duration::from_secs(6);

/// The guest's banner: the session, the mode, whether it is recorded, and
/// how to leave.
pub(super) fn banner(label: &str, mode: Mode, utf8: bool, recorded: bool) -> String {
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
pub(super) fn start_recording(
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
pub(super) fn record_stopped(trail: &Context, pid: u32, stop: &Stopped) -> Event {
    trail
        .event("record-stopped")
        .field("pid", pid.to_string())
        .field("reason", stop.reason)
        .field("detail", &stop.detail)
}

/// The terminal the guest's tmux client gets (see `terminfo`); a TERM that
/// cannot show a session is refused with a reason the guest can act on.
pub(super) fn terminal_choice() -> Result<terminfo::Choice, Refusal> {
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
pub(super) fn logged_term(term: &str) -> String {
    term.chars().take(64).collect()
}

/// Open the session's socket once and check the opened object; every
/// tmux client of this join talks to it (see `trust::PinnedSocket`).
///
/// Only the host who shares a session may own its socket (root's sockets
/// only in root's own file). Guards against: a host naming another user's,
/// or root's, server in their file and handing it to a guest, and a host
/// swapping the socket's path after the check.
pub(super) fn checked_server(
    config: &Config,
    host: &Host,
    grant: &Grant,
) -> Result<PairTmux, Refusal> {
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
pub(super) fn narrow_self(
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

/// Who this join is, for the roster and for a request to the host.
fn seat(pid: u32, start: u64, guest: String, grant: &Grant, trail: &Context) -> roster::Seat {
    roster::Seat {
        pid,
        start,
        guest,
        host: grant.host.to_string(),
        session: grant.session.to_string(),
        socket: grant.share.socket.clone(),
        mode: grant.mode,
        from: trail.from.clone(),
    }
}
