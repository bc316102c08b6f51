//! Positive controls for the attack tests: what shows that an attack really
//! ran before a test counts its refusal.
//!
//! - sshd's log after a mark: the key authenticated, the request (a
//!   subsystem, a forwarding) reached sshd ([`Lab::sshd_log_mark`],
//!   [`Lab::wait_sshd_log_after`], [`Lab::wait_accepted_after`]);
//! - a settled trail: a line written by a later login, so every line an
//!   earlier step could have written has been received by then
//!   ([`Lab::audit_settle`]);
//! - a host-typed sentinel that made the whole round trip to the guest's
//!   terminal ([`Lab::host_sentinel_seen`]);
//! - the lab's sshd with one layer of the forwarding refusals taken away
//!   ([`Layers`]), so each layer is shown to hold on its own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{poll, run_with_timeout, Lab, Record, Shared, SshdExtra, Tty, WAIT};

static SENTINELS: AtomicUsize = AtomicUsize::new(0);

/// Which layers stand between a guest and sshd's forwarding, sftp and scp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// What ships: the drop-in (`DisableForwarding yes`, `ForceCommand`)
    /// and `restrict` on every key line pairshell prints.
    Shipped,
    /// The drop-in alone: the lab's `AuthorizedKeysCommand` is a root-owned
    /// wrapper that strips `restrict,` from pairshell's key line.
    DropInOnly,
    /// `restrict` (and the key's `command=`) alone: the drop-in's
    /// `DisableForwarding yes` and `ForceCommand` are taken out, and the
    /// Match block allows every kind of forwarding.
    RestrictOnly,
    /// Neither: no `restrict` and none of the drop-in's forwarding refusals.
    /// Only the positive controls use it, to show an attack works there.
    Neither,
}

impl Layers {
    pub const ALL: [Layers; 3] = [Layers::Shipped, Layers::DropInOnly, Layers::RestrictOnly];
}

impl Lab {
    /// Restarts the lab's sshd as a permissive admin's would be (a real
    /// `Subsystem sftp`, X11 forwarding on; a Debian sshd_config has both)
    /// with the refusal layers `layers` says. Returns the layer's name, for
    /// messages.
    pub fn set_layers(&mut self, layers: Layers) -> &'static str {
        let mut extra = SshdExtra {
            global: "Subsystem sftp /usr/lib/openssh/sftp-server\nX11Forwarding yes\n".into(),
            ..SshdExtra::default()
        };
        let bin = self.bin.display().to_string();
        match layers {
            Layers::Shipped => {}
            Layers::DropInOnly => {
                let wrapper = self.no_restrict_wrapper();
                extra.drop_in_edits.push((
                    format!("AuthorizedKeysCommand {bin} "),
                    format!("AuthorizedKeysCommand {} ", wrapper.display()),
                ));
            }
            Layers::RestrictOnly | Layers::Neither => {
                if layers == Layers::Neither {
                    let wrapper = self.no_restrict_wrapper();
                    extra.drop_in_edits.push((
                        format!("AuthorizedKeysCommand {bin} "),
                        format!("AuthorizedKeysCommand {} ", wrapper.display()),
                    ));
                }
                extra.drop_in_edits.push((
                    "DisableForwarding yes".into(),
                    "DisableForwarding no\n    AllowTcpForwarding yes\n    \
                     AllowAgentForwarding yes\n    AllowStreamLocalForwarding yes\n    \
                     X11Forwarding yes"
                        .into(),
                ));
                extra.drop_in_edits.push((
                    format!("ForceCommand {bin} "),
                    format!("# (taken out by the lab) ForceCommand {bin} "),
                ));
            }
        }
        // Each call sets the layers afresh: the edits of an earlier call go,
        // and the permissive global lines are written once.
        self.sshd_extra.drop_in_edits.clear();
        if self.sshd_extra.global.contains("Subsystem sftp") {
            extra.global.clear();
        }
        self.extend_sshd(extra);
        let drop_in = fs::read_to_string(self.dir.join("sshd/pairshell.conf")).unwrap();
        match layers {
            Layers::Shipped => {
                assert!(drop_in.contains("DisableForwarding yes"), "{drop_in}");
                "the shipped drop-in and restrict"
            }
            Layers::DropInOnly => {
                assert!(drop_in.contains("DisableForwarding yes"), "{drop_in}");
                "the drop-in without restrict"
            }
            Layers::RestrictOnly => {
                assert!(!drop_in.contains("DisableForwarding yes"), "{drop_in}");
                assert!(!drop_in.contains("\n    ForceCommand"), "{drop_in}");
                "restrict without the drop-in's refusals"
            }
            Layers::Neither => {
                assert!(!drop_in.contains("DisableForwarding yes"), "{drop_in}");
                "neither restrict nor the drop-in's refusals"
            }
        }
    }

    /// `<lab>/bin/authorized-keys-without-restrict`: runs the lab's
    /// `pairshell … authorized-keys` and strips `restrict,` from what it
    /// prints. Root's, 0755, in the root-owned `bin/`, as sshd demands of an
    /// `AuthorizedKeysCommand`. Checked here: run as `nobody` for a guest's
    /// key, it prints the key line with `pty,command=…` and no `restrict`.
    fn no_restrict_wrapper(&self) -> PathBuf {
        let wrapper = self.dir.join("bin/authorized-keys-without-restrict");
        let script = format!(
            "#!/bin/sh\n\
             # The lab's AuthorizedKeysCommand with the key lines' restrict taken out.\n\
             {} \"$@\" | /bin/sed 's/^restrict,//'\n",
            self.bin.display()
        );
        fs::write(&wrapper, script).unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        let guest = self
            .guests
            .values()
            .find(|g| g.key_listed)
            .expect("a guest with a key, to check the wrapper with");
        let mut cmd = Command::new(&wrapper);
        cmd.arg("--config")
            .arg(&self.config)
            .args([
                "authorized-keys",
                &self.pair,
                &guest.key_type,
                &guest.key_base64,
            ])
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::null());
        let run = run_with_timeout(cmd, Duration::from_secs(10));
        assert!(
            run.success()
                && run.stdout.starts_with("pty,command=")
                && !run.stdout.contains("restrict"),
            "the wrapper, run as nobody, must print the key line without restrict: {run}"
        );
        wrapper
    }

    /// How long sshd's log is now: [`Lab::wait_sshd_log_after`] looks only
    /// at what it writes later (a restart of sshd starts a new log).
    pub fn sshd_log_mark(&self) -> usize {
        self.sshd_log().len()
    }

    /// sshd's log after `mark`.
    pub fn sshd_log_after(&self, mark: usize) -> String {
        self.sshd_log().get(mark..).unwrap_or_default().to_string()
    }

    /// Waits until a line sshd logged after `mark` contains every one of
    /// `needles`, and returns that line; panics with the log since the mark.
    pub fn wait_sshd_log_after(&self, mark: usize, needles: &[&str]) -> String {
        poll(WAIT, || {
            self.sshd_log_after(mark)
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            panic!(
                "sshd logged no line with {needles:?}; its log since the mark:\n{}",
                self.sshd_log_after(mark)
            )
        })
    }

    /// The positive control that a guest's key got in: sshd logged
    /// `Accepted publickey for PAIR … FINGERPRINT` after `mark`.
    pub fn wait_accepted_after(&self, mark: usize, fingerprint: &str) -> String {
        let accepted = format!("Accepted publickey for {} from", self.pair);
        self.wait_sshd_log_after(mark, &[&accepted, fingerprint])
    }

    /// Lets the trail settle, then returns every record written after
    /// `mark`: a later login (a fresh, unknown key, so no cap on one key's
    /// refusals can hold it back) asks for a session no one shares, and
    /// once its `deny` has been received, everything written before it has
    /// been too (the receiver reads datagrams in the order they were sent).
    /// The sentinel's own line is not returned.
    pub fn audit_settle(&self, mark: usize) -> Vec<Record> {
        let n = SENTINELS.fetch_add(1, Ordering::SeqCst);
        let key = self.make_key(&format!("sentinel{n}"));
        let request = format!("audit-sentinel-{n}");
        let run = self.login_as_pair(&key.public_line, Some(&request));
        assert!(!run.success(), "the sentinel login got in: {run}");
        self.wait_audit_after(mark, &[("event", "deny"), ("request", &request)], WAIT);
        let mut records = self.audit_after(mark);
        let at = records
            .iter()
            .position(|r| r.get("request") == Some(request.as_str()))
            .expect("the sentinel's line");
        records.truncate(at);
        records
    }

    /// The host presses Enter and types `echo WORD-$((6*7))`; waits until
    /// `WORD-42` is in the pane of `s` *and* on the guest's terminal. The
    /// second half took the server → relay → sshd → ssh round trip, so every
    /// key the guest typed before has long left the guest's ssh and been
    /// handled by pairshell (and, if forwarded, by the shell).
    pub fn host_sentinel_seen(&self, s: &Shared, tty: &mut Tty, word: &str) {
        let target = format!("={}:", s.name);
        self.host_tmux(s, &["send-keys", "-t", &target, "Enter"]);
        self.host_types_line(s, &format!("echo {word}-$((6*7))"));
        let line = format!("{word}-42");
        assert!(
            self.wait_pane_line(s, &line),
            "the host's sentinel {line:?} never showed in the pane:\n{}",
            self.capture_pane(s)
        );
        tty.wait_for(&line).unwrap();
    }
}

/// Waits for `tty` to end within `bound` of `since` (which may be a moment
/// still to come, such as an expiry); panics with how long it took (or that
/// it never did) and what the terminal showed.
pub fn gone_within(tty: &mut Tty, since: std::time::Instant, bound: Duration, what: &str) {
    let left = (since + bound).saturating_duration_since(std::time::Instant::now());
    if tty.wait_exit(left).is_none() {
        panic!(
            "{what}: still connected {:?} after the step (bound {bound:?}):\n{}",
            since.elapsed(),
            tty.text()
        );
    }
}
