//! Who is behind each pair-account tmux client.
//!
//! To tmux every guest is the same Unix user, the pair account. So at
//! `join` the guest flow writes one record per client,
//! `sockets_dir/.clients/<client pid>`, naming the guest, the session, the
//! mode and the address; `who`, `kick`, `revoke` and the join/leave
//! messages read it back, keyed by the pid tmux reports for the client.
//!
//! Guards against: a host, a guest or a recycled pid putting one guest's
//! name on another's client. A record counts only if the file is owned by
//! the pair account (only pairshell runs as that account: the tmux client is
//! confined), names the same socket, and names the same process: the pid's
//! start time in `/proc` must equal the one recorded, so a record left behind
//! by a crashed login never attaches to a later process that reuses the pid.
//! Anything that does not match is shown as `unknown`, never as a guess.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use nix::unistd::Uid;
use serde::{Deserialize, Serialize};

use crate::core::mode::Mode;
use crate::sys::trust::{self, Owner};

/// Largest record read.
const MAX_RECORD: u64 = 4096;

/// One joined client.
/// Who is behind one guest's tmux client: what a roster record and a
/// request to the host ([`crate::ask::Request`]) both say of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Seat {
    /// The guest's pairshell.
    pub(crate) pid: u32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat`), so a
    /// recycled pid is never taken for it.
    pub(crate) start: u64,
    pub(crate) guest: String,
    pub(crate) host: String,
    pub(crate) session: String,
    pub(crate) socket: PathBuf,
    pub(crate) mode: Mode,
    /// The guest's address, from `SSH_CONNECTION`.
    pub(crate) from: Option<String>,
}

/// One live guest client, as its pairshell wrote it at join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub(crate) since: String,
    pub(crate) seat: Seat,
}

impl Record {
    pub(crate) fn since(&self) -> Option<Timestamp> {
        self.since.parse().ok()
    }
}

/// The directory of records under `sockets_dir`.
pub(crate) fn dir(sockets_dir: &Path) -> PathBuf {
    sockets_dir.join(".clients")
}

fn path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(pid.to_string())
}

/// Write `record` (as the pair account), readable by the pair account and
/// by `host_uid` only. Replaces a stale record of the same pid, never
/// follows a symlink.
///
/// Guards against: one host reading another host's records (who pairs with
/// whom, from which address, since when). Every host is in the socket
/// group that owns the directory, so the record is 0600 with one POSIX ACL
/// entry for its own host: the owner of a file may set its ACL, no root
/// needed. Where the file system has no ACLs the record stays 0600 and the
/// host sees the client as `unknown`; the returned note says so.
pub(crate) fn write(dir: &Path, record: &Record, host_uid: Uid) -> Result<Option<String>, String> {
    let text = toml::to_string(record).map_err(|e| e.to_string())?;
    let p = path(dir, record.seat.pid);
    // A record left by a crashed login with this pid: ours replaces it.
    let _ = std::fs::remove_file(&p);
    let mut file = crate::sys::fs::no_follow()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let note = crate::sys::trust::grant_read(&file, host_uid)
        .err()
        .map(|e| {
            format!(
                "{}: no ACL for its host ({e}); the host will see `unknown`",
                p.display()
            )
        });
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(note)
}

/// Remove the record of `pid` (best effort: the login is over either way).
pub(crate) fn remove(dir: &Path, pid: u32) {
    let _ = std::fs::remove_file(path(dir, pid));
}

/// How many live clients the records give `guest`, on any server.
pub(crate) fn joined_by(dir: &Path, guest: &str, pair_uid: Uid) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| believed(dir, pid, pair_uid))
        .filter(|r| r.seat.guest == guest)
        .count()
}

/// The record of `pid`, if its file and process can be believed.
fn believed(dir: &Path, pid: u32, pair_uid: Uid) -> Option<Record> {
    let text = trust::read_trusted(&path(dir, pid), Owner::Exactly(pair_uid), MAX_RECORD).ok()?;
    let record: Record = toml::from_str(&text).ok()?;
    let same_process = process_start(pid).is_some_and(|start| start == record.seat.start);
    (record.seat.pid == pid && same_process).then_some(record)
}

/// The record for the live client `pid` on `socket`, if one can be believed.
pub(crate) fn read(dir: &Path, pid: u32, pair_uid: Uid, socket: &Path) -> Option<Record> {
    believed(dir, pid, pair_uid).filter(|r| r.seat.socket == socket)
}

/// A process's start time in clock ticks since boot: field 22 of
/// `/proc/PID/stat`, counted after the command name (which may itself hold
/// spaces and parentheses, so the fields start after the last `)`).
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start(&stat)
}

fn parse_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so start time (22) is the 20th here.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::sys::scratch::Scratch;

    fn record_for(pid: u32) -> Record {
        Record {
            since: "2026-11-20T12:00:00Z".into(),
            seat: Seat {
                pid,
                start: process_start(pid).unwrap(),
                guest: "alice".into(),
                host: "maria".into(),
                session: "api".into(),
                socket: "/run/pairshell/maria/api.sock".into(),
                mode: Mode::ReadOnly,
                from: Some("203.0.113.5".into()),
            },
        }
    }

    fn me() -> Uid {
        nix::unistd::geteuid()
    }

    #[test]
    fn start_time_is_read_past_a_command_name_with_spaces_and_parens() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start(stat), Some(987654));
        assert!(process_start(std::process::id()).is_some());
    }

    #[test]
    fn a_record_is_read_back_for_its_own_live_process() {
        let s = Scratch::new("roster", "ok");
        let me_pid = std::process::id();
        let r = record_for(me_pid);
        write(&s.0, &r, me()).unwrap();
        assert_eq!(read(&s.0, me_pid, me(), &r.seat.socket), Some(r.clone()));
        remove(&s.0, me_pid);
        assert_eq!(read(&s.0, me_pid, me(), &r.seat.socket), None);
    }

    /// Guards against: a host reading another host's records. The record
    /// is 0600, and readable through its ACL by its own host alone.
    #[test]
    fn record_is_readable_by_its_own_host_only() {
        let s = Scratch::new("roster", "acl");
        let me_pid = std::process::id();
        let r = record_for(me_pid);
        let host = Uid::from_raw(4242);
        let note = write(&s.0, &r, host).unwrap();
        let p = path(&s.0, me_pid);
        let meta = std::fs::metadata(&p).unwrap();
        // Group and other bits: the ACL mask (read) and nothing.
        assert_eq!(
            meta.permissions().mode() & 0o077,
            if note.is_none() { 0o040 } else { 0 }
        );
        if note.is_none() {
            let acl = crate::sys::trust::read_acl(&p).unwrap();
            assert_eq!(
                acl,
                vec![
                    (1, 6, u32::MAX),
                    (2, 4, 4242),
                    (4, 0, u32::MAX),
                    (16, 4, u32::MAX),
                    (32, 0, u32::MAX)
                ]
            );
        }
    }

    #[test]
    fn live_records_are_counted_per_guest() {
        let s = Scratch::new("roster", "count");
        let r = record_for(std::process::id());
        write(&s.0, &r, me()).unwrap();
        // A stale record (no such process start) and junk do not count.
        let mut stale = record_for(1);
        stale.seat.start += 1;
        write(&s.0, &stale, me()).unwrap();
        std::fs::write(s.0.join("junk"), "x").unwrap();
        assert_eq!(joined_by(&s.0, "alice", me()), 1);
        assert_eq!(joined_by(&s.0, "bob", me()), 0);
    }

    #[test]
    fn recycled_pid_is_never_attributed_to_the_old_guest() {
        // A record left behind by a login that crashed: same pid, but the
        // process now running under it started at another time.
        let s = Scratch::new("roster", "recycled");
        let pid = std::process::id();
        let mut r = record_for(pid);
        r.seat.start += 1;
        write(&s.0, &r, me()).unwrap();
        assert_eq!(read(&s.0, pid, me(), &r.seat.socket), None);
    }

    #[test]
    fn record_for_another_server_or_owner_is_not_believed() {
        let s = Scratch::new("roster", "other");
        let pid = std::process::id();
        let r = record_for(pid);
        write(&s.0, &r, me()).unwrap();
        assert_eq!(
            read(&s.0, pid, me(), Path::new("/run/pairshell/omar/api.sock")),
            None
        );
        let someone_else = Uid::from_raw(me().as_raw() + 4242);
        assert_eq!(read(&s.0, pid, someone_else, &r.seat.socket), None);
    }
}
