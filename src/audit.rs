//! The audit trail: one syslog line per decision.
//!
//! RFC 3164 datagrams, facility authpriv, ident `pairshell`, sent to the
//! socket the config names (normally `/dev/log`). Each line is `key=value`
//! pairs; a value that is not plainly safe is double-quoted with `\"`, `\\`
//! and `\xNN` escapes, so a guest's request can never forge a field, break
//! a line, or put terminal escapes into an admin's log viewer.
//! `grep guest=alice` is then one guest's whole trail.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::FlockArg;

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// How serious an event is, mapped to syslog severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Joins, leaves, host actions.
    Notice,
    /// Refusals.
    Warning,
}

/// One audit line under construction.
#[derive(Debug)]
#[must_use]
pub(crate) struct Event {
    severity: Severity,
    line: String,
}

impl Event {
    pub(crate) fn new(name: &str) -> Event {
        let severity = if name == "deny" {
            Severity::Warning
        } else {
            Severity::Notice
        };
        Event {
            severity,
            line: format!("event={}", escape(name)),
        }
    }

    /// Add `key=value`; the value is escaped as needed.
    pub(crate) fn field(mut self, key: &str, value: impl AsRef<str>) -> Event {
        let _ = write!(self.line, " {key}={}", escape(value.as_ref()));
        self
    }

    /// Add `key=value` for raw bytes (the guest's request may not be UTF-8).
    pub(crate) fn field_bytes(mut self, key: &str, value: &[u8]) -> Event {
        let _ = write!(self.line, " {key}={}", escape_bytes(value));
        self
    }

    /// Add `key=value` when there is a value.
    pub(crate) fn opt(self, key: &str, value: Option<impl AsRef<str>>) -> Event {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    #[cfg(test)]
    pub(crate) fn line(&self) -> &str {
        &self.line
    }
}

use crate::core::text::is_plain;
pub(crate) use crate::core::text::{escape, escape_bytes, printable};

/// Reads a line's `key=value` pairs back, undoing [`escape`]; values are
/// bytes, since `\xNN` may stand for any byte.
///
/// This is what `pairshell log GUEST` compares with, rather than grep's
/// substring: `guest=al` is inside `guest=alice`, and a guest's request can
/// carry the text `guest=al` (written quoted, `request="x guest=al"`).
/// `None` when the text is not in the shape [`Event`] writes: a key other
/// than `[a-z0-9_]+`, a bare value that [`escape`] would have quoted, a raw
/// control byte or an unknown escape inside quotes, a key given twice.
pub(crate) fn parse_fields(message: &str) -> Option<Vec<(&str, Vec<u8>)>> {
    let mut fields: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut rest = message;
    loop {
        let (key, after) = rest.split_once('=')?;
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok || fields.iter().any(|(k, _)| *k == key) {
            return None;
        }
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                let bare = &after.as_bytes()[..end];
                if !is_plain(bare) {
                    return None;
                }
                (bare.to_vec(), &after[end..])
            }
        };
        fields.push((key, value));
        if after.is_empty() {
            return Some(fields);
        }
        rest = after.strip_prefix(' ')?;
    }
}

/// The inside of a quoted value, up to its closing quote: the value and
/// what follows the quote.
fn unquote(text: &str) -> Option<(Vec<u8>, &str)> {
    let bytes = text.as_bytes();
    let mut value = Vec::new();
    let mut i = 0;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some((value, &text[i + 1..])),
            b'\\' => {
                match *bytes.get(i + 1)? {
                    b'"' => value.push(b'"'),
                    b'\\' => value.push(b'\\'),
                    b'x' => {
                        let hex = text.get(i + 2..i + 4)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        value.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    _ => return None,
                }
                i += 2;
            }
            b @ 0x20..=0x7e => {
                value.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
}

/// Where audit lines go, and whether failing to write one stops a login.
pub(crate) struct Audit {
    socket: PathBuf,
    required: bool,
    logger: Option<Logger<LoggerBackend, Formatter3164>>,
    /// Where lines that could not be sent wait for the next line that can
    /// (see [`Audit::with_gap_file`]).
    gap_file: Option<PathBuf>,
    /// Whether this process has already looked for waiting lines.
    gap_checked: bool,
    /// Most refusals of one key written per minute; 0 for no limit.
    refusals_per_minute: u64,
}

/// The window of `audit.refusals_per_minute`, in seconds.
pub(crate) const REFUSAL_WINDOW_S: i64 = 60;

/// One key's refusals in the current window: `start count suppressed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefusalCount {
    pub(crate) start: i64,
    pub(crate) count: u64,
    /// Refusals not written since the last line that was.
    pub(crate) suppressed: u64,
}

impl RefusalCount {
    fn parse(text: &str) -> Option<RefusalCount> {
        let mut f = text.split_ascii_whitespace().map(str::parse::<i64>);
        let (start, count, suppressed) = (f.next()?.ok()?, f.next()?.ok()?, f.next()?.ok()?);
        Some(RefusalCount {
            start,
            count: u64::try_from(count).ok()?,
            suppressed: u64::try_from(suppressed).ok()?,
        })
    }

    fn text(&self) -> String {
        format!("{} {} {}\n", self.start, self.count, self.suppressed)
    }
}

/// Whether one more refusal at `now` is written, and how many left-out
/// refusals that line must report: `(write, report_suppressed, next)`.
///
/// Guards against: a guest (or a script with a guest's key) flooding the
/// trail, and the admin's log with it, with refused requests.
pub(crate) fn judge_refusal(
    last: Option<RefusalCount>,
    now: i64,
    limit: u64,
) -> (bool, u64, RefusalCount) {
    let fresh = RefusalCount {
        start: now,
        count: 1,
        suppressed: 0,
    };
    match last {
        // A new window (or a clock set back): write, reporting what the
        // last window left out.
        Some(l) if now < l.start || now - l.start >= REFUSAL_WINDOW_S => {
            (true, l.suppressed, fresh)
        }
        None => (true, 0, fresh),
        Some(l) if l.count < limit => (
            true,
            l.suppressed,
            RefusalCount {
                count: l.count + 1,
                suppressed: 0,
                ..l
            },
        ),
        Some(l) => (
            false,
            0,
            RefusalCount {
                suppressed: l.suppressed + 1,
                ..l
            },
        ),
    }
}

/// How long to wait for another process's hold on the gap file.
const LOCK_WAIT: Duration = Duration::from_millis(200);
/// Largest gap file kept: past it, lost lines are only counted.
const MAX_GAP_FILE: u64 = 256 << 10;

/// A line that had to be written and could not be.
#[derive(Debug)]
pub(crate) struct AuditUnavailable {
    pub(crate) socket: PathBuf,
    pub(crate) reason: String,
}

impl Audit {
    pub(crate) fn new(socket: &Path, required: bool) -> Audit {
        Audit {
            socket: socket.to_path_buf(),
            required,
            logger: None,
            gap_file: None,
            gap_checked: false,
            refusals_per_minute: 0,
        }
    }

    /// Keep lines that cannot be sent in `path`, and send them, after an
    /// `event=audit-gap` line that says how many and since when, with the
    /// next line that can be sent (by this process or a later one).
    ///
    /// Guards against: a syslog daemon that is restarted or stopped while
    /// guests are connected silently losing their `leave` lines. The file
    /// must be a regular file owned by this user (opened with O_NOFOLLOW),
    /// so a link planted in its place cannot make pairshell write elsewhere
    /// or replay someone else's lines.
    pub(crate) fn with_gap_file(mut self, path: PathBuf) -> Audit {
        self.gap_file = Some(path);
        self
    }

    /// See [`Audit::write_refusal`].
    pub(crate) fn with_refusal_limit(mut self, per_minute: u64) -> Audit {
        self.refusals_per_minute = per_minute;
        self
    }

    /// Audit to `/dev/log`: used before the config is known. Treated as
    /// required, so a line that cannot be sent is dropped rather than shown
    /// to the guest (it may hold config details meant for the admin).
    pub(crate) fn fallback() -> Audit {
        Audit::new(Path::new("/dev/log"), true)
    }

    /// Write one line. When it cannot be sent: if audit is required, the
    /// error is returned (the caller refuses the login); otherwise the line
    /// goes to stderr.
    pub(crate) fn write(&mut self, event: Event) -> Result<(), AuditUnavailable> {
        match self.send_and_replay(&event) {
            Ok(()) => Ok(()),
            Err(reason) if self.required => Err(AuditUnavailable {
                socket: self.socket.clone(),
                reason,
            }),
            Err(_) => {
                eprintln!("pairshell: audit: {}", event.line);
                Ok(())
            }
        }
    }

    /// Write a refusal of the key with fingerprint `key`, unless that key's
    /// refusals are over the limit in this minute; a line
    /// written after some were left out carries `suppressed=N`. The counts
    /// live beside the gap file, one small file per key, owned by the pair
    /// account; without a gap file (no config yet) every line is written.
    pub(crate) fn write_refusal(&mut self, event: Event, key: Option<&str>) {
        let counts = key
            .zip(self.gap_file.as_ref().and_then(|g| g.parent()))
            .filter(|_| self.refusals_per_minute > 0);
        let Some((key, dir)) = counts else {
            return self.write_best_effort(event);
        };
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!(".refusals-{name}"));
        let file = crate::sys::fs::no_follow()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .ok()
            .filter(|f| {
                f.metadata()
                    .is_ok_and(|m| crate::sys::trust::is_own_file(&m) && m.len() < 256)
            });
        let Some(mut file) = file else {
            return self.write_best_effort(event);
        };
        let _lock =
            crate::sys::trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT);
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let now = jiff::Timestamp::now().as_second();
        let (write, suppressed, next) =
            judge_refusal(RefusalCount::parse(&text), now, self.refusals_per_minute);
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(next.text().as_bytes());
        if write {
            let event = if suppressed > 0 {
                event.field("suppressed", suppressed.to_string())
            } else {
                event
            };
            self.write_best_effort(event);
        }
    }

    /// Write a line whose loss must not change the outcome (a refusal is a
    /// refusal either way). When it cannot be sent it waits in the gap file,
    /// if there is one, and goes to stderr if audit is optional; a required
    /// audit's refusals stay off the guest's screen (they may hold details
    /// meant for the admin).
    pub(crate) fn write_best_effort(&mut self, event: Event) {
        let _ = self.write(event);
    }

    /// Write a line that concerns only the person on the terminal (their
    /// own `leave`): when it cannot be sent it also goes to stderr, so the
    /// guest keeps a copy, and waits in the gap file for the admin.
    pub(crate) fn write_or_show(&mut self, event: Event) {
        if self.send_and_replay(&event).is_err() {
            eprintln!("pairshell: audit: {}", event.line);
        }
    }

    /// Send `event`, first sending any lines that earlier sends lost. A line
    /// that cannot be sent is kept in the gap file.
    fn send_and_replay(&mut self, event: &Event) -> Result<(), String> {
        if !self.gap_checked {
            self.gap_checked = true;
            self.replay_gap();
        }
        match self.send(event) {
            Ok(()) => Ok(()),
            Err(reason) => {
                self.keep_in_gap(event);
                self.gap_checked = false;
                Err(reason)
            }
        }
    }

    fn open_gap(&self, create: bool) -> Option<File> {
        let path = self.gap_file.as_ref()?;
        let file = crate::sys::fs::no_follow()
            .read(true)
            .append(true)
            .create(create)
            .mode(0o600)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok()?;
        if !crate::sys::trust::is_own_file(&meta) {
            return None;
        }
        // Guards against: a host (every host is in the group that owns the
        // directory) reading lost lines of other hosts' guests. A gap file
        // from an older version, group-readable, is closed up first.
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .ok()?;
        }
        Some(file)
    }

    fn keep_in_gap(&self, event: &Event) {
        let Some(mut file) = self.open_gap(true) else {
            return;
        };
        // Appends are whole lines; the lock only keeps them out of a replay
        // that is reading and about to empty the file.
        let _lock =
            crate::sys::trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT);
        let full = file.metadata().map_or(true, |m| m.len() >= MAX_GAP_FILE);
        let now = jiff::Timestamp::now().as_second();
        let line = if full {
            format!("{now} -\n")
        } else {
            format!("{now} {}\n", event.line)
        };
        let _ = file.write_all(line.as_bytes());
    }

    /// Send the lines waiting in the gap file, after one `event=audit-gap`
    /// line; each replayed line gets `lost_at=` (when it was first sent).
    /// Lines that cannot be sent now stay for next time.
    fn replay_gap(&mut self) {
        let Some(mut file) = self.open_gap(false) else {
            return;
        };
        if file.metadata().map_or(true, |m| m.len() == 0) {
            return;
        }
        // Another process may be replaying: it will send them.
        let Some(_lock) =
            crate::sys::trust::lock_briefly(&file, FlockArg::LockExclusiveNonblock, LOCK_WAIT)
        else {
            return;
        };
        let mut text = String::new();
        if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
            return;
        }
        let gap = parse_gap(&text);
        if gap.lost == 0 {
            let _ = file.set_len(0);
            return;
        }
        let report = Event::new("audit-gap")
            .field("lost", gap.lost.to_string())
            .field("unrecorded", gap.unrecorded.to_string())
            .opt("first_lost", stamp(gap.first))
            .opt("last_lost", stamp(gap.last));
        if self.send(&report).is_err() {
            return;
        }
        for (at, line) in &gap.lines {
            let event = Event {
                severity: Severity::Notice,
                line: line.clone(),
            }
            .opt("lost_at", stamp(Some(*at)));
            if self.send(&event).is_err() {
                break;
            }
        }
        let _ = file.set_len(0);
    }

    fn send(&mut self, event: &Event) -> Result<(), String> {
        // One retry with a fresh socket: the syslog daemon may have been
        // restarted during a long session, leaving our socket connected to
        // nothing.
        for _ in 0..2 {
            if self.logger.is_none() {
                self.logger = Some(self.connect()?);
            }
            let logger = self.logger.as_mut().expect("just connected");
            let sent = match event.severity {
                Severity::Notice => logger.notice(&event.line),
                Severity::Warning => logger.warning(&event.line),
            };
            match sent {
                Ok(()) => return Ok(()),
                Err(_) => self.logger = None,
            }
        }
        Err(format!("cannot send to {}", self.socket.display()))
    }

    fn connect(&self) -> Result<Logger<LoggerBackend, Formatter3164>, String> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "pairshell".into(),
            pid: std::process::id(),
        };
        syslog::unix_custom(formatter, &self.socket)
            .map_err(|e| format!("cannot connect to {}: {e}", self.socket.display()))
    }
}

/// What the gap file holds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Gap {
    /// Lines lost in all, kept or not.
    lost: u64,
    /// Lost lines the file had no room for.
    unrecorded: u64,
    first: Option<i64>,
    last: Option<i64>,
    /// (when, line) of each kept line.
    lines: Vec<(i64, String)>,
}

/// Parse the gap file: `SECONDS LINE` per kept line, `SECONDS -` per line
/// there was no room for. Anything else (a torn last line) counts as lost
/// and unrecorded, and is never sent: only lines this module wrote, which
/// `escape` keeps free of control characters, go back to syslog.
fn parse_gap(text: &str) -> Gap {
    let mut gap = Gap::default();
    for raw in text.lines() {
        gap.lost += 1;
        let parsed = raw.split_once(' ').and_then(|(t, line)| {
            let t: i64 = t.parse().ok()?;
            let sane = line.starts_with("event=") && !line.bytes().any(|b| b.is_ascii_control());
            Some((t, sane.then(|| line.to_string())))
        });
        match parsed {
            Some((t, line)) => {
                gap.first = Some(gap.first.map_or(t, |f| f.min(t)));
                gap.last = Some(gap.last.map_or(t, |l| l.max(t)));
                match line {
                    Some(line) => gap.lines.push((t, line)),
                    None => gap.unrecorded += 1,
                }
            }
            None => gap.unrecorded += 1,
        }
    }
    gap
}

fn stamp(secs: Option<i64>) -> Option<String> {
    secs.and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    /// Pins row 26's counting rule (`judge_refusal`): past the cap a key's
    /// refusals are counted, not written, and the next window's first line
    /// reports them (`suppressed=N`). That `write_refusal` applies it is
    /// `holes::flood_of_one_keys_refusals_is_capped_in_the_trail`.
    #[test]
    fn a_flood_of_one_keys_refusals_is_capped_and_the_next_window_reports_it() {
        let mut last = None;
        let mut written = 0;
        for i in 0..200 {
            let (write, reported, next) = judge_refusal(last, 1000 + i / 20, 10);
            written += u64::from(write);
            assert_eq!(reported, 0);
            last = Some(next);
        }
        assert_eq!(written, 10);
        let (write, reported, next) = judge_refusal(last, 1000 + REFUSAL_WINDOW_S, 10);
        assert!(write);
        assert_eq!(reported, 190);
        assert_eq!(next.suppressed, 0);
        // A clock set back starts a new window rather than silencing a key.
        let (write, _, _) = judge_refusal(last, 10, 10);
        assert!(write);
    }

    #[test]
    fn refusal_counts_round_trip_and_junk_is_a_fresh_start() {
        let c = RefusalCount {
            start: 5,
            count: 3,
            suppressed: 7,
        };
        assert_eq!(RefusalCount::parse(&c.text()), Some(c));
        assert_eq!(RefusalCount::parse("x y z"), None);
        assert_eq!(RefusalCount::parse("1 -2 3"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_pass_unchanged() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("SHA256:abc+/def"), "SHA256:abc+/def");
        assert_eq!(escape("203.0.113.5"), "203.0.113.5");
    }

    #[test]
    fn log_injection_is_escaped() {
        // A request that tries to end the line and forge a second event.
        assert_eq!(
            escape("api\nevent=join guest=root"),
            "\"api\\x0aevent=join guest=root\""
        );
        assert_eq!(escape("a b"), "\"a b\"");
        assert_eq!(escape("x\" guest=\"root"), "\"x\\\" guest=\\\"root\"");
        assert_eq!(escape("\x1b[31m"), "\"\\x1b[31m\"");
        assert_eq!(escape("a\\b"), "\"a\\\\b\"");
        assert_eq!(escape(""), "\"\"");
        assert_eq!(escape("é"), "\"\\xc3\\xa9\"");
        assert_eq!(escape("k=v"), "\"k=v\"");
    }

    #[test]
    fn event_builds_key_value_line() {
        let e = Event::new("deny")
            .field("guest", "alice")
            .field("request", "api; id")
            .opt("host", None::<&str>)
            .opt("session", Some("api"));
        assert_eq!(
            e.line(),
            "event=deny guest=alice request=\"api; id\" session=api"
        );
        assert_eq!(e.severity, Severity::Warning);
    }

    #[test]
    fn parse_fields_undoes_escape() {
        let tricky = [
            "alice",
            "api; id",
            "x\" guest=\"root",
            "a\\b",
            "",
            "é",
            "k=v",
            "api\nevent=join guest=root",
            "\x1b[31m",
        ];
        for value in tricky {
            let line = Event::new("deny")
                .field("guest", "al")
                .field("request", value)
                .field("reason", "bad-request");
            let fields = parse_fields(line.line()).unwrap_or_else(|| panic!("{}", line.line()));
            let got: Vec<(&str, &[u8])> = fields.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            assert_eq!(
                got,
                [
                    ("event", b"deny".as_slice()),
                    ("guest", b"al"),
                    ("request", value.as_bytes()),
                    ("reason", b"bad-request"),
                ],
                "{}",
                line.line()
            );
        }
        let raw = Event::new("deny").field_bytes("request", b"\xff\x00");
        assert_eq!(parse_fields(raw.line()).unwrap()[1].1, b"\xff\x00");
    }

    #[test]
    fn parse_fields_refuses_what_escape_never_writes() {
        for bad in [
            "",
            "event",
            "event=join guest=alice guest=bob",
            "event=join  guest=alice",
            "event=join guest=al ice",
            "event=join guest=al\"ice",
            "event=join Guest=alice",
            "event=join guest=\"alice",
            "event=join guest=\"alice\"x",
            "event=join guest=\"\\q\"",
            "event=join guest=\"\\x4\"",
            "event=join guest=\"\\xzz\"",
            "event=join guest=\"a\tb\"",
            "event=join guest=",
            "event=join ",
        ] {
            assert!(parse_fields(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn unreachable_socket_is_an_error_only_when_required() {
        let dir = std::env::temp_dir().join(format!("pairshell-audit-{}", std::process::id()));
        let missing = dir.join("nothing-here.sock");
        let mut required = Audit::new(&missing, true);
        assert!(required.write(Event::new("join")).is_err());
        let mut optional = Audit::new(&missing, false);
        assert!(optional.write(Event::new("join")).is_ok());
    }

    #[test]
    fn lines_reach_a_datagram_receiver_as_rfc3164_authpriv() {
        use std::os::unix::net::UnixDatagram;
        let dir = std::env::temp_dir().join(format!("pairshell-audit-rx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut audit = Audit::new(&path, true);
        audit
            .write(Event::new("join").field("guest", "alice"))
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = rx.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // authpriv (10) * 8 + notice (5) = 85
        assert!(msg.starts_with("<85>"), "{msg}");
        assert!(
            msg.ends_with(&format!(
                "pairshell[{}]: event=join guest=alice",
                std::process::id()
            )),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn forged_gap_file_line_with_a_newline_or_control_bytes_is_never_replayed() {
        let gap = parse_gap(
            "100 event=leave guest=alice\n\
             torn\n\
             101 -\n\
             102 event=join guest=\x1b[31mroot\n\
             103 not-an-event\n\
             104 event=leave guest=bob\n",
        );
        assert_eq!(gap.lost, 6);
        assert_eq!(gap.unrecorded, 4);
        assert_eq!(gap.first, Some(100));
        assert_eq!(gap.last, Some(104));
        assert_eq!(
            gap.lines,
            vec![
                (100, "event=leave guest=alice".to_string()),
                (104, "event=leave guest=bob".to_string())
            ]
        );
    }

    #[test]
    fn lines_lost_while_syslog_is_down_are_sent_after_an_audit_gap_line() {
        use std::os::unix::net::UnixDatagram;
        let dir = std::env::temp_dir().join(format!("pairshell-audit-gap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let gap = dir.join(".audit-gap");

        // Syslog is down: the line waits in the gap file.
        let mut first = Audit::new(&path, true).with_gap_file(gap.clone());
        first.write_or_show(Event::new("leave").field("guest", "alice"));
        assert!(std::fs::read_to_string(&gap)
            .unwrap()
            .ends_with(" event=leave guest=alice\n"));

        // A later process, with syslog back: the gap, the lost line, its own.
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut later = Audit::new(&path, true).with_gap_file(gap.clone());
        later
            .write(Event::new("join").field("guest", "bob"))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let n = rx.recv(&mut buf).unwrap();
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            got.push(msg.split_once("]: ").unwrap().1.to_string());
        }
        assert!(
            got[0].starts_with("event=audit-gap lost=1 unrecorded=0 first_lost="),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("event=leave guest=alice lost_at="),
            "{got:?}"
        );
        assert_eq!(got[2], "event=join guest=bob");
        assert_eq!(std::fs::metadata(&gap).unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gap_file_that_is_a_symlink_is_neither_written_nor_replayed() {
        let dir = std::env::temp_dir().join(format!("pairshell-audit-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let gap = dir.join(".audit-gap");
        std::os::unix::fs::symlink(&target, &gap).unwrap();
        let mut audit = Audit::new(&dir.join("no.sock"), true).with_gap_file(gap);
        audit.write_best_effort(Event::new("leave").field("guest", "alice"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
