//! The re-checks while a guest is joined: the host's file, the config,
//! expiries and the host's own clients; and the mode the client switches
//! to live.

use super::*;

/// Longest time between two re-checks of a joined guest's grant.
pub(super) const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A file that fails to load is tried this many times, a second apart,
/// before the guest is let go (a host may be saving it by hand).
pub(super) const LOAD_ATTEMPTS: u32 = 3;

/// The live re-check of a joined guest: the grant, decided again from the
/// files, whenever they change, when an `expires` passes, every 30 seconds
/// and on SIGHUP.
///
/// Cheap by construction: a check `stat`s the main config and the host's
/// file and reads one again only when its identity, size or times changed.
pub(super) struct Watch {
    pub(super) config_path: PathBuf,
    pub(super) host_path: PathBuf,
    pub(super) hosts_dir: PathBuf,
    /// The checked server, through which every question goes.
    pub(super) tmux: PairTmux,
    pub(super) joined: policy::Joined,
    pub(super) allow_other_sessions: bool,
    pub(super) config: Option<Config>,
    pub(super) config_stamp: Option<Stamp>,
    pub(super) host_file: Option<config::HostFile>,
    pub(super) host_stamp: Option<Stamp>,
    pub(super) loaded_at: Instant,
    pub(super) failures: u32,
    /// Why the last load failed, for the `leave` line.
    pub(super) load_error: Option<String>,
    /// The tmux client's pid.
    pub(super) pid: u32,
    /// Whether tmux's own read-only flag was seen reset (reported once).
    pub(super) flag_reset_seen: bool,
    /// Events for the trail, written when the client has ended.
    pub(super) notes: Vec<&'static str>,
    /// Whether this client may be made read-write live: it is confined, or
    /// the admin allows unconfined writers (see
    /// `policy::unconfined_join_allowed`).
    pub(super) may_write: bool,
    /// A promotion refused for want of confinement was noted.
    pub(super) promotion_refused_noted: bool,
    /// Live mode changes the host made, ask-to-type and presence (see
    /// `live.rs`).
    pub(super) live: Live,
}

/// What identifies a version of a file without reading it.
pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
}

impl Watch {
    pub(super) fn new(
        config_path: &Path,
        config: &Config,
        id: &Identity,
        grant: &Grant,
        pid: u32,
        tmux: PairTmux,
    ) -> Watch {
        Watch {
            config_path: config_path.to_path_buf(),
            host_path: config::host_path(&config.hosts_dir, grant.host),
            hosts_dir: config.hosts_dir.clone(),
            tmux,
            joined: policy::Joined {
                key_type: id.key_type.clone(),
                base64: id.base64.clone(),
                principal: id.principal.clone(),
                guest: id.guest.clone(),
                host: grant.host.to_string(),
                session: grant.session.to_string(),
                socket: grant.share.socket.clone(),
                mode: grant.mode,
            },
            allow_other_sessions: grant.share.allow_other_sessions,
            config: None,
            config_stamp: None,
            host_file: None,
            host_stamp: None,
            loaded_at: Instant::now(),
            failures: 0,
            load_error: None,
            pid,
            flag_reset_seen: false,
            notes: Vec::new(),
            may_write: true,
            promotion_refused_noted: false,
            live: Live::default(),
        }
    }

    /// The mode the client must switch to now, when it is not the one it
    /// has: `listed` is what the host's file says, raised to read-write by
    /// a visit the host allowed (ask to type).
    ///
    /// Guards against: a live promotion making an unconfined client
    /// writable where the admin refuses unconfined writers at the join.
    pub(super) fn switch_to(&mut self, listed: Mode) -> Option<Mode> {
        let host = self.joined.host.clone();
        let want = if self.live.visit_allowed(&host) {
            Mode::ReadWrite
        } else {
            listed
        };
        if want == self.joined.mode {
            return None;
        }
        if want == Mode::ReadWrite && !self.may_write {
            if !std::mem::replace(&mut self.promotion_refused_noted, true) {
                self.notes.push("mode-change-refused");
            }
            return None;
        }
        self.joined.mode = want;
        // A read-only client's own tmux flag is watched again.
        self.flag_reset_seen = false;
        Some(want)
    }

    /// Decide again. `Err(retry)` when a file could not be loaded and the
    /// check should be repeated after `retry`.
    pub(super) fn check(&mut self, now: Timestamp) -> Result<Verdict, Duration> {
        match self.reload() {
            Ok(()) => self.failures = 0,
            Err(why) => {
                self.failures += 1;
                if self.failures < LOAD_ATTEMPTS {
                    return Err(Duration::from_secs(1));
                }
                // The guest is told that much; the admin's line says why.
                self.load_error = Some(why);
                return Ok(Verdict::Revoked(
                    "pairshell can no longer confirm your access; the admin has been told".into(),
                ));
            }
        }
        let config = self.config.as_ref().expect("reload loads the config");
        let verdict = policy::recheck(config, self.host_file.as_ref(), &self.joined, now);
        // The server is reached only through the socket that was checked;
        // the opened object must still pass the same checks.
        if let Err(e) = self.tmux.socket().recheck() {
            self.load_error = Some(e.to_string());
            return Ok(Verdict::Revoked(format!(
                "{}/{} cannot be joined safely any more; the admin has been told",
                self.joined.host, self.joined.session
            )));
        }
        // tmux's `server-access` resets the read-only flag of every client
        // of the pair account. The relay keeps this guest from typing
        // whatever the flag says; the trail records that tmux's second
        // layer is gone for this client.
        if self.joined.mode == Mode::ReadOnly
            && !self.flag_reset_seen
            && self.tmux.client_read_only(self.pid) == Seen::Yes(false)
        {
            self.flag_reset_seen = true;
            self.notes.push("readonly-flag-reset");
        }
        Ok(verdict)
    }

    /// How a verdict ends the client, with the reason a file failed to load
    /// (for the audit line) when that was the cause.
    pub(super) fn ending(&mut self, verdict: Verdict) -> Option<Ending> {
        let mut ending = Ending::from_verdict(verdict)?;
        ending.detail = self.load_error.take();
        Some(ending)
    }

    /// Read again whichever file changed since the last check.
    pub(super) fn reload(&mut self) -> Result<(), String> {
        // Two edits within one tick of the file system's clock that keep the
        // size would look unchanged; so every 30 s, read both anyway.
        if self.loaded_at.elapsed() >= RECHECK_EVERY {
            self.config_stamp = None;
            self.host_stamp = None;
            self.loaded_at = Instant::now();
        }
        let config_stamp = stamp(&self.config_path);
        if self.config.is_none() || config_stamp != self.config_stamp {
            let mut loaded =
                config::index::Loaded::load(&self.config_path).map_err(|e| e.to_string())?;
            let key = (self.joined.key_type.as_str(), self.joined.base64.as_str());
            let principal: Vec<&str> = self.joined.principal.as_deref().into_iter().collect();
            loaded
                .add_guests_for(&[key], &principal)
                .map_err(|e| e.to_string())?;
            self.config = Some(loaded.into_config());
            self.config_stamp = config_stamp;
        }
        let host_stamp = stamp(&self.host_path);
        if host_stamp.is_none() || host_stamp != self.host_stamp {
            self.host_file = match config::load_host(&self.hosts_dir, &self.joined.host) {
                Ok(host) => Some(host.file),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.to_string()),
            };
            self.host_stamp = host_stamp;
        }
        Ok(())
    }

    /// When the server holds sessions besides the shared one and the host
    /// did not allow that: the reason to end the client. `NotListed` while
    /// our client has not shown up in the server's list yet.
    pub(super) fn other_sessions(&self, pid: u32) -> Seen<Option<Ending>> {
        if self.allow_other_sessions {
            return Seen::Yes(None);
        }
        let n = match self.tmux.server_sessions(pid) {
            Seen::Yes(n) => n,
            Seen::NotListed => return Seen::NotListed,
            Seen::Stuck => return Seen::Stuck,
        };
        Seen::Yes((n > 1).then(|| Ending {
            reason: "other-sessions",
            message: Some(format!(
                "{}/{} is served by a tmux server that holds other sessions too, so pairshell will not serve it; ask {} to share it on its own server",
                self.joined.host, self.joined.session, self.joined.host
            )),
            detail: Some(format!("{n} sessions on {}", self.joined.socket.display())),
        }))
    }
}
