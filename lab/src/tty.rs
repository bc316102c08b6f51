//! The guest's terminal: a process (ssh) in a pty, read through expectrl.

use super::*;

// ---------------------------------------------------------------------------
// The guest's terminal
// ---------------------------------------------------------------------------

/// A process (ssh) in a pty. Everything it prints is kept; [`Tty::text`] is
/// that output with terminal escape sequences removed.
pub struct Tty {
    pub(crate) name: String,
    pub(crate) session: expectrl::Session,
    pub(crate) raw: Vec<u8>,
    pub(crate) exit: Option<i32>,
}

impl Tty {
    pub fn spawn(name: &str, cmd: Command) -> Tty {
        let session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        Tty {
            name: name.to_string(),
            session,
            raw: Vec::new(),
            exit: None,
        }
    }

    /// Reads whatever the process printed since the last call.
    pub fn pump(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: nothing more now; EIO: the other side is closed.
                Err(_) => break,
            }
        }
    }

    /// Everything printed so far, escape sequences removed.
    /// Everything the terminal received so far, escape sequences included.
    pub fn raw_bytes(&mut self) -> Vec<u8> {
        self.pump();
        self.raw.clone()
    }

    pub fn text(&mut self) -> String {
        self.pump();
        strip_ansi(&self.raw)
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&mut self, needle: &str) -> Result<(), String> {
        self.wait_until(WAIT, |t| t.contains(needle)).map_err(|t| {
            format!(
                "{}: {needle:?} never showed; output so far:\n{t}",
                self.name
            )
        })
    }

    /// Waits until `pred` holds of the output; on timeout returns the output.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text();
            if pred(&t) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(t);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends bytes as typed keys.
    pub fn send(&mut self, bytes: &[u8]) {
        self.session.send(bytes).expect("write to the pty");
    }

    /// A position in the output, for [`Tty::text_since`].
    pub fn mark(&mut self) -> usize {
        self.pump();
        self.raw.len()
    }

    /// The output since `mark`, escape sequences removed.
    pub fn text_since(&mut self, mark: usize) -> String {
        self.pump();
        strip_ansi(&self.raw[mark.min(self.raw.len())..])
    }

    /// Types tmux's prefix (C-b), then `key`. The pauses (before the prefix
    /// too, for keys typed just before) matter: tmux takes keys that arrive
    /// within `assume-paste-time` (1 ms) of each other for a paste and does
    /// not look them up in its key tables.
    pub fn tmux_key(&mut self, key: &[u8]) {
        thread::sleep(Duration::from_millis(150));
        self.send(b"\x02");
        thread::sleep(Duration::from_millis(150));
        self.send(key);
    }

    /// Runs `command` at tmux's command prompt (C-b :), as a guest would.
    ///
    /// The prompt opening shows as the cursor moved to the status line's
    /// first column and a `:` drawn there (`ESC[ROW;1H:`). A key can go
    /// missing under load, so each step is retried (Escape closes a prompt
    /// left open; the pause after it is longer than tmux's escape-time, so
    /// the next C-b is not read as Meta-C-b). Callers assert the command's
    /// effect, so a retry cannot make a test pass by accident.
    pub fn tmux_command(&mut self, command: &str) {
        let head: String = command.chars().take(20).collect();
        for _attempt in 0..3 {
            let mark = self.mark();
            self.tmux_key(b":");
            let opened = poll(Duration::from_secs(3), || {
                self.pump();
                let since = &self.raw[mark.min(self.raw.len())..];
                since.windows(4).any(|w| w == b";1H:").then_some(())
            });
            if opened.is_none() {
                continue;
            }
            let mark = self.mark();
            self.send(command.as_bytes());
            let typed = poll(Duration::from_secs(3), || {
                self.text_since(mark).contains(&head).then_some(())
            });
            if typed.is_some() {
                thread::sleep(Duration::from_millis(150));
                self.send(b"\r");
                return;
            }
            self.send(b"\x1b");
            thread::sleep(Duration::from_millis(1000));
        }
        let text = self.text();
        panic!(
            "{}: could not type {head:?} at tmux's command prompt:\n{text}",
            self.name
        );
    }

    /// Waits until the process exits; returns its exit code (128+signal when
    /// killed), or `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        if self.exit.is_some() {
            return self.exit;
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            match self.session.get_process().status() {
                Ok(expectrl::WaitStatus::Exited(_, code)) => {
                    self.exit = Some(code);
                    break;
                }
                Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => {
                    self.exit = Some(128 + sig as i32);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.pump();
        self.exit
    }

    /// Whether the process is still running. (Asking reaps it when it has
    /// exited, so the exit code is kept for [`Tty::wait_exit`].)
    pub fn is_alive(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if thread::panicking() {
            let text = self.text();
            eprintln!("----- terminal of {} -----\n{text}\n----------", self.name);
        }
        // expectrl's PtyProcess kills the child (SIGHUP … SIGKILL) on drop.
    }
}

/// Removes terminal escape sequences (CSI, OSC, two-byte ESC sequences,
/// charset designations) and control characters other than `\n`; `\r` becomes
/// `\n` so that redrawn lines stay apart.
pub fn strip_ansi(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => match it.next() {
                Some('[') => {
                    // parameters and intermediates, then a final byte 0x40..=0x7e
                    for c in it.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') | Some('P') | Some('_') | Some('^') => {
                    // string until BEL or ST (ESC \)
                    while let Some(c) = it.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            it.next();
                            break;
                        }
                    }
                }
                Some('(') | Some(')') | Some('*') | Some('+') | Some('#') | Some('%') => {
                    it.next();
                }
                _ => {}
            },
            '\r' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
