//! The tmux client pairshell runs for the guest, its relay loop, and how
//! it ended.

use super::*;

/// The terminals of one join: the guest's (reopened), the inner pty the
/// tmux client runs on, and the signals the relay waits for.
pub(super) struct Terminal {
    pub(super) guest: OwnedFd,
    pub(super) client: OwnedFd,
    /// The inner pty's slave, handed to the client.
    pub(super) client_side: OwnedFd,
    /// The slave's name (`/dev/pts/N`), which is also tmux's client name.
    pub(super) client_name: String,
    pub(super) signals: SignalFd,
}

impl Terminal {
    pub(super) fn open() -> Result<Terminal, String> {
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
pub(super) struct Client {
    pub(super) child: std::process::Child,
    pub(super) gate: OwnedFd,
}

/// How a client ended, for the `leave` line and the guest.
pub(super) struct Ending {
    pub(super) reason: &'static str,
    pub(super) message: Option<String>,
    pub(super) detail: Option<String>,
}

impl Ending {
    pub(super) fn new(reason: &'static str) -> Ending {
        Ending {
            reason,
            message: None,
            detail: None,
        }
    }

    pub(super) fn from_verdict(verdict: Verdict) -> Option<Ending> {
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

impl Client {
    pub(super) fn spawn(
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

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Close the gate without opening it: the child exits without exec.
    pub(super) fn abort(mut self) {
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
    pub(super) fn run(
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
                        follow_host(relay, watch, pid, &mut end, note);
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
                    redraw(pid);
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
        let ending = end.decide(Exited::of(&status), watch);
        (status, ending)
    }
}

/// Something for the trail while the client runs.
pub(super) enum Note<'a> {
    /// A plain event line with the client's pid.
    Event(&'static str),
    /// The recording stopped.
    Stopped(&'a Stopped),
    /// The client's mode was switched live (`event=mode-change`).
    Mode(Mode),
    /// A line built elsewhere (ask to type); the trail's fields are added.
    Line(Event),
}

/// Ask the tmux client `pid` for a full redraw (a tmux client asks its
/// server for one on SIGWINCH).
fn redraw(pid: u32) {
    let client = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::kill(client, Signal::SIGWINCH);
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
    redraw(pid);
}

/// `presence = "required"`: pause the guest when the host's last client
/// detached (or let them go, with `on_host_leave = "end"`), and resume
/// them when the host is back.
fn follow_host(
    relay: &mut Relay,
    watch: &mut Watch,
    pid: u32,
    end: &mut EndState,
    note: &mut dyn FnMut(Note<'_>),
) {
    let host = watch.joined.host.clone();
    match watch.live.presence(&watch.tmux, &host) {
        HostPresence::Same => {}
        HostPresence::Left(OnHostLeave::Pause) => {
            relay.pause(&format!("pairshell: {host} stepped away"));
            note(Note::Event("host-away"));
        }
        HostPresence::Left(OnHostLeave::End) => {
            end.ending = Some(Ending {
                reason: "host-left",
                message: Some(format!(
                    "{host} left, so your visit to {}/{} ended",
                    host, watch.joined.session
                )),
                detail: None,
            });
        }
        HostPresence::Back => {
            relay.resume();
            note(Note::Event("host-back"));
            relay.show_banner(&format!("pairshell: {host} is back"), BANNER_FOR);
            redraw(pid);
        }
    }
}

/// What the relay loop learnt about why the client is ending.
#[derive(Default)]
pub(super) struct EndState {
    /// The guest's terminal went away.
    pub(super) hung_up: bool,
    /// A SIGHUP while the terminal was still there (a check-now request,
    /// or the host's `detach-client -P`).
    pub(super) hup_seen: bool,
    /// pairshell itself was told to stop.
    pub(super) terminated: bool,
    /// A read-only guest pressed the leave keys.
    pub(super) left: bool,
    /// …and tmux would not detach the client, so a signal ends it.
    pub(super) left_by_signal: bool,
    /// The re-check (or the session count) ended access.
    pub(super) ending: Option<Ending>,
}

/// What the decision may ask about the world once the client has exited;
/// each question is asked only when the answer matters.
pub(super) trait Aftermath {
    /// Is the guest's terminal still there?
    fn terminal_alive(&self) -> bool;
    /// Access, decided again now: how it ended, if it did.
    fn recheck(&mut self) -> Option<Ending>;
    /// Has the server, or the session on it, gone away? `exited` is how the
    /// client ended: a failed client makes a dying server likely.
    fn session_gone(&self, exited: Exited) -> bool;
    /// The joined session's host, and `HOST/SESSION`.
    fn names(&self) -> (&str, String);
}

/// How the client process exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exited {
    Success,
    Failure,
    Signalled,
}

impl Exited {
    pub(super) fn of(status: &ExitStatus) -> Exited {
        use std::os::unix::process::ExitStatusExt;
        if status.signal().is_some() {
            Exited::Signalled
        } else if status.success() {
            Exited::Success
        } else {
            Exited::Failure
        }
    }
}

impl EndState {
    /// How the client ended, once it has. The first cause that holds wins:
    /// the guest's own hang-up, pairshell told to stop, the guest leaving,
    /// an ending the loop already decided, the host's detach (revoked or
    /// kicked), a signal, the session gone, and else tmux's own exit.
    pub(super) fn decide(self, exited: Exited, world: &mut impl Aftermath) -> Ending {
        if self.hung_up || (self.hup_seen && !world.terminal_alive()) {
            Ending::new("hangup")
        } else if self.terminated {
            Ending::new("terminated")
        } else if self.left {
            Ending {
                reason: "detached",
                message: self
                    .left_by_signal
                    .then(|| format!("you left {}", world.names().1)),
                detail: None,
            }
        } else if let Some(ending) = self.ending {
            ending
        } else if self.hup_seen {
            // The host detached us with -P. Revoked, or let go (kicked)?
            world.recheck().unwrap_or_else(|| Ending {
                reason: "kicked",
                message: Some(format!("{} ended your access", world.names().0)),
                detail: None,
            })
        } else if exited == Exited::Signalled {
            Ending::new("killed")
        } else if world.session_gone(exited) {
            // The server went away under the client (killed, or its last
            // session ended; tmux's client then exits with an error), or the
            // session was killed on a server that keeps running.
            Ending {
                reason: "server-gone",
                message: Some("the session ended".into()),
                detail: None,
            }
        } else if exited == Exited::Failure {
            Ending::new("error")
        } else {
            Ending::new("detached")
        }
    }
}

impl Aftermath for Watch {
    fn terminal_alive(&self) -> bool {
        terminal_alive()
    }

    fn recheck(&mut self) -> Option<Ending> {
        let verdict = loop {
            match self.check(Timestamp::now()) {
                Ok(v) => break v,
                Err(retry) => std::thread::sleep(retry),
            }
        };
        self.ending(verdict)
    }

    fn session_gone(&self, exited: Exited) -> bool {
        // A server killed under the client can close the client's
        // connection before its listening socket, and a `connect` to that
        // socket still succeeds for a moment. So after a failed client,
        // look again a few times before asking the server (which would
        // then never answer) about the session.
        let looks = if exited == Exited::Failure { 10 } else { 1 };
        for look in 0..looks {
            if !self.tmux.server_running() {
                return true;
            }
            if look + 1 < looks {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.tmux.has_session(&self.joined.session) == SessionState::NotRunning
    }

    fn names(&self) -> (&str, String) {
        (
            &self.joined.host,
            format!("{}/{}", self.joined.host, self.joined.session),
        )
    }
}

/// Time from now until `ends` (zero if past, "forever" if none).
pub(super) fn until(ends: Option<Timestamp>) -> Duration {
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
pub(super) fn terminal_alive() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_ok()
}

/// `pairshell exec-client --gate FD --socket-fd N -- TMUX ARGS…`: wait for
/// the parent to open the gate, take the inner pty (stdin) as the
/// controlling terminal, enter the tmux client's jail, then become the tmux
/// client (same pid).
pub(crate) fn exec_client(
    gate: i32,
    socket_fd: i32,
    require_confinement: bool,
    argv: &[OsString],
) -> Exit {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    // The read end of the gate pipe, and the checked socket, which stays
    // open (and inherited by tmux) for this process's whole life.
    let (Some(gate), Some(socket)) = (fd::inherited(gate), fd::inherited(socket_fd)) else {
        return Exit::Failed;
    };
    let mut file = std::fs::File::from(gate);
    let mut byte = [0u8; 1];
    if !matches!(file.read(&mut byte), Ok(1)) {
        // The parent closed the gate: the login was refused.
        return Exit::Failed;
    }
    drop(file);
    let Some((program, args)) = argv.split_first() else {
        return Exit::Failed;
    };
    if let Err(e) = relay::take_terminal() {
        eprintln!("pairshell: cannot take the terminal: {e}");
        return Exit::Failed;
    }
    let jail = match Jail::tmux_client(Path::new(program), Some(socket.as_fd())) {
        Ok(jail) => jail,
        Err(e) => {
            eprintln!("pairshell: cannot confine the tmux client: {e}");
            return Exit::Failed;
        }
    };
    match jail.enter() {
        Ok(Confinement::Landlock { .. }) => {}
        Ok(Confinement::Unavailable) if !require_confinement => {}
        Ok(Confinement::Unavailable) => {
            eprintln!("pairshell: the tmux client cannot be confined on this host");
            return Exit::Failed;
        }
        Err(e) => {
            eprintln!("pairshell: cannot confine the tmux client: {e}");
            return Exit::Failed;
        }
    }
    if let Err(e) = sandbox::reset_own_signals() {
        eprintln!("pairshell: cannot reset signals: {e}");
        return Exit::Failed;
    }
    let err = Command::new(program).args(args).exec();
    eprintln!(
        "pairshell: cannot start {}: {err}",
        Path::new(program).display()
    );
    Exit::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world whose answers are fixed, counting the questions asked.
    struct World {
        alive: bool,
        recheck: Option<Ending>,
        gone: bool,
        asked_recheck: u32,
    }

    impl World {
        fn calm() -> World {
            World {
                alive: true,
                recheck: None,
                gone: false,
                asked_recheck: 0,
            }
        }
    }

    impl Aftermath for World {
        fn terminal_alive(&self) -> bool {
            self.alive
        }
        fn recheck(&mut self) -> Option<Ending> {
            self.asked_recheck += 1;
            self.recheck.take()
        }
        fn session_gone(&self, _: Exited) -> bool {
            self.gone
        }
        fn names(&self) -> (&str, String) {
            ("maria", "maria/api".into())
        }
    }

    fn reason(end: EndState, exited: Exited, world: &mut World) -> &'static str {
        end.decide(exited, world).reason
    }

    #[test]
    fn a_plain_exit_is_a_detach_and_a_failed_one_an_error() {
        let mut w = World::calm();
        assert_eq!(
            reason(EndState::default(), Exited::Success, &mut w),
            "detached"
        );
        assert_eq!(
            reason(EndState::default(), Exited::Failure, &mut w),
            "error"
        );
        assert_eq!(
            reason(EndState::default(), Exited::Signalled, &mut w),
            "killed"
        );
        assert_eq!(w.asked_recheck, 0, "no re-check without the host's detach");
    }

    #[test]
    fn a_sighup_with_the_terminal_gone_is_a_hangup_not_a_kick() {
        let end = EndState {
            hup_seen: true,
            ..EndState::default()
        };
        let mut w = World {
            alive: false,
            ..World::calm()
        };
        assert_eq!(reason(end, Exited::Success, &mut w), "hangup");
        assert_eq!(w.asked_recheck, 0);
    }

    #[test]
    fn the_hosts_detach_is_a_revoke_when_the_recheck_says_so_and_else_a_kick() {
        let hup = || EndState {
            hup_seen: true,
            ..EndState::default()
        };
        let mut w = World {
            recheck: Some(Ending::new("revoked")),
            ..World::calm()
        };
        assert_eq!(reason(hup(), Exited::Success, &mut w), "revoked");
        let mut w = World::calm();
        let end = hup().decide(Exited::Success, &mut w);
        assert_eq!(end.reason, "kicked");
        assert_eq!(end.message.as_deref(), Some("maria ended your access"));
        assert_eq!(w.asked_recheck, 1);
    }

    #[test]
    fn leaving_by_the_keys_is_a_detach_and_says_so_only_when_a_signal_was_needed() {
        let mut w = World::calm();
        let left = EndState {
            left: true,
            ..EndState::default()
        };
        let end = left.decide(Exited::Signalled, &mut w);
        assert_eq!((end.reason, end.message), ("detached", None));
        let forced = EndState {
            left: true,
            left_by_signal: true,
            ..EndState::default()
        };
        let end = forced.decide(Exited::Signalled, &mut w);
        assert_eq!(end.message.as_deref(), Some("you left maria/api"));
    }

    #[test]
    fn causes_are_taken_in_order() {
        let mut w = World {
            gone: true,
            ..World::calm()
        };
        // The guest's hang-up beats everything, even an ending the loop chose.
        let end = EndState {
            hung_up: true,
            terminated: true,
            ending: Some(Ending::new("expired")),
            ..EndState::default()
        };
        assert_eq!(reason(end, Exited::Failure, &mut w), "hangup");
        // Being told to stop beats the loop's ending.
        let end = EndState {
            terminated: true,
            ending: Some(Ending::new("expired")),
            ..EndState::default()
        };
        assert_eq!(reason(end, Exited::Failure, &mut w), "terminated");
        // The loop's ending beats the session having gone.
        let end = EndState {
            ending: Some(Ending::new("expired")),
            ..EndState::default()
        };
        assert_eq!(reason(end, Exited::Failure, &mut w), "expired");
        // A session gone beats tmux's error exit, but a signal beats both.
        assert_eq!(
            reason(EndState::default(), Exited::Failure, &mut w),
            "server-gone"
        );
        assert_eq!(
            reason(EndState::default(), Exited::Signalled, &mut w),
            "killed"
        );
    }
}
