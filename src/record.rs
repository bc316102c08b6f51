//! Session recordings: one asciicast v2 file per join at
//! `recordings_dir/HOST/SESSION/<UTC date>-<guest>-<pid>.cast`, written by
//! the pair account, readable by root alone; README's "Recordings" says what
//! is in them and who can read them.
//!
//! [`open`] makes the directories and the file ([`Recorder`] then writes
//! it for the relay); [`Cast::read`] reads one back for `replay` and
//! `typed`; [`dir_problem`] is `check`'s judgement of `recordings_dir`.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;
use serde_json::Value as Json;

/// Something that sees the session as it passes: what pairshell forwarded
/// from the guest, what the guest's terminal received, resizes. The relay
/// (`guest::relay`) wakes for [`Observer::due`] and then calls [`Observer::flush`].
pub(crate) trait Observer {
    /// Bytes forwarded to the client (never a read-only guest's).
    fn input(&mut self, bytes: &[u8]);
    /// Bytes written to the guest's terminal.
    fn output(&mut self, bytes: &[u8]);
    /// The guest's terminal is now `cols` by `rows`.
    fn resized(&mut self, cols: u16, rows: u16);
    /// A named moment (join, leave).
    fn marker(&mut self, label: &str);
    /// When [`Observer::flush`] is next wanted.
    fn due(&self) -> Option<Instant>;
    /// Write out what is held; says once that the observer stopped.
    fn flush(&mut self) -> Option<Stopped>;
}

/// Why an [`Observer`] stopped (a full disk, a size cap, an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stopped {
    pub(crate) reason: &'static str,
    pub(crate) detail: String,
}

/// Written out at least this often while something is buffered.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Written out at once past this much.
const FLUSH_AT: usize = 256 * 1024;

/// Who, where and how: the header's title and the file's name.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    pub(crate) guest: String,
    pub(crate) host: String,
    pub(crate) session: String,
    pub(crate) mode: &'static str,
    pub(crate) term: String,
    pub(crate) pid: u32,
}

/// The recording's file name: `<UTC date>-<guest>-<pid>.cast`, with a
/// date that sorts (`20261121T160211Z`).
pub(crate) fn file_name(meta: &Meta, now: Timestamp) -> String {
    let date = now.strftime("%Y%m%dT%H%M%SZ");
    format!("{date}-{}-{}.cast", meta.guest, meta.pid)
}

/// The guest named in a recording's file name (guest names may hold `-`,
/// the date and the pid cannot).
pub(crate) fn guest_of(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(".cast")?;
    let (_, rest) = stem.split_once('-')?;
    let (guest, pid) = rest.rsplit_once('-')?;
    (!guest.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(guest)
}

/// Why a directory under `recordings_dir` is not fit to hold recordings:
/// not a directory, not this account's, or open to group or other.
fn unfit(meta: &nix::sys::stat::FileStat, uid: u32) -> Option<String> {
    if meta.st_mode & nix::libc::S_IFMT != nix::libc::S_IFDIR {
        return Some("not a directory".into());
    }
    if meta.st_uid != uid {
        return Some(format!("owned by uid {}, not {uid}", meta.st_uid));
    }
    if meta.st_mode & 0o077 != 0 {
        return Some(format!(
            "mode {:o}: group or other may use it",
            meta.st_mode & 0o7777
        ));
    }
    None
}

fn opened_dir(at: Option<&OwnedFd>, path: &Path, uid: u32) -> Result<OwnedFd, Stopped> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match at {
        None => nix::fcntl::open(path, flags, FileMode::empty()),
        Some(dir) => nix::fcntl::openat(dir, path, flags, FileMode::empty()),
    }
    .map_err(|e| unwritable(path, e))?;
    let meta = nix::sys::stat::fstat(&fd).map_err(|e| unwritable(path, e))?;
    if let Some(why) = unfit(&meta, uid) {
        return Err(Stopped {
            reason: "unsafe-dir",
            detail: format!("{}: {why}", path.display()),
        });
    }
    Ok(fd)
}

fn unwritable(path: &Path, e: Errno) -> Stopped {
    Stopped {
        reason: if e == Errno::ENOSPC || e == Errno::EDQUOT {
            "disk-full"
        } else {
            "unwritable-dir"
        },
        detail: format!("{}: {}", path.display(), e.desc()),
    }
}

/// A subdirectory of `dir`, made 0700 if missing, checked once opened.
fn sub_dir(dir: &OwnedFd, name: &str, uid: u32) -> Result<OwnedFd, Stopped> {
    match nix::sys::stat::mkdirat(dir, name, FileMode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(unwritable(Path::new(name), e)),
    }
    opened_dir(Some(dir), Path::new(name), uid)
}

/// Open a new recording for `meta` under `dir` and write its header.
/// `size` is the guest's terminal (columns, rows); `cap` the most bytes
/// the file may hold (0: no cap).
///
/// `recordings_dir` is the pair account's, mode 0700, in root's directories
/// (`install.sh` makes it; `check` reports anything else). This makes
/// `HOST/` and `SESSION/` 0700 and the file 0600, each with `O_NOFOLLOW`
/// and checked on the opened descriptor. Guards against: a host (another
/// Unix user) listing, reading or planting anything there. A guest never
/// runs anything as the pair account but the confined tmux client, whose
/// jail reads only system trees.
///
/// The file is opened before the guest's pairshell narrows itself
/// (`sandbox::Jail::guest_parent`): Landlock checks a file when it is
/// opened, so the narrowed process writes to this one descriptor and may
/// create nothing under `recordings_dir`.
pub(crate) fn open(
    dir: &Path,
    meta: &Meta,
    size: (u16, u16),
    cap: u64,
    now: Timestamp,
) -> Result<Recorder, Stopped> {
    let uid = nix::unistd::geteuid().as_raw();
    let top = opened_dir(None, dir, uid)?;
    let host = sub_dir(&top, &meta.host, uid)?;
    let session = sub_dir(&host, &meta.session, uid)?;
    let name = file_name(meta, now);
    let path = dir.join(&meta.host).join(&meta.session).join(&name);
    let fd = nix::fcntl::openat(
        &session,
        name.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        FileMode::from_bits_truncate(0o600),
    )
    .map_err(|e| unwritable(&path, e))?;
    // Event times count from the header's whole second, so recordings of
    // several guests line up to the microsecond (`typed`).
    let into_second = Duration::from_nanos(now.subsec_nanosecond().max(0) as u64);
    let started = Instant::now()
        .checked_sub(into_second)
        .unwrap_or_else(Instant::now);
    let mut recorder = Recorder {
        file: File::from(fd),
        path,
        started,
        buf: Vec::with_capacity(FLUSH_AT),
        written: 0,
        cap,
        last_flush: Instant::now(),
        carry_out: Vec::new(),
        carry_in: Vec::new(),
        size,
        stopped: None,
        reported: false,
    };
    header(&mut recorder.buf, meta, size, now);
    recorder.write_out();
    match recorder.stopped.take() {
        Some(stop) => {
            let _ = std::fs::remove_file(&recorder.path);
            Err(stop)
        }
        None => Ok(recorder),
    }
}

/// The asciicast v2 header line. Beside the standard fields, `pairshell`
/// names the guest, host, session and mode for `typed` and `replay`
/// (players ignore what they do not know).
fn header(buf: &mut Vec<u8>, meta: &Meta, (cols, rows): (u16, u16), now: Timestamp) {
    let title = format!(
        "{}@{}/{} ({})",
        meta.guest, meta.host, meta.session, meta.mode
    );
    let _ = write!(
        buf,
        "{{\"version\": 2, \"width\": {cols}, \"height\": {rows}, \"timestamp\": {}, \"env\": {{\"TERM\": ",
        now.as_second()
    );
    json_string(buf, &meta.term);
    buf.extend_from_slice(b"}, \"title\": ");
    json_string(buf, &title);
    buf.extend_from_slice(b", \"pairshell\": {\"guest\": ");
    json_string(buf, &meta.guest);
    buf.extend_from_slice(b", \"host\": ");
    json_string(buf, &meta.host);
    buf.extend_from_slice(b", \"session\": ");
    json_string(buf, &meta.session);
    buf.extend_from_slice(b", \"mode\": ");
    json_string(buf, meta.mode);
    let _ = writeln!(buf, ", \"pid\": {}}}}}", meta.pid);
}

/// `s` as a JSON string (serde_json: quotes, backslashes and control
/// characters escaped, everything else as it is, UTF-8).
pub(crate) fn json_string(buf: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// Take the complete UTF-8 text from `carry` + `bytes`, leaving an
/// unfinished sequence at the end in `carry` (a chunk may split one);
/// invalid bytes become U+FFFD.
fn complete_text(carry: &mut Vec<u8>, bytes: &[u8]) -> String {
    let mut data = std::mem::take(carry);
    data.extend_from_slice(bytes);
    let mut text = String::with_capacity(data.len());
    let mut rest = &data[..];
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // SAFETY-free: `good` was just validated.
                text.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        text.push('\u{fffd}');
                        rest = &bad[n..];
                    }
                    None => {
                        carry.extend_from_slice(bad);
                        break;
                    }
                }
            }
        }
    }
    text
}

/// One join's recording, fed by the relay as its [`Observer`]: what the
/// guest's terminal received (`o`), what pairshell forwarded from the guest
/// (`i`; a read-only guest's input is never forwarded, so it has none),
/// resizes (`r`) and markers (`m`: join, leave). Events are buffered and
/// written at least once a second (the relay wakes for [`Observer::due`])
/// and at leave. A full disk, `record_max_mb` or any write error stops the
/// recording, never the guest; the file keeps only whole lines.
#[derive(Debug)]
pub(crate) struct Recorder {
    file: File,
    path: PathBuf,
    started: Instant,
    buf: Vec<u8>,
    /// Bytes in the file, all whole lines.
    written: u64,
    cap: u64,
    last_flush: Instant,
    carry_out: Vec<u8>,
    carry_in: Vec<u8>,
    size: (u16, u16),
    stopped: Option<Stopped>,
    reported: bool,
}

impl Recorder {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn event(&mut self, code: &str, data: &str) {
        if self.stopped.is_some() {
            return;
        }
        let start = self.buf.len();
        let t = self.started.elapsed().as_secs_f64();
        let _ = write!(self.buf, "[{t:.6}, \"{code}\", ");
        json_string(&mut self.buf, data);
        self.buf.extend_from_slice(b"]\n");
        if self.cap > 0 && self.written + self.buf.len() as u64 > self.cap {
            // The event that does not fit is left out; a last marker says
            // why (and may pass the cap by its own few bytes).
            self.buf.truncate(start);
            let _ = writeln!(self.buf, "[{t:.6}, \"m\", \"recording stopped: size cap\"]");
            self.write_out();
            self.stop(
                "size-cap",
                format!("record_max_mb reached: {} bytes", self.cap),
            );
            return;
        }
        if self.buf.len() >= FLUSH_AT {
            self.write_out();
        }
    }

    fn stop(&mut self, reason: &'static str, detail: String) {
        if self.stopped.is_none() {
            self.stopped = Some(Stopped { reason, detail });
            self.buf = Vec::new();
        }
    }

    /// Write out the buffer; on failure stop, and cut the file back to its
    /// last whole line (which also gives a full disk its bytes back).
    fn write_out(&mut self) {
        self.last_flush = Instant::now();
        if self.buf.is_empty() || self.stopped.is_some() {
            return;
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.written += self.buf.len() as u64;
                self.buf.clear();
            }
            Err(e) => {
                let _ = self.file.set_len(self.written);
                let reason = match e.raw_os_error() {
                    Some(nix::libc::ENOSPC | nix::libc::EDQUOT) => "disk-full",
                    _ => "write-failed",
                };
                self.stop(reason, format!("{}: {e}", self.path.display()));
            }
        }
    }

    fn take_stopped(&mut self) -> Option<Stopped> {
        if self.reported {
            return None;
        }
        let stop = self.stopped.clone()?;
        self.reported = true;
        Some(stop)
    }
}

impl Observer for Recorder {
    fn input(&mut self, bytes: &[u8]) {
        let text = complete_text(&mut self.carry_in, bytes);
        if !text.is_empty() {
            self.event("i", &text);
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        let text = complete_text(&mut self.carry_out, bytes);
        if !text.is_empty() {
            self.event("o", &text);
        }
    }

    fn resized(&mut self, cols: u16, rows: u16) {
        if (cols, rows) != self.size {
            self.size = (cols, rows);
            self.event("r", &format!("{cols}x{rows}"));
        }
    }

    fn marker(&mut self, label: &str) {
        self.event("m", label);
    }

    fn due(&self) -> Option<Instant> {
        match &self.stopped {
            // A stop not yet reported: at once.
            Some(_) if !self.reported => Some(self.last_flush),
            Some(_) => None,
            None => (!self.buf.is_empty()).then(|| self.last_flush + FLUSH_EVERY),
        }
    }

    fn flush(&mut self) -> Option<Stopped> {
        self.write_out();
        self.take_stopped()
    }
}

// ---------------------------------------------------------------------------
// Reading recordings back
// ---------------------------------------------------------------------------

/// One event of a recording: seconds since its start, code, data.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CastEvent {
    pub(crate) t: f64,
    pub(crate) code: String,
    pub(crate) data: String,
}

/// A recording as read back.
#[derive(Debug)]
pub(crate) struct Cast {
    pub(crate) path: PathBuf,
    pub(crate) width: u64,
    pub(crate) height: u64,
    /// When it started.
    pub(crate) start: Timestamp,
    pub(crate) guest: String,
    pub(crate) host: String,
    pub(crate) session: String,
    pub(crate) mode: String,
    pub(crate) events: Vec<CastEvent>,
}

impl Cast {
    /// Read `path`. A line that does not parse ends the events (a
    /// recording cut short), a header that does not is an error.
    pub(crate) fn read(path: &Path) -> Result<Cast, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Cast::parse(path, io::BufReader::new(file))
    }

    pub(crate) fn parse(path: &Path, reader: impl BufRead) -> Result<Cast, String> {
        let mut lines = reader.lines();
        let bad = |why: &str| format!("{}: {why}", path.display());
        let first = lines
            .next()
            .ok_or_else(|| bad("empty"))?
            .map_err(|e| bad(&e.to_string()))?;
        let header: Json =
            serde_json::from_str(&first).map_err(|_| bad("the header is not JSON"))?;
        if header.get("version").and_then(Json::as_f64) != Some(2.0) {
            return Err(bad("not an asciicast v2 file"));
        }
        let num = |k: &str| header.get(k).and_then(Json::as_f64).unwrap_or(0.0);
        let ps = header.get("pairshell");
        let text = |k: &str| {
            ps.and_then(|p| p.get(k))
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut cast = Cast {
            path: path.to_path_buf(),
            width: num("width") as u64,
            height: num("height") as u64,
            start: Timestamp::from_second(num("timestamp") as i64).unwrap_or(Timestamp::UNIX_EPOCH),
            guest: text("guest"),
            host: text("host"),
            session: text("session"),
            mode: text("mode"),
            events: Vec::new(),
        };
        if cast.guest.is_empty() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            cast.guest = guest_of(name).unwrap_or("?").to_string();
        }
        for line in lines {
            let Ok(line) = line else { break };
            let Some(event) = parse_event(&line) else {
                break;
            };
            cast.events.push(event);
        }
        Ok(cast)
    }

    /// When the last event happened.
    pub(crate) fn end(&self) -> Timestamp {
        let last = self.events.last().map_or(0.0, |e| e.t);
        self.at(last)
    }

    /// The instant `t` seconds into the recording.
    pub(crate) fn at(&self, t: f64) -> Timestamp {
        let d = jiff::SignedDuration::try_from_secs_f64(t).unwrap_or_default();
        self.start.checked_add(d).unwrap_or(self.start)
    }
}

/// `[t, "code", "data"]`.
pub(crate) fn parse_event(line: &str) -> Option<CastEvent> {
    let Json::Array(items) = serde_json::from_str(line).ok()? else {
        return None;
    };
    match items.as_slice() {
        [t, code, data] => Some(CastEvent {
            t: t.as_f64()?,
            code: code.as_str()?.to_string(),
            data: data.as_str()?.to_string(),
        }),
        _ => None,
    }
}

/// The recordings under `dir`: `HOST/SESSION/*.cast`, sorted by name
/// (date first) within each directory.
pub(crate) fn list(
    dir: &Path,
    host: Option<&str>,
    session: Option<&str>,
) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let subdirs = |d: &Path, only: Option<&str>| -> io::Result<Vec<PathBuf>> {
        if let Some(name) = only {
            let p = d.join(name);
            return Ok(if p.is_dir() { vec![p] } else { Vec::new() });
        }
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        v.sort();
        Ok(v)
    };
    for h in subdirs(dir, host)? {
        for s in subdirs(&h, session)? {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&s)?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cast"))
                .collect();
            files.sort();
            found.extend(files);
        }
    }
    Ok(found)
}

/// Why `dir` breaks the recordings' guarantee (only the pair account, and
/// root, can reach what is in it), for `pairshell check`; `None` when it
/// holds, or when it does not exist yet (the first recording will say).
pub(crate) fn dir_problem(dir: &Path, pair_uid: u32) -> Option<String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(format!(
                "recordings_dir {} does not exist, so no session can be recorded",
                dir.display()
            ))
        }
        Err(e) => return Some(format!("recordings_dir {}: {e}", dir.display())),
    };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Some(format!(
            "recordings_dir {} is not a directory (a symlink is not accepted)",
            dir.display()
        ));
    }
    if meta.uid() != pair_uid {
        return Some(format!(
            "recordings_dir {} is owned by uid {}, not the pair account (uid {pair_uid}), which writes the recordings",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Some(format!(
            "recordings_dir {} has mode {:o}: hosts could read other hosts' sessions",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    if let Some(parent) = dir.parent() {
        if let Err(e) = crate::sys::trust::check_root_path(parent) {
            return Some(format!(
                "recordings_dir {}: its parent must be root's: {e}",
                dir.display()
            ));
        }
    }
    // Every HOST/SESSION directory and file below must be closed too.
    for host in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let mut entries = vec![host.path()];
        if host.file_type().is_ok_and(|t| t.is_dir()) {
            for session in std::fs::read_dir(host.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                entries.push(session.path());
                if session.file_type().is_ok_and(|t| t.is_dir()) {
                    entries.extend(
                        std::fs::read_dir(session.path())
                            .into_iter()
                            .flatten()
                            .flatten()
                            .map(|e| e.path()),
                    );
                }
            }
        }
        for path in entries {
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if m.uid() != pair_uid || m.mode() & 0o077 != 0 || m.file_type().is_symlink() {
                return Some(format!(
                    "{} (uid {}, mode {:o}) is not the pair account's alone",
                    path.display(),
                    m.uid(),
                    m.mode() & 0o7777
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            guest: "al-ice".into(),
            host: "maria".into(),
            session: "api".into(),
            mode: "read-write",
            term: "xterm\"256".into(),
            pid: 4242,
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pairshell-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        dir
    }

    #[test]
    fn a_recording_is_asciicast_v2_line_by_line_and_reads_back() {
        let dir = tmp("v2");
        let now: Timestamp = "2026-11-21T16:02:11Z".parse().unwrap();
        let mut r = open(&dir, &meta(), (120, 40), 0, now).unwrap();
        assert!(r
            .path()
            .ends_with("maria/api/20261121T160211Z-al-ice-4242.cast"));
        r.marker("join");
        r.output("héllo\x1b[1m\r\n".as_bytes());
        // A UTF-8 sequence split across two chunks stays one character.
        r.output(&"é".as_bytes()[..1]);
        r.output(&"é".as_bytes()[1..]);
        r.input(b"ls \"x\"\\\r");
        r.resized(120, 40);
        r.resized(100, 30);
        r.output(b"\xff");
        assert!(r.due().is_some());
        assert_eq!(r.flush(), None);
        assert_eq!(r.due(), None);
        let path = r.path().to_path_buf();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let v: Json = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            assert!(matches!(v, Json::Object(_) | Json::Array(_)), "{line}");
        }
        let cast = Cast::read(&path).unwrap();
        assert_eq!((cast.width, cast.height), (120, 40));
        assert_eq!(cast.start, now);
        assert_eq!(
            (cast.guest.as_str(), cast.host.as_str(), cast.mode.as_str()),
            ("al-ice", "maria", "read-write")
        );
        let header: Json = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            header.get("title").and_then(Json::as_str),
            Some("al-ice@maria/api (read-write)")
        );
        assert_eq!(
            header
                .get("env")
                .and_then(|e| e.get("TERM"))
                .and_then(Json::as_str),
            Some("xterm\"256")
        );
        let ev: Vec<(&str, &str)> = cast
            .events
            .iter()
            .map(|e| (e.code.as_str(), e.data.as_str()))
            .collect();
        assert_eq!(
            ev,
            [
                ("m", "join"),
                ("o", "héllo\x1b[1m\r\n"),
                ("o", "é"),
                ("i", "ls \"x\"\\\r"),
                ("r", "100x30"),
                ("o", "\u{fffd}"),
            ]
        );
        assert!(cast.events.windows(2).all(|w| w[0].t <= w[1].t));
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        for d in [dir.join("maria"), dir.join("maria/api")] {
            assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_cap_stops_the_recording_and_keeps_whole_lines() {
        let dir = tmp("cap");
        let mut r = open(&dir, &meta(), (80, 24), 2000, Timestamp::now()).unwrap();
        let mut stopped = None;
        for _ in 0..100 {
            r.output(&[b'x'; 100]);
            if let Some(s) = r.flush() {
                stopped = Some(s);
            }
        }
        let stopped = stopped.expect("the cap stopped it");
        assert_eq!(stopped.reason, "size-cap");
        assert_eq!(r.flush(), None, "reported once");
        let text = std::fs::read_to_string(r.path()).unwrap();
        assert!(text.len() < 2100, "{}", text.len());
        assert!(
            text.ends_with("\"recording stopped: size cap\"]\n"),
            "{text}"
        );
        assert!(text.lines().skip(1).all(|l| parse_event(l).is_some()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Pins row 30: `opened_dir` refuses a recordings directory group or other
    /// can reach (`unsafe-dir`), checked on the opened descriptor.
    #[test]
    fn a_directory_others_can_reach_is_refused() {
        let dir = tmp("open");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let err = open(&dir, &meta(), (80, 24), 0, Timestamp::now()).unwrap_err();
        assert_eq!(err.reason, "unsafe-dir", "{err:?}");
        let err = open(&dir.join("missing"), &meta(), (80, 24), 0, Timestamp::now()).unwrap_err();
        assert_eq!(err.reason, "unwritable-dir", "{err:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn guest_names_come_back_from_file_names() {
        assert_eq!(guest_of("20261121T160211Z-al-ice-42.cast"), Some("al-ice"));
        assert_eq!(guest_of("20261121T160211Z-bob-42.cast"), Some("bob"));
        assert_eq!(guest_of("20261121T160211Z-bob-x.cast"), None);
        assert_eq!(guest_of("junk.cast"), None);
    }

    #[test]
    fn json_written_reads_back_and_junk_events_are_refused() {
        let s = "a\"b\\c\u{1}\u{7f}\né🎉";
        let mut buf = Vec::new();
        json_string(&mut buf, s);
        let text = String::from_utf8(buf).unwrap();
        // One line per event: no newline or other C0 control in a line.
        assert!(!text.chars().any(|c| (c as u32) < 0x20), "{text:?}");
        assert_eq!(serde_json::from_str::<String>(&text).unwrap(), s);
        for junk in [
            "",
            "[1,",
            "[1] x",
            "[1, \"o\"]",
            "{\"t\": 1}",
            "[\"1\", \"o\", \"x\"]",
        ] {
            assert_eq!(parse_event(junk), None, "{junk}");
        }
        assert_eq!(
            parse_event("[1.5, \"o\", \"x\"]"),
            Some(CastEvent {
                t: 1.5,
                code: "o".into(),
                data: "x".into()
            })
        );
    }
}
