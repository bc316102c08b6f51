//! The guest's terminal read byte by byte, for latency figures.
//!
//! [`super::Tty`] reads through expectrl every few milliseconds and strips
//! escapes from everything so far: fine for a test's assertions, too coarse
//! for a keystroke that comes back in a millisecond or two. [`RawTty`] runs
//! its command on the same kind of pty (expectrl's, 80x24) but reads the pty
//! master itself, through a descriptor of its own: `poll(2)` until it is
//! readable, then `read(2)` in 64 KiB chunks, so a byte is seen within
//! microseconds of reaching the terminal. Each read is stamped with an
//! [`Instant`] as soon as it returns, and a wait returns the stamp of the
//! read that completed what it waited for.
//!
//! Waits look for text in what the terminal *printed*: every byte but
//! escape sequences and control characters (CR and LF included), kept as
//! the reads come. tmux moves the cursor in the middle of a line when it
//! redraws (`\r` and a cursor motion, after a burst it could not send), so
//! a marker can reach the terminal in pieces with motions between them;
//! printed, the pieces join up again.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use memchr::memmem;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::strip_ansi;

/// A process (ssh) on a pty whose master this side reads directly.
pub struct RawTty {
    name: String,
    /// Owns the process (and kills it on drop); its own stream is unused.
    session: expectrl::Session,
    /// A descriptor of the pty master, read and written directly.
    master: File,
    /// Everything the terminal received, escapes included.
    out: Vec<u8>,
    /// What it printed: `out` without escape sequences and control bytes.
    printed: Vec<u8>,
    escape: Escape,
    /// One read's worth.
    buf: Vec<u8>,
    /// Whether the slave side is gone (read gave EOF or EIO).
    closed: bool,
    exit: Option<i32>,
}

impl RawTty {
    pub fn spawn(name: &str, cmd: Command) -> RawTty {
        let session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        let master = session
            .get_process()
            .get_raw_handle()
            .expect("a descriptor of the pty master");
        RawTty {
            name: name.to_string(),
            session,
            master,
            out: Vec::with_capacity(1 << 16),
            printed: Vec::with_capacity(1 << 16),
            escape: Escape::Ground,
            buf: vec![0; CHUNK],
            closed: false,
            exit: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `bytes` to the terminal, as typed keys, in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
    }

    /// Everything received so far, escapes included.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// How many bytes the terminal received so far.
    pub fn received(&self) -> usize {
        self.out.len()
    }

    /// A position in what was printed, for [`RawTty::wait_for`].
    pub fn mark(&self) -> usize {
        self.printed.len()
    }

    /// What was printed since `mark`.
    pub fn printed_since(&self, mark: usize) -> &[u8] {
        &self.printed[mark.min(self.printed.len())..]
    }

    /// Everything received so far, escapes removed ([`strip_ansi`]), lines
    /// kept apart: for diagnostics.
    pub fn text(&self) -> String {
        strip_ansi(&self.out)
    }

    /// Waits at most `timeout` for the terminal to be readable and reads
    /// one chunk. Returns how many bytes came (0: nothing in time, or the
    /// other side is closed).
    fn read_chunk(&mut self, timeout: Duration) -> usize {
        if self.closed {
            return 0;
        }
        if !poll_readable(self.master.as_fd(), timeout).expect("poll the pty") {
            return 0;
        }
        let got = loop {
            match self.master.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO: the process closed its end of the pty.
                Err(_) => break 0,
            }
        };
        let chunk = &self.buf[..got];
        self.out.extend_from_slice(chunk);
        for &b in chunk {
            if self.escape.feed(b) {
                self.printed.push(b);
            }
        }
        if got == 0 {
            self.closed = true;
        }
        got
    }

    /// Reads until `needle` has been printed at or after `mark`, for at
    /// most `timeout`. Returns when the read that completed it returned
    /// (`None` on timeout, or when the other side closed first). Each read
    /// is searched once (with an overlap of the needle's length), so
    /// megabytes of output cost one pass.
    pub fn wait_for(&mut self, mark: usize, needle: &[u8], timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut at = Instant::now();
        let mut scanned = mark;
        loop {
            let start = scanned.saturating_sub(needle.len()).max(mark);
            if start < self.printed.len() && memmem::find(&self.printed[start..], needle).is_some()
            {
                return Some(at);
            }
            scanned = self.printed.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.closed {
                return None;
            }
            if self.read_chunk(left) > 0 {
                at = Instant::now();
            }
        }
    }

    /// Reads until nothing has arrived for `quiet` (or `max` has passed);
    /// returns how long that took.
    pub fn settle(&mut self, quiet: Duration, max: Duration) -> Duration {
        let start = Instant::now();
        let deadline = start + max;
        while !self.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if self.read_chunk(quiet.min(deadline - now)) == 0 {
                break;
            }
        }
        start.elapsed()
    }

    /// tmux's prefix (C-b), then `key`, with pauses longer than tmux's
    /// `assume-paste-time` around the prefix (see [`super::Tty::tmux_key`]).
    pub fn tmux_key(&mut self, key: &[u8]) {
        self.settle(Duration::from_millis(150), Duration::from_millis(1000));
        self.send(b"\x02");
        self.settle(Duration::from_millis(150), Duration::from_millis(1000));
        self.send(key);
    }

    /// Waits until the process exits, reading its output meanwhile; returns
    /// its exit code (128+signal when killed), or `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while self.exit.is_none() {
            if !self.closed {
                self.read_chunk(Duration::from_millis(20));
            }
            match self.session.get_process().status() {
                Ok(expectrl::WaitStatus::Exited(_, code)) => self.exit = Some(code),
                Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => self.exit = Some(128 + sig as i32),
                Ok(_) => {}
                Err(_) => break,
            }
            if Instant::now() >= deadline {
                break;
            }
            if self.closed {
                thread::sleep(Duration::from_millis(5));
            }
        }
        self.exit
    }
}

impl Drop for RawTty {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "----- terminal of {} -----\n{}\n----------",
                self.name,
                self.text()
            );
        }
        // expectrl's PtyProcess kills the child (SIGHUP … SIGKILL) on drop.
    }
}

/// The bytes of `stream` a terminal prints (escape sequences and control
/// characters dropped), as [`RawTty::printed_since`] keeps them: for output
/// recorded elsewhere, such as a recording's `o` events.
pub fn printed(stream: &[u8]) -> Vec<u8> {
    let mut escape = Escape::Ground;
    stream.iter().copied().filter(|&b| escape.feed(b)).collect()
}

/// Where the terminal's byte stream is, for telling printed bytes from the
/// rest (ECMA-48, as much of it as tmux writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    Ground,
    /// After ESC.
    Esc,
    /// After ESC and an intermediate byte (`ESC ( B`): one more byte.
    EscIntermediate,
    /// A control sequence (`ESC [`), up to its final byte.
    Csi,
    /// A control string (OSC, DCS, APC, PM, SOS), up to BEL or ST.
    String,
    /// ESC inside a control string: `\` ends it.
    StringEsc,
}

impl Escape {
    /// Takes one byte; true when it was printed.
    fn feed(&mut self, b: u8) -> bool {
        const ESC: u8 = 0x1b;
        *self = match (*self, b) {
            (_, ESC) if *self != Escape::String => Escape::Esc,
            (Escape::Ground, _) => return b >= 0x20 && b != 0x7f,
            (Escape::Esc, b'[') => Escape::Csi,
            (Escape::Esc, b']' | b'P' | b'_' | b'^' | b'X') => Escape::String,
            (Escape::Esc, 0x20..=0x2f) => Escape::EscIntermediate,
            (Escape::Esc | Escape::EscIntermediate, _) => Escape::Ground,
            (Escape::Csi, 0x40..=0x7e) => Escape::Ground,
            (Escape::Csi, _) => Escape::Csi,
            (Escape::String, 0x07) => Escape::Ground,
            (Escape::String, ESC) => Escape::StringEsc,
            (Escape::String, _) => Escape::String,
            (Escape::StringEsc, b'\\') => Escape::Ground,
            (Escape::StringEsc, _) => Escape::String,
        };
        false
    }
}

/// Read size: larger than what tmux writes at once, so a burst is one read.
const CHUNK: usize = 64 * 1024;

/// Whether `fd` becomes readable (or hung up) within `timeout`.
fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    // Round up, so a short timeout is not a busy loop of zero-time polls.
    let ms = PollTimeout::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, ms) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
