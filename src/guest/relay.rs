//! The guest's terminal, held by pairshell.
//!
//! The tmux client runs on a pty of pairshell's (the *inner* pty), and this
//! relay copies bytes between it and the guest's terminal (sshd's pty).
//! tmux hands its client's terminal to the server, so the host's server
//! only ever holds the inner pty, never sshd's. What the guest types is
//! forwarded only when [`Input::Forward`]; for a read-only guest not one
//! byte reaches the client, whatever tmux's own flags say (tmux's
//! `server-access` resets them for every client of the pair account). The
//! keys that leave (`C-b d`) are recognised here instead.
//!
//! One event loop ([`Relay::step`]) over the two terminals and a signal fd:
//! nonblocking descriptors, chunked reads, a pending buffer each way (so a
//! side that stops reading stops the other side being read, never the
//! loop), and no busy-waiting. Every forwarded input chunk passes through
//! `typed` and every output chunk through `drawn`, and from there to the
//! [`Observer`], if any (the session's recording, `src/record.rs`).
//!
//! The relay also draws the guest's banner ([`Relay::show_banner`]): a
//! line printed before tmux starts is gone the moment tmux takes the
//! screen, and a tmux message would need a command a read-only server
//! (`server-access -r`) refuses. So once tmux's first drawing has settled,
//! the relay writes the banner over the guest's bottom line itself (cursor
//! saved and restored around it), on that guest's terminal only, and when
//! its time is up asks for a redraw ([`Event::Redraw`]).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys::pty::set_window_size;
pub(crate) use crate::sys::pty::{inner_pty, reopen_terminal, take_terminal, window_size};

/// What becomes of the guest's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// Every byte goes to the tmux client as it is (read-write).
    Forward,
    /// No byte goes to the client; only the leave keys are acted on.
    Drop,
}

pub(crate) use crate::record::{Observer, Stopped};

/// What a [`Relay::step`] saw, for the caller to act on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Signal(Signal),
    /// The guest's terminal hung up (ssh went away).
    GuestGone,
    /// A read-only guest pressed the leave keys.
    Leave,
    /// A read-only guest pressed the ask-to-type keys (the prefix, then
    /// `a`).
    AskToType,
    /// The descriptor given to [`Relay::wake_on`] became readable (what it
    /// said was read and dropped): something may have changed.
    Wake,
    /// The inner pty has no one on the other side any more.
    ClientClosed,
    /// The banner's time is up: the client should redraw the guest's
    /// whole screen (a SIGWINCH makes a tmux client ask for that).
    Redraw,
    /// The observer stopped (reported once).
    ObserverStopped(Stopped),
}

/// How long the client's output must pause before the banner is drawn:
/// tmux draws a whole screen in one burst.
const SETTLE: Duration = Duration::from_millis(300);

/// The longest the banner waits for a pause (a pane that prints without
/// end never pauses); then it is drawn anyway.
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);

/// A message drawn over the guest's bottom line for a while.
struct Banner {
    text: String,
    shown_for: Duration,
    state: BannerState,
}

enum BannerState {
    /// When the client's output started, and when it was last seen.
    Waiting(Option<(Instant, Instant)>),
    /// On the screen until then.
    Shown(Instant),
    Done,
}

impl Banner {
    /// When something is next due.
    fn due(&self) -> Option<Instant> {
        match self.state {
            BannerState::Waiting(Some((first, last))) => {
                Some((last + SETTLE).min(first + SETTLE_AT_MOST))
            }
            BannerState::Waiting(None) | BannerState::Done => None,
            BannerState::Shown(until) => Some(until),
        }
    }
}

/// The bytes that draw `text` over the last of `rows` rows, `cols` wide, in
/// reverse video, and put the cursor, its attributes and the character set
/// back as tmux left them (DECSC/DECRC), so tmux's own idea of the screen
/// stays right everywhere but on that line.
pub(crate) fn banner_bytes(text: &str, rows: u16, cols: u16) -> Vec<u8> {
    let cols = usize::from(cols.max(1));
    let mut line: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(cols)
        .collect();
    let width = line.chars().count();
    line.extend(std::iter::repeat_n(' ', cols - width));
    format!(
        "\x1b7\x1b[{row};1H\x1b(B\x0f\x1b[0;7m{line}\x1b[0m\x1b8",
        row = rows.max(1)
    )
    .into_bytes()
}

/// Largest read or write in one go.
const CHUNK: usize = 64 * 1024;

/// The prefix key the guest is told to use: Ctrl-b.
const PREFIX: u8 = 0x02;

/// Recognises the keys pairshell acts on for a read-only guest, the prefix
/// then `d` (leave) or `a` (ask to type), in their input (split across
/// reads or not).
#[derive(Default)]
pub(crate) struct LeaveKeys {
    after_prefix: bool,
}

/// A key pairshell itself acts on, recognised by [`LeaveKeys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnKey {
    Leave,
    AskToType,
}

impl LeaveKeys {
    /// Whether `bytes` complete the leave keys.
    #[cfg(test)]
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        self.keys(bytes).contains(&OwnKey::Leave)
    }

    /// The keys `bytes` complete, in order.
    pub(crate) fn keys(&mut self, bytes: &[u8]) -> Vec<OwnKey> {
        let mut found = Vec::new();
        for &b in bytes {
            if self.after_prefix && (b == b'd' || b == b'a') {
                self.after_prefix = false;
                found.push(if b == b'd' {
                    OwnKey::Leave
                } else {
                    OwnKey::AskToType
                });
                continue;
            }
            self.after_prefix = b == PREFIX;
        }
        found
    }
}

/// The two terminals and the loop between them.
pub(crate) struct Relay {
    /// The guest's terminal, opened anew so that its nonblocking flag is
    /// ours alone (stderr shares the original description).
    guest: OwnedFd,
    /// The inner pty's master side.
    client: OwnedFd,
    signals: Option<SignalFd>,
    /// The guest terminal's mode before the relay made it raw.
    saved: Option<Termios>,
    input: Input,
    leave: LeaveKeys,
    to_client: Vec<u8>,
    to_guest: Vec<u8>,
    guest_open: bool,
    client_open: bool,
    banner: Option<Banner>,
    observer: Option<Box<dyn Observer>>,
    /// A descriptor whose readiness means "look again" (see
    /// [`Relay::wake_on`]).
    wake: Option<OwnedFd>,
    /// Paused (the host stepped away): nothing typed is forwarded and
    /// what the client draws is dropped until [`Relay::resume`].
    paused: bool,
    /// Reused for every read (not zeroed again each keystroke).
    buf: Box<[u8]>,
}

impl Relay {
    /// Hold `guest` (made raw until the relay is dropped) and `client`,
    /// an inner pty master. Both become nonblocking. The inner pty gets the
    /// guest's size at once.
    pub(crate) fn new(
        guest: OwnedFd,
        client: OwnedFd,
        signals: Option<SignalFd>,
        input: Input,
    ) -> io::Result<Relay> {
        set_nonblocking(guest.as_fd())?;
        set_nonblocking(client.as_fd())?;
        let saved = termios::tcgetattr(&guest).ok();
        if let Some(mode) = &saved {
            let mut raw = mode.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(&guest, SetArg::TCSADRAIN, &raw)?;
        }
        let relay = Relay {
            guest,
            client,
            signals,
            saved,
            input,
            leave: LeaveKeys::default(),
            to_client: Vec::new(),
            to_guest: Vec::new(),
            guest_open: true,
            client_open: true,
            banner: None,
            observer: None,
            wake: None,
            paused: false,
            buf: vec![0u8; CHUNK].into_boxed_slice(),
        };
        relay.resize();
        Ok(relay)
    }

    /// Give the inner pty the guest's window size (the kernel then signals
    /// the client with SIGWINCH).
    pub(crate) fn resize(&self) {
        if let Ok(size) = window_size(self.guest.as_fd()) {
            let _ = set_window_size(self.client.as_fd(), &size);
        }
    }

    /// What becomes of the guest's input from now on (a live promotion or
    /// demotion). Input typed before this call was already judged.
    pub(crate) fn set_input(&mut self, input: Input) {
        self.input = input;
        self.leave = LeaveKeys::default();
    }

    /// Report [`Event::Wake`] whenever `fd` is readable (an inotify
    /// descriptor); what it holds is read and dropped.
    pub(crate) fn wake_on(&mut self, fd: OwnedFd) -> io::Result<()> {
        set_nonblocking(fd.as_fd())?;
        self.wake = Some(fd);
        Ok(())
    }

    /// Freeze the guest's screen with `text` on its bottom line: nothing
    /// typed is forwarded (the leave keys still work) and what the client
    /// draws is dropped, until [`Relay::resume`].
    pub(crate) fn pause(&mut self, text: &str) {
        self.paused = true;
        self.to_client.clear();
        self.banner = None;
        let size = window_size(self.guest.as_fd()).ok();
        let (rows, cols) = size.map_or((24, 80), |s| (s.ws_row, s.ws_col));
        let bytes = banner_bytes(text, rows, cols);
        if let Some(o) = &mut self.observer {
            o.output(&bytes);
        }
        self.to_guest.extend_from_slice(&bytes);
        self.flush_to_guest();
    }

    /// End a [`Relay::pause`]; the caller asks the client for a redraw.
    pub(crate) fn resume(&mut self) {
        self.paused = false;
    }

    /// Let `observer` see the session from now on.
    pub(crate) fn observe(&mut self, observer: Box<dyn Observer>) {
        self.observer = Some(observer);
    }

    /// A marker for the observer.
    pub(crate) fn mark(&mut self, label: &str) {
        if let Some(o) = &mut self.observer {
            o.marker(label);
        }
    }

    /// Flush the observer for the last time; whether it stopped.
    pub(crate) fn finish(&mut self) -> Option<Stopped> {
        self.observer.as_mut().and_then(|o| o.flush())
    }

    /// Draw `text` over the guest's bottom line once the client's first
    /// output has settled, for `shown_for`; then [`Event::Redraw`].
    pub(crate) fn show_banner(&mut self, text: &str, shown_for: Duration) {
        self.banner = Some(Banner {
            text: text.to_string(),
            shown_for,
            state: BannerState::Waiting(None),
        });
    }

    /// Wait up to `timeout` for something to happen, move what can be
    /// moved, and say what the caller must act on.
    pub(crate) fn step(&mut self, timeout: Duration) -> io::Result<Vec<Event>> {
        let mut events = Vec::new();
        let due = [
            self.banner.as_ref().and_then(Banner::due),
            self.observer.as_ref().and_then(|o| o.due()),
        ];
        let timeout = match due.into_iter().flatten().min() {
            Some(due) => timeout.min(due.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let guest_wants = flags(
            self.guest_open && self.to_client.is_empty(),
            self.guest_open && !self.to_guest.is_empty(),
        );
        let client_wants = flags(
            self.client_open && self.to_guest.is_empty(),
            self.client_open && !self.to_client.is_empty(),
        );
        let mut fds = Vec::with_capacity(4);
        if self.guest_open {
            fds.push(PollFd::new(self.guest.as_fd(), guest_wants));
        }
        if self.client_open {
            fds.push(PollFd::new(self.client.as_fd(), client_wants));
        }
        if let Some(s) = &self.signals {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if let Some(w) = &self.wake {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut ready = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()));
        let guest_ready = if self.guest_open {
            ready.next().unwrap_or(PollFlags::empty())
        } else {
            PollFlags::empty()
        };
        let client_ready = if self.client_open {
            ready.next().unwrap_or(PollFlags::empty())
        } else {
            PollFlags::empty()
        };
        let signal_ready = if self.signals.is_some() {
            ready.next().unwrap_or(PollFlags::empty())
        } else {
            PollFlags::empty()
        };
        let wake_ready = ready.next().unwrap_or(PollFlags::empty());
        drop(fds);

        if !guest_ready.is_empty() {
            self.service_guest(guest_ready, &mut events);
        }
        if !client_ready.is_empty() {
            self.service_client(client_ready, &mut events);
        }
        if signal_ready.contains(PollFlags::POLLIN) {
            self.read_signals(&mut events);
        }
        if wake_ready.contains(PollFlags::POLLIN) {
            if let Some(w) = &self.wake {
                let mut buf = [0u8; 4096];
                while matches!(nix::unistd::read(w, &mut buf), Ok(n) if n > 0) {}
                events.push(Event::Wake);
            }
        }
        self.banner_tick(&mut events);
        if let Some(o) = &mut self.observer {
            if o.due().is_some_and(|due| due <= Instant::now()) {
                events.extend(o.flush().map(Event::ObserverStopped));
            }
        }
        Ok(events)
    }

    /// Draw the banner, or end it, when its moment has come.
    fn banner_tick(&mut self, events: &mut Vec<Event>) {
        let now = Instant::now();
        let Some(banner) = &mut self.banner else {
            return;
        };
        if banner.due().is_none_or(|due| now < due) || !self.guest_open {
            return;
        }
        match banner.state {
            BannerState::Waiting(_) => {
                // Only between two of tmux's writes, never inside one.
                if !self.to_guest.is_empty() {
                    return;
                }
                let size = window_size(self.guest.as_fd()).ok();
                let (rows, cols) = size.map_or((24, 80), |s| (s.ws_row, s.ws_col));
                let bytes = banner_bytes(&banner.text, rows, cols);
                banner.state = BannerState::Shown(now + banner.shown_for);
                if let Some(o) = &mut self.observer {
                    o.output(&bytes);
                }
                self.to_guest.extend_from_slice(&bytes);
                self.flush_to_guest();
            }
            BannerState::Shown(_) => {
                banner.state = BannerState::Done;
                events.push(Event::Redraw);
            }
            BannerState::Done => {}
        }
    }

    fn service_guest(&mut self, ready: PollFlags, events: &mut Vec<Event>) {
        if ready.contains(PollFlags::POLLOUT) && !self.flush_to_guest() {
            self.guest_gone(events);
            return;
        }
        // A hang-up is reported whatever was asked for: with input still
        // waiting for the client, the guest is gone all the same (else the
        // loop would wake on it again and again).
        if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
            && !self.to_client.is_empty()
        {
            self.guest_gone(events);
            return;
        }
        if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && self.to_client.is_empty()
        {
            let mut buf = std::mem::take(&mut self.buf);
            let read = nix::unistd::read(&self.guest, &mut buf);
            match read {
                Ok(0) => self.guest_gone(events),
                Ok(n) => self.typed(&buf[..n], events),
                Err(Errno::EAGAIN | Errno::EINTR) => {
                    if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                        self.guest_gone(events);
                    }
                }
                Err(_) => self.guest_gone(events),
            }
            self.buf = buf;
        }
    }

    fn service_client(&mut self, ready: PollFlags, events: &mut Vec<Event>) {
        if ready.contains(PollFlags::POLLOUT) {
            self.flush_to_client();
        }
        if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
            && !self.to_guest.is_empty()
        {
            // The same for the client's side: what is pending still goes to
            // the guest (and `drain`), but the loop stops waking on it.
            self.client_closed(events);
            return;
        }
        if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && self.to_guest.is_empty()
        {
            let mut buf = std::mem::take(&mut self.buf);
            let read = nix::unistd::read(&self.client, &mut buf);
            match read {
                Ok(0) => self.client_closed(events),
                Ok(n) => self.drawn(&buf[..n]),
                Err(Errno::EAGAIN | Errno::EINTR) => {
                    if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                        self.client_closed(events);
                    }
                }
                // EIO: the inner pty's slave side is closed everywhere.
                Err(_) => self.client_closed(events),
            }
            self.buf = buf;
        }
    }

    /// One chunk the guest typed.
    fn typed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        let input = if self.paused { Input::Drop } else { self.input };
        match input {
            Input::Forward => {
                if let Some(o) = &mut self.observer {
                    o.input(bytes);
                }
                self.to_client.extend_from_slice(bytes);
                // At once, as far as it goes: waiting for the next poll to
                // say the client can take it costs a keystroke a round trip.
                if self.client_open {
                    self.flush_to_client();
                }
            }
            Input::Drop => {
                for key in self.leave.keys(bytes) {
                    events.push(match key {
                        OwnKey::Leave => Event::Leave,
                        OwnKey::AskToType => Event::AskToType,
                    });
                }
            }
        }
    }

    /// One chunk the client drew; written at once as far as it goes.
    fn drawn(&mut self, bytes: &[u8]) {
        if self.paused {
            return;
        }
        if let Some(Banner {
            state: BannerState::Waiting(seen),
            ..
        }) = &mut self.banner
        {
            let now = Instant::now();
            *seen = Some((seen.map_or(now, |(first, _)| first), now));
        }
        if let Some(o) = &mut self.observer {
            o.output(bytes);
        }
        self.to_guest.extend_from_slice(bytes);
        if self.guest_open {
            self.flush_to_guest();
        }
    }

    /// Write what is pending to the client, as far as it takes it now.
    fn flush_to_client(&mut self) {
        match write_some(self.client.as_fd(), &self.to_client) {
            Ok(n) => {
                self.to_client.drain(..n);
            }
            Err(_) => self.to_client.clear(),
        }
    }

    /// Write what is pending to the guest; false when the guest is gone.
    fn flush_to_guest(&mut self) -> bool {
        match write_some(self.guest.as_fd(), &self.to_guest) {
            Ok(n) => {
                self.to_guest.drain(..n);
                true
            }
            Err(_) => false,
        }
    }

    fn guest_gone(&mut self, events: &mut Vec<Event>) {
        if self.guest_open {
            self.guest_open = false;
            self.to_guest.clear();
            events.push(Event::GuestGone);
        }
    }

    fn client_closed(&mut self, events: &mut Vec<Event>) {
        if self.client_open {
            self.client_open = false;
            self.to_client.clear();
            events.push(Event::ClientClosed);
        }
    }

    fn read_signals(&mut self, events: &mut Vec<Event>) {
        let Some(signals) = &self.signals else {
            return;
        };
        while let Ok(Some(info)) = signals.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                if sig == Signal::SIGWINCH {
                    self.resize();
                    if let (Some(o), Ok(size)) =
                        (&mut self.observer, window_size(self.guest.as_fd()))
                    {
                        o.resized(size.ws_col, size.ws_row);
                    }
                }
                events.push(Event::Signal(sig));
            }
        }
    }

    /// After the client exited: pass on what it wrote last (its goodbye
    /// line), for at most `limit`, then stop. A host's server may keep the
    /// inner pty open and write forever, so this never waits for the end.
    pub(crate) fn drain(&mut self, limit: Duration) {
        let until = std::time::Instant::now() + limit;
        let mut buf = [0u8; CHUNK];
        while self.guest_open && std::time::Instant::now() < until {
            if !self.to_guest.is_empty() {
                if !self.flush_to_guest() {
                    return;
                }
                if !self.to_guest.is_empty() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            if !self.client_open {
                return;
            }
            match nix::unistd::read(&self.client, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if let Some(o) = &mut self.observer {
                        o.output(&buf[..n]);
                    }
                    self.to_guest.extend_from_slice(&buf[..n])
                }
                Err(Errno::EINTR) => {}
                // EAGAIN: nothing more is waiting; EIO: closed.
                Err(_) => return,
            }
        }
    }
}

impl Drop for Relay {
    /// Give the guest's terminal back its mode, on every way out.
    fn drop(&mut self) {
        if let Some(mode) = &self.saved {
            let _ = termios::tcsetattr(&self.guest, SetArg::TCSADRAIN, mode);
        }
    }
}

fn flags(read: bool, write: bool) -> PollFlags {
    let mut f = PollFlags::empty();
    if read {
        f |= PollFlags::POLLIN;
    }
    if write {
        f |= PollFlags::POLLOUT;
    }
    f
}

/// Write as much of `bytes` as the descriptor takes now.
fn write_some(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        let end = bytes.len().min(done + CHUNK);
        match nix::unistd::write(fd, &bytes[done..end]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::pty::Winsize;
    use std::os::fd::AsFd;
    use std::time::Instant;

    /// A guest terminal and an inner pty, with the test holding the far
    /// ends: `ssh` (what sshd would hold) and `client` (the tmux client).
    struct Rig {
        relay: Relay,
        ssh: OwnedFd,
        client: OwnedFd,
    }

    fn rig(input: Input) -> Rig {
        let guest = nix::pty::openpty(None, None).unwrap();
        let (master, slave) = inner_pty().unwrap();
        let size = Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        set_window_size(guest.slave.as_fd(), &size).unwrap();
        let relay = Relay::new(guest.slave, master, None, input).unwrap();
        // The client's side reads raw bytes, as tmux would set it.
        let mut raw = termios::tcgetattr(&slave).unwrap();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&slave, SetArg::TCSANOW, &raw).unwrap();
        set_nonblocking(slave.as_fd()).unwrap();
        set_nonblocking(guest.master.as_fd()).unwrap();
        Rig {
            relay,
            ssh: guest.master,
            client: slave,
        }
    }

    /// Run the relay until `read` has returned `want` bytes from `fd`.
    fn pump_until(rig: &mut Rig, at_client: bool, want: usize) -> (Vec<u8>, Vec<Event>) {
        let mut got = Vec::new();
        let mut events = Vec::new();
        let until = Instant::now() + Duration::from_secs(5);
        while got.len() < want && Instant::now() < until {
            events.extend(rig.relay.step(Duration::from_millis(20)).unwrap());
            let fd = if at_client { &rig.client } else { &rig.ssh };
            let mut buf = [0u8; 4096];
            if let Ok(n) = nix::unistd::read(fd, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        (got, events)
    }

    #[test]
    fn read_write_input_is_forwarded_byte_for_byte() {
        let mut rig = rig(Input::Forward);
        let typed = b"ls -l\r\x02d\x1b[A";
        nix::unistd::write(&rig.ssh, typed).unwrap();
        let (got, events) = pump_until(&mut rig, true, typed.len());
        assert_eq!(got, typed);
        assert!(events.is_empty(), "{events:?}");
    }

    /// Pins rows 1, 20 and 21 in the relay itself: with `Input::Drop`, not one
    /// byte the guest types reaches the client.
    #[test]
    fn read_only_input_never_reaches_the_client() {
        let mut rig = rig(Input::Drop);
        nix::unistd::write(&rig.ssh, b"rm -rf ~\r").unwrap();
        // A positive control on the same rig: output still flows, so the
        // relay ran while the input was there to be (wrongly) forwarded.
        nix::unistd::write(&rig.client, b"pane").unwrap();
        let (out, _) = pump_until(&mut rig, false, 4);
        assert_eq!(out, b"pane");
        for _ in 0..5 {
            rig.relay.step(Duration::from_millis(10)).unwrap();
        }
        let mut buf = [0u8; 64];
        assert_eq!(
            nix::unistd::read(&rig.client, &mut buf),
            Err(Errno::EAGAIN),
            "a read-only guest's input reached the client"
        );
    }

    /// One thing an observer saw: its kind and its bytes.
    type Sighting = (char, Vec<u8>);

    /// What an observer saw, shared with the test.
    #[derive(Clone, Default)]
    struct Seen(std::rc::Rc<std::cell::RefCell<Vec<Sighting>>>);

    impl Observer for Seen {
        fn input(&mut self, bytes: &[u8]) {
            self.0.borrow_mut().push(('i', bytes.to_vec()));
        }
        fn output(&mut self, bytes: &[u8]) {
            self.0.borrow_mut().push(('o', bytes.to_vec()));
        }
        fn resized(&mut self, _: u16, _: u16) {}
        fn marker(&mut self, label: &str) {
            self.0.borrow_mut().push(('m', label.as_bytes().to_vec()));
        }
        fn due(&self) -> Option<Instant> {
            None
        }
        fn flush(&mut self) -> Option<Stopped> {
            None
        }
    }

    #[test]
    fn the_observer_sees_forwarded_input_and_output_but_no_read_only_input() {
        for input in [Input::Forward, Input::Drop] {
            let mut rig = rig(input);
            let seen = Seen::default();
            rig.relay.observe(Box::new(seen.clone()));
            rig.relay.mark("join");
            nix::unistd::write(&rig.ssh, b"typed").unwrap();
            if input == Input::Forward {
                pump_until(&mut rig, true, 5);
            }
            nix::unistd::write(&rig.client, b"drawn").unwrap();
            pump_until(&mut rig, false, 5);
            let want: Vec<Sighting> = match input {
                Input::Forward => vec![
                    ('m', b"join".to_vec()),
                    ('i', b"typed".to_vec()),
                    ('o', b"drawn".to_vec()),
                ],
                Input::Drop => vec![('m', b"join".to_vec()), ('o', b"drawn".to_vec())],
            };
            assert_eq!(*seen.0.borrow(), want, "{input:?}");
        }
    }

    #[test]
    fn read_only_guest_leaves_with_ctrl_b_d() {
        let mut rig = rig(Input::Drop);
        nix::unistd::write(&rig.ssh, b"x\x02").unwrap();
        let mut events = Vec::new();
        for _ in 0..5 {
            events.extend(rig.relay.step(Duration::from_millis(10)).unwrap());
        }
        assert!(events.is_empty(), "{events:?}");
        nix::unistd::write(&rig.ssh, b"d").unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !events.contains(&Event::Leave) && Instant::now() < until {
            events.extend(rig.relay.step(Duration::from_millis(10)).unwrap());
        }
        assert_eq!(events, [Event::Leave]);
    }

    #[test]
    fn banner_is_drawn_after_the_clients_output_settles_then_redrawn() {
        let mut rig = rig(Input::Forward);
        rig.relay
            .show_banner("pairshell: you joined h/api", Duration::from_millis(400));
        // Nothing while the client has drawn nothing.
        for _ in 0..5 {
            assert!(rig
                .relay
                .step(Duration::from_millis(20))
                .unwrap()
                .is_empty());
        }
        nix::unistd::write(&rig.client, b"screen").unwrap();
        let (first, _) = pump_until(&mut rig, false, 6);
        assert_eq!(first, b"screen", "the banner came before the pause");
        let want = banner_bytes("pairshell: you joined h/api", 40, 120);
        let (got, events) = pump_until(&mut rig, false, want.len());
        assert_eq!(got, want);
        assert!(events.is_empty(), "{events:?}");
        let until = Instant::now() + Duration::from_secs(5);
        let mut events = Vec::new();
        while !events.contains(&Event::Redraw) && Instant::now() < until {
            events.extend(rig.relay.step(Duration::from_millis(50)).unwrap());
        }
        assert_eq!(events, [Event::Redraw]);
        // Once only.
        nix::unistd::write(&rig.client, b"more").unwrap();
        let (got, events) = pump_until(&mut rig, false, 4);
        assert_eq!(got, b"more");
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn banner_fits_the_bottom_line_and_restores_the_cursor() {
        let b = String::from_utf8(banner_bytes("ab\x1b[2Jcd — é", 24, 10)).unwrap();
        assert!(b.starts_with("\x1b7\x1b[24;1H"), "{b:?}");
        assert!(b.ends_with("\x1b[0m\x1b8"), "{b:?}");
        // Control characters dropped, cut to the width, padded to it.
        assert!(b.contains("\x1b[0;7mab[2Jcd — \x1b[0m"), "{b:?}");
        let b = String::from_utf8(banner_bytes("hi", 5, 4)).unwrap();
        assert!(b.contains("\x1b[0;7mhi  \x1b[0m"), "{b:?}");
    }

    #[test]
    fn leave_keys_need_the_prefix_right_before_d() {
        let mut keys = LeaveKeys::default();
        assert!(!keys.feed(b"d"));
        assert!(!keys.feed(b"\x02xd"));
        assert!(!keys.feed(b"\x02\x02"));
        assert!(keys.feed(b"d"));
        assert!(keys.feed(b"\x02d"));
    }

    #[test]
    fn ask_keys_are_the_prefix_then_a_and_never_forwarded() {
        let mut keys = LeaveKeys::default();
        assert_eq!(keys.keys(b"a\x02xa"), []);
        assert_eq!(keys.keys(b"\x02a\x02d"), [OwnKey::AskToType, OwnKey::Leave]);
        let mut rig = rig(Input::Drop);
        nix::unistd::write(&rig.ssh, b"\x02a").unwrap();
        let mut events = Vec::new();
        let until = Instant::now() + Duration::from_secs(5);
        while !events.contains(&Event::AskToType) && Instant::now() < until {
            events.extend(rig.relay.step(Duration::from_millis(10)).unwrap());
        }
        assert_eq!(events, [Event::AskToType]);
        let mut buf = [0u8; 8];
        assert_eq!(nix::unistd::read(&rig.client, &mut buf), Err(Errno::EAGAIN));
    }

    /// A live promotion forwards from the next keystroke; a live demotion
    /// forwards nothing more, and a pause forwards nothing and draws
    /// nothing until it ends.
    #[test]
    fn input_mode_switches_live_and_a_pause_holds_both_ways() {
        let mut rig = rig(Input::Drop);
        rig.relay.set_input(Input::Forward);
        nix::unistd::write(&rig.ssh, b"typed").unwrap();
        let (got, _) = pump_until(&mut rig, true, 5);
        assert_eq!(got, b"typed");
        rig.relay.pause("pairshell: maria stepped away");
        let want = banner_bytes("pairshell: maria stepped away", 40, 120);
        let (got, _) = pump_until(&mut rig, false, want.len());
        assert_eq!(got, want);
        nix::unistd::write(&rig.ssh, b"paused").unwrap();
        nix::unistd::write(&rig.client, b"frozen").unwrap();
        for _ in 0..5 {
            rig.relay.step(Duration::from_millis(10)).unwrap();
        }
        rig.relay.resume();
        nix::unistd::write(&rig.client, b"back").unwrap();
        let (got, _) = pump_until(&mut rig, false, 4);
        assert_eq!(
            got, b"back",
            "output drawn during the pause reached the guest"
        );
        let mut buf = [0u8; 16];
        assert_eq!(
            nix::unistd::read(&rig.client, &mut buf),
            Err(Errno::EAGAIN),
            "input typed during the pause reached the client"
        );
        rig.relay.set_input(Input::Drop);
        nix::unistd::write(&rig.ssh, b"demoted").unwrap();
        nix::unistd::write(&rig.client, b"out").unwrap();
        pump_until(&mut rig, false, 3);
        assert_eq!(nix::unistd::read(&rig.client, &mut buf), Err(Errno::EAGAIN));
    }

    #[test]
    fn client_output_reaches_the_guest_in_order() {
        let mut rig = rig(Input::Forward);
        let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut sent = 0;
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while got.len() < big.len() && Instant::now() < until {
            if sent < big.len() {
                if let Ok(n) = nix::unistd::write(&rig.client, &big[sent..]) {
                    sent += n;
                }
            }
            rig.relay.step(Duration::from_millis(5)).unwrap();
            let mut buf = [0u8; 65536];
            if let Ok(n) = nix::unistd::read(&rig.ssh, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got.len(), big.len());
        assert!(got == big, "output was reordered or changed");
    }

    #[test]
    fn the_guests_size_reaches_the_inner_pty_and_follows_it() {
        let mut rig = rig(Input::Forward);
        let size = window_size(rig.client.as_fd()).unwrap();
        assert_eq!((size.ws_col, size.ws_row), (120, 40));
        let bigger = Winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        set_window_size(rig.relay.guest.as_fd(), &bigger).unwrap();
        rig.relay.resize();
        let size = window_size(rig.client.as_fd()).unwrap();
        assert_eq!((size.ws_col, size.ws_row), (200, 50));
        rig.relay.step(Duration::ZERO).unwrap();
    }

    #[test]
    fn guest_hang_up_is_reported_once() {
        let Rig {
            mut relay,
            ssh,
            client,
        } = rig(Input::Forward);
        drop(ssh);
        let mut events = Vec::new();
        for _ in 0..5 {
            events.extend(relay.step(Duration::from_millis(10)).unwrap());
        }
        assert_eq!(events, [Event::GuestGone]);
        drop(client);
    }

    #[test]
    fn client_gone_is_reported_and_its_last_words_drained() {
        let Rig {
            mut relay,
            ssh,
            client,
        } = rig(Input::Forward);
        nix::unistd::write(&client, b"[detached]").unwrap();
        drop(client);
        relay.drain(Duration::from_secs(1));
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(&ssh, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"[detached]");
        let events = relay.step(Duration::from_millis(50)).unwrap();
        assert_eq!(events, [Event::ClientClosed]);
    }

    #[test]
    fn the_guests_terminal_mode_is_restored() {
        let guest = nix::pty::openpty(None, None).unwrap();
        let before = termios::tcgetattr(&guest.slave).unwrap();
        let probe = guest.slave.try_clone().unwrap();
        let (master, _slave) = inner_pty().unwrap();
        let relay = Relay::new(guest.slave, master, None, Input::Forward).unwrap();
        let raw = termios::tcgetattr(&probe).unwrap();
        assert_ne!(raw.local_flags, before.local_flags, "not made raw");
        drop(relay);
        let after = termios::tcgetattr(&probe).unwrap();
        assert_eq!(after.local_flags, before.local_flags);
        assert_eq!(after.input_flags, before.input_flags);
    }
}
