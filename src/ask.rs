//! Asking the host, and the host's answer: a guest asking to join a share
//! with `ask = true`, and a read-only guest asking to type (`C-b a`).
//!
//! The path of a question and its answer:
//! 1. The guest's pairshell (the pair account) writes a request,
//!    `sockets_dir/.clients/ask-<pid>`, readable by the pair account and,
//!    through one ACL entry, by that host alone (as the roster records). It
//!    holds a fresh 128-bit nonce.
//! 2. It rings the host's server with `list-clients -F pairshell-ask`
//!    (`tmux::RING`), the
//!    one command a read-only server-access user may run. The server's
//!    `after-list-clients` hook (installed by `share`, run by the server,
//!    so as the host) runs `pairshell hook asks`, which reads the requests
//!    for that server and puts a one-key prompt on each client of the
//!    host's own uid, never on a pair-account client.
//! 3. The host's key runs `pairshell answer SOCKET PID NONCE KEY`, again as
//!    the host, which writes `.pairshell-answer-<pid>-<nonce>` next to the
//!    socket: a directory only the host can write.
//! 4. The guest's pairshell believes an answer only from that file, owned by
//!    the host's uid, for that nonce.
//!
//! Guards against: a guest answering a request, their own or another's.
//! Nothing the pair account owns or can write carries an answer (its
//! clients are confined and write nothing; the request file is the pair
//! account's, and an answer in it is never read). A pair-account client
//! never gets the prompt, so a read-write guest's keys cannot answer it. An
//! answer names its nonce, so it answers that one request only: never a
//! later request, never another guest's. What is not guarded: a read-write
//! guest can make the host's server run a program *as the host*
//! (`run-shell`), and such a program can do whatever the host can, this
//! included (SECURITY.md, "a read-write guest can do anything the host
//! can").

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::Uid;
use serde::{Deserialize, Serialize};

use crate::roster;
use crate::sys::fs::no_follow;
use crate::sys::trust::{self, Owner};

/// How long a request waits for the host.
pub(crate) const ASK_FOR: Duration = Duration::from_secs(60);

/// Largest request or answer read.
const MAX_LEN: u64 = 4096;

/// What is being asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// Let a guest in (`ask = true`).
    Join,
    /// Let a read-only guest type for the rest of this connection.
    Type,
}

/// One question, as the host's side reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    pub(crate) kind: Kind,
    pub(crate) nonce: String,
    /// For [`Kind::Type`]: the pid of the guest's tmux client, which the
    /// host's `who` and `grant` know it by.
    #[serde(default)]
    pub(crate) client: Option<u32>,
    /// The asking guest's pairshell, and what it would join as.
    pub(crate) seat: roster::Seat,
}

impl Request {
    /// The prompt the host reads.
    pub(crate) fn prompt(&self) -> String {
        match self.kind {
            Kind::Join => format!(
                "{} ({}){} wants to join {} — allow? y/n",
                self.seat.guest,
                self.seat.mode,
                self.seat
                    .from
                    .as_deref()
                    .map(|f| format!(" from {f}"))
                    .unwrap_or_default(),
                self.seat.session
            ),
            Kind::Type => format!(
                "{} asks to type in {} — allow for this visit? y/n",
                self.seat.guest, self.seat.session
            ),
        }
    }
}

/// Where the request of the pairshell `pid` is.
fn request_path(roster_dir: &Path, pid: u32) -> PathBuf {
    roster_dir.join(format!("ask-{pid}"))
}

/// Where the host's answer to (`pid`, `nonce`) goes: beside the socket.
pub(crate) fn answer_path(socket: &Path, pid: u32, nonce: &str) -> PathBuf {
    socket.with_file_name(format!(".pairshell-answer-{pid}-{nonce}"))
}

/// A source of nonces, opened while the guest's pairshell may still open
/// `/dev/urandom` (before it narrows itself).
pub(crate) struct Nonces(File);

impl Nonces {
    pub(crate) fn open() -> std::io::Result<Nonces> {
        File::open("/dev/urandom").map(Nonces)
    }

    /// 128 random bits, as 32 hex digits.
    pub(crate) fn next(&mut self) -> std::io::Result<String> {
        let mut bytes = [0u8; 16];
        self.0.read_exact(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Whether `s` is what [`Nonces::next`] makes.
fn is_nonce(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A request that waits for its answer (the guest's side).
pub(crate) struct Pending {
    roster_dir: PathBuf,
    pid: u32,
    answer: PathBuf,
    host_uid: Uid,
    since: Instant,
}

/// What the host said, as far as the guest's pairshell can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Yes,
    No,
    /// Nothing yet.
    Waiting,
    /// Nothing within [`ASK_FOR`].
    TimedOut,
}

impl Pending {
    /// Write `request` for its host (`host_uid`) to read.
    pub(crate) fn post(
        roster_dir: &Path,
        request: &Request,
        host_uid: Uid,
    ) -> Result<Pending, String> {
        let text = toml::to_string(request).map_err(|e| e.to_string())?;
        let p = request_path(roster_dir, request.seat.pid);
        let _ = std::fs::remove_file(&p);
        let mut file = no_follow()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        trust::grant_read(&file, host_uid)
            .map_err(|e| format!("{}: no ACL for its host ({e})", p.display()))?;
        file.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Pending {
            roster_dir: roster_dir.to_path_buf(),
            pid: request.seat.pid,
            answer: answer_path(&request.seat.socket, request.seat.pid, &request.nonce),
            host_uid,
            since: Instant::now(),
        })
    }

    /// The host's answer so far. Only a regular file owned by exactly the
    /// host, at the nonce's own name, counts.
    pub(crate) fn answer(&self) -> Answer {
        match read_answer(&self.answer, self.host_uid) {
            Some(true) => Answer::Yes,
            Some(false) => Answer::No,
            None if self.since.elapsed() >= ASK_FOR => Answer::TimedOut,
            None => Answer::Waiting,
        }
    }

    /// The answer file, once it said yes: a visit lasts while it exists.
    pub(crate) fn answer_file(&self) -> &Path {
        &self.answer
    }

    /// Take the request back (answered, given up, or timed out).
    pub(crate) fn withdraw(&self) {
        let _ = std::fs::remove_file(request_path(&self.roster_dir, self.pid));
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// `Some(yes)` when `path` is an answer the host (`host_uid`) wrote.
pub(crate) fn read_answer(path: &Path, host_uid: Uid) -> Option<bool> {
    let text = trust::read_trusted(path, Owner::Exactly(host_uid), MAX_LEN).ok()?;
    match text.lines().next().unwrap_or("").trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The requests for `socket` of host `login` whose pairshell still runs
/// (the host's side; `pair_uid` must own them).
pub(crate) fn requests_for(
    roster_dir: &Path,
    pair_uid: Uid,
    login: &str,
    socket: &Path,
) -> Vec<Request> {
    let Ok(entries) = std::fs::read_dir(roster_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid: u32 = name.to_str()?.strip_prefix("ask-")?.parse().ok()?;
            let text = trust::read_trusted(&e.path(), Owner::Exactly(pair_uid), MAX_LEN).ok()?;
            let r: Request = toml::from_str(&text).ok()?;
            let alive = roster::process_start(pid) == Some(r.seat.start);
            (r.seat.pid == pid
                && alive
                && r.seat.host == login
                && r.seat.socket == socket
                && is_nonce(&r.nonce))
            .then_some(r)
        })
        .collect()
}

/// The tmux clients whose visit (ask to type) the host allowed on
/// `socket` and has not taken back, as the host's side sees it: answer
/// files saying yes to a `type` request of a pairshell that still runs.
pub(crate) fn visitors(socket: &Path, host_uid: Uid) -> Vec<u32> {
    answers(socket)
        .into_iter()
        .filter(|(pid, p)| {
            read_answer(p, host_uid) == Some(true) && roster::process_start(*pid).is_some()
        })
        .filter_map(|(_, p)| visit_client(&p))
        .collect()
}

/// The client pid an answer to a `type` request names (its second line:
/// `type GUEST CLIENT`).
fn visit_client(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.lines().nth(1)?.split(' ');
    (words.next()? == "type").then_some(())?;
    words.nth(1)?.parse().ok()
}

/// Every answer file beside `socket`: `(pid, path)`.
fn answers(socket: &Path) -> Vec<(u32, PathBuf)> {
    let Some(dir) = socket.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let rest = name.to_str()?.strip_prefix(".pairshell-answer-")?;
            let (pid, nonce) = rest.split_once('-')?;
            (is_nonce(nonce)).then_some(())?;
            Some((pid.parse().ok()?, e.path()))
        })
        .collect()
}

/// Take back the visits of the tmux clients `clients` on `socket` (the
/// host's `grant --ro`): their answer files go, and each guest's
/// pairshell, watching the directory, makes the client read-only again.
/// Returns how many.
pub(crate) fn end_visits(socket: &Path, clients: &[u32]) -> usize {
    answers(socket)
        .into_iter()
        .filter(|(_, p)| visit_client(p).is_some_and(|c| clients.contains(&c)))
        .filter(|(_, p)| std::fs::remove_file(p).is_ok())
        .count()
}

/// Remove answers nobody waits for any more: their pairshell is gone.
fn tidy(socket: &Path) {
    for (pid, p) in answers(socket) {
        if roster::process_start(pid).is_none() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `pairshell answer SOCKET PID NONCE KEY`, run as the host by the
/// prompt's key: write the answer where the guest's pairshell looks for
/// it. `y` is yes; any other key is no.
///
/// Refuses (and writes nothing) unless a request with exactly this pid and
/// nonce is waiting for this host on this socket, and the socket's
/// directory is the caller's own.
pub(crate) fn write_answer(
    roster_dir: &Path,
    pair_uid: Uid,
    login: &str,
    socket: &Path,
    pid: u32,
    nonce: &str,
    yes: bool,
) -> Result<Request, String> {
    let me = nix::unistd::getuid();
    let dir = socket.parent().ok_or("the socket has no directory")?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() || meta.uid() != me.as_raw() {
        return Err(format!("{} is not your directory", dir.display()));
    }
    let request = requests_for(roster_dir, pair_uid, login, socket)
        .into_iter()
        .find(|r| r.seat.pid == pid && is_nonce(nonce) && r.nonce == nonce)
        .ok_or("no such request is waiting (answered already, given up, or never asked)")?;
    tidy(socket);
    let path = answer_path(socket, pid, nonce);
    let mut file = no_follow()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Whatever the host's umask: the guest's pairshell must read it.
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let kind = match request.kind {
        Kind::Join => "join",
        Kind::Type => "type",
    };
    let text = format!(
        "{}\n{kind} {} {}\n",
        if yes { "yes" } else { "no" },
        request.seat.guest,
        request.client.unwrap_or(0)
    );
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mode::Mode;

    #[test]
    fn nonces_are_fresh_and_well_formed() {
        let mut n = Nonces::open().unwrap();
        let (a, b) = (n.next().unwrap(), n.next().unwrap());
        assert!(is_nonce(&a) && is_nonce(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_nonce("../../etc/passwd"));
        assert!(!is_nonce(&a.to_uppercase()));
    }

    #[test]
    fn prompts_say_who_what_and_from_where() {
        let r = Request {
            kind: Kind::Join,
            nonce: "0".repeat(32),
            client: None,
            seat: roster::Seat {
                pid: 1,
                start: 1,
                guest: "alice".into(),
                host: "maria".into(),
                session: "api".into(),
                socket: "/run/pairshell/maria/api.sock".into(),
                mode: Mode::ReadWrite,
                from: Some("203.0.113.5".into()),
            },
        };
        assert_eq!(
            r.prompt(),
            "alice (read-write) from 203.0.113.5 wants to join api — allow? y/n"
        );
        let mut t = Request {
            kind: Kind::Type,
            ..r
        };
        t.seat.guest = "bob".into();
        assert_eq!(
            t.prompt(),
            "bob asks to type in api — allow for this visit? y/n"
        );
    }

    /// Guards against: a pair-account process (any guest's pairshell, or a
    /// client made to write a file) answering: an answer counts only when
    /// its file is owned by exactly the host.
    #[test]
    fn an_answer_not_owned_by_the_host_is_not_believed() {
        let dir = std::env::temp_dir().join(format!("pairshell-ask-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let p = dir.join(".pairshell-answer-1-x");
        std::fs::write(&p, "yes\n").unwrap();
        let me = nix::unistd::geteuid();
        assert_eq!(read_answer(&p, me), Some(true));
        let host = Uid::from_raw(me.as_raw() + 4242);
        assert_eq!(read_answer(&p, host), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Guards against: an answer to one request landing on another
    /// pairshell's name. `pairshell answer` with a waiting request's nonce
    /// but another pid (here init's, which runs) writes nothing; with the
    /// request's own pid it writes the answer (positive control).
    #[test]
    fn answer_with_a_requests_nonce_but_another_pid_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("pairshell-ask-pid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let roster_dir = dir.join(".clients");
        std::fs::create_dir_all(&roster_dir).unwrap();
        let socket = dir.join("api.sock");
        let me = nix::unistd::geteuid();
        let pid = std::process::id();
        let nonce = Nonces::open().unwrap().next().unwrap();
        let request = Request {
            kind: Kind::Join,
            nonce: nonce.clone(),
            client: None,
            seat: roster::Seat {
                pid,
                start: roster::process_start(pid).unwrap(),
                guest: "alice".into(),
                host: "maria".into(),
                session: "api".into(),
                socket: socket.clone(),
                mode: Mode::ReadWrite,
                from: None,
            },
        };
        let path = request_path(&roster_dir, pid);
        no_follow()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(toml::to_string(&request).unwrap().as_bytes())
            .unwrap();
        let other = 1;
        assert!(roster::process_start(other).is_some());
        let forged = write_answer(&roster_dir, me, "maria", &socket, other, &nonce, true);
        assert!(forged.is_err(), "an answer for pid {other} went through");
        assert!(!answer_path(&socket, other, &nonce).exists());
        let answered = write_answer(&roster_dir, me, "maria", &socket, pid, &nonce, true);
        assert_eq!(answered.map(|r| r.seat.pid), Ok(pid));
        assert_eq!(
            read_answer(&answer_path(&socket, pid, &nonce), me),
            Some(true)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
