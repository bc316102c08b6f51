//! Lab helpers for the relay and confinement tests (`tests/relay.rs`): the
//! guest's terminal size and process, the audit records after a mark, tmux
//! clients with the fields those tests look at, and scratch directories with
//! a chosen owner and mode.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{ids, mkdir, poll, Lab, Record, Shared, Tty, TMUX};

/// One tmux client with what the relay tests look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRow {
    pub pid: i32,
    pub user: String,
    /// tmux's name for it: its terminal, e.g. `/dev/pts/3`.
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// `#{client_flags}`, e.g. `attached,focused,read-only,suspended,UTF-8`.
    pub flags: String,
    pub readonly: bool,
}

impl ClientRow {
    pub fn suspended(&self) -> bool {
        self.flags.split(',').any(|f| f == "suspended")
    }
}

impl Tty {
    /// Sets the window size of the pty the process (ssh) runs on, as a
    /// terminal emulator would when its window is resized: the kernel sends
    /// the process SIGWINCH, and ssh forwards the new size to sshd.
    pub fn set_window_size(&mut self, cols: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .unwrap_or_else(|e| panic!("{}: TIOCSWINSZ {cols}x{rows}: {e}", self.name));
    }

    /// The pid of the process in the pty (ssh).
    pub fn pid(&self) -> i32 {
        self.session.get_process().pid().as_raw()
    }

    /// Sends `signal` to the process in the pty (ssh).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal)
            .unwrap_or_else(|e| panic!("{}: kill {signal}: {e}", self.name));
    }
}

impl Lab {
    /// How many audit records there are now: [`Lab::audit_after`] and
    /// [`Lab::wait_audit_after`] look only at those written later.
    pub fn audit_mark(&self) -> usize {
        self.syslog.records().len()
    }

    /// The audit records written after `mark`.
    pub fn audit_after(&self, mark: usize) -> Vec<Record> {
        self.syslog.records().into_iter().skip(mark).collect()
    }

    /// Waits (up to `timeout`) for a record written after `mark` that
    /// satisfies `pred`.
    pub fn find_audit_after(
        &self,
        mark: usize,
        timeout: Duration,
        pred: impl Fn(&Record) -> bool,
    ) -> Option<Record> {
        poll(timeout, || {
            self.audit_after(mark).into_iter().find(|r| pred(r))
        })
    }

    /// Waits for a record written after `mark` with all of `fields`; panics
    /// with every record since the mark when none comes within `timeout`.
    pub fn wait_audit_after(
        &self,
        mark: usize,
        fields: &[(&str, &str)],
        timeout: Duration,
    ) -> Record {
        self.find_audit_after(mark, timeout, |r| r.has(fields))
            .unwrap_or_else(|| {
                let since: Vec<String> = self.audit_after(mark).into_iter().map(|r| r.raw).collect();
                panic!(
                    "no audit record with {fields:?} within {timeout:?}; records since the mark:\n{}",
                    since.join("\n")
                )
            })
    }

    /// Every client of the server on `socket`, asked as the server's owner.
    pub fn client_rows_at(&self, socket: &Path) -> Vec<ClientRow> {
        let host = self.owner_of(socket);
        let out = self.tmux_as(
            &host,
            socket,
            &[
                "list-clients",
                "-F",
                "#{client_pid}|#{client_user}|#{client_width}|#{client_height}|#{client_readonly}|#{client_flags}|#{client_name}",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(7, '|').collect();
                (f.len() == 7).then(|| ClientRow {
                    pid: f[0].parse().unwrap_or(0),
                    user: f[1].to_string(),
                    width: f[2].parse().unwrap_or(0),
                    height: f[3].parse().unwrap_or(0),
                    readonly: f[4] == "1",
                    flags: f[5].to_string(),
                    name: f[6].to_string(),
                })
            })
            .collect()
    }

    /// The pair account's clients on the server of `s`.
    pub fn pair_client_rows(&self, s: &Shared) -> Vec<ClientRow> {
        self.client_rows_at(&s.socket)
            .into_iter()
            .filter(|c| c.user == self.pair)
            .collect()
    }

    /// `tmux ARGS…` as the owner of `s`'s server, which must succeed;
    /// returns its stdout.
    pub fn host_tmux(&self, s: &Shared, args: &[&str]) -> String {
        let out = self.tmux_as(&s.host, &s.socket, args);
        assert!(
            out.status.success(),
            "tmux {args:?} as {} on {}: {out:?}",
            s.host,
            s.socket.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pid of the tmux server of `s`.
    pub fn server_pid(&self, s: &Shared) -> i32 {
        let out = self.host_tmux(s, &["display-message", "-p", "#{pid}"]);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no server pid in {out:?}"))
    }

    /// A fresh directory under `<lab>/scratch`, owned by `owner` (root when
    /// `None`) with `mode` (set after creation, so the umask does not
    /// narrow it).
    pub fn scratch_dir(&self, stem: &str, owner: Option<&str>, mode: u32) -> PathBuf {
        let dir = self.scratch_file(stem);
        mkdir(&dir, mode);
        if let Some(user) = owner {
            let (uid, gid) = ids(user);
            chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    /// The uid of one of the lab's accounts.
    pub fn uid_of(&self, user: &str) -> u32 {
        ids(user).0
    }

    /// A tmux client run as the pair account *directly*: no sshd, no
    /// pairshell, no confinement. `tmux -N -S SOCKET ARGS…` in a pty. The
    /// relay tests use it as the control that proves an attack works on an
    /// unconfined client of the pair account.
    pub fn unconfined_pair_tmux_tty(&self, socket: &Path, args: &[&str]) -> Tty {
        let mut cmd = self.command_as(&self.pair, Path::new(TMUX));
        cmd.arg("-N").arg("-S").arg(socket).args(args);
        Tty::spawn(
            &format!("unconfined tmux {} as the pair account", args.join(" ")),
            cmd,
        )
    }

    /// `tmux -N -S SOCKET ARGS…` run to completion as the pair account
    /// directly (unconfined), stdin null; see
    /// [`Lab::unconfined_pair_tmux_tty`].
    pub fn unconfined_pair_tmux(&self, socket: &Path, args: &[&str]) -> super::Run {
        let mut cmd = self.command_as(&self.pair, Path::new(TMUX));
        cmd.arg("-N")
            .arg("-S")
            .arg(socket)
            .args(args)
            .stdin(std::process::Stdio::null());
        super::run_with_timeout(cmd, Duration::from_secs(20))
    }
}
