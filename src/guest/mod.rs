//! The guest flow, top to bottom:
//! identify → load → parse request → choose → verify socket → audit → run
//! tmux → audit leave.
//!
//! Each stage either hands the next one what it established or ends the
//! login with a [`Refusal`]: a short reason for the guest and a `deny` audit
//! line with the full one for the admin. Nothing here trusts the request
//! text beyond what `request::parse` accepted.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Uid;

use crate::audit::{Audit, Event};
use crate::core::error::Exit;

use crate::config::index::hosts::{HostsIndex, Lookup};
use crate::config::index::Stamp;
use crate::config::{self, Config, Host, OnHostLeave};
use crate::core::mode::Mode;
use crate::core::request::{self, Request, Target};
use crate::identity::{self, Identity};
use crate::policy::{self, Grant, Resolution, Verdict};
use crate::record;
use crate::roster;
use crate::sys::fd;
use crate::sys::sandbox::{self, Confinement, Jail};
use crate::sys::trust::{self, Owner};
use crate::tmux::terminfo;
use crate::tmux::{self, PairTmux, Seen, SessionState};
use chooser::{Item, State};
use relay::{Event as Happened, Input, Relay, Stopped};

pub(crate) mod chooser;
mod client;
mod context;
mod join;
mod live;
mod login;
mod probe;
mod refusal;
pub(crate) mod relay;
mod watch;

pub(crate) use client::exec_client;
use client::*;
use context::*;
use join::*;
use live::{HostPresence, Live};
use login::*;
use probe::*;
use refusal::*;
use watch::*;

/// Where the flow starts: which config, and the guest's raw request.
#[derive(Debug)]
pub(crate) struct Start {
    config: Option<PathBuf>,
    request: Vec<u8>,
}

impl Start {
    pub(crate) fn new(config: Option<PathBuf>, request: Option<OsString>) -> Start {
        Start {
            config,
            request: request.map(OsString::into_vec).unwrap_or_default(),
        }
    }

    /// `pairshell login`: the request is what the guest typed after the host.
    pub(crate) fn login(config: Option<PathBuf>) -> Start {
        Start::new(config, std::env::var_os("SSH_ORIGINAL_COMMAND"))
    }
}

/// Run the guest flow and turn its outcome into an exit code.
pub(crate) fn run(start: Start) -> Exit {
    let mut trail = Context {
        from: ssh_client_address(),
        request: start.request.clone(),
        ..Context::default()
    };
    // Until the config says where audit lines go, use the system's socket.
    let mut audit = Audit::fallback();
    match flow(&start, &mut trail, &mut audit) {
        Ok(code) => code,
        Err(refusal) => {
            let deny = |trail: &Context| {
                trail.fields(
                    Event::new("deny")
                        .field("reason", refusal.reason)
                        .opt("detail", refusal.detail.as_deref()),
                )
            };
            let key = trail.fingerprint.clone();
            audit.write_refusal(deny(&trail), key.as_deref());
            for guest in &refusal.also_guests {
                trail.guest = Some(guest.clone());
                audit.write_refusal(deny(&trail), key.as_deref());
            }
            eprintln!("pairshell: {}", refusal.to_guest);
            Exit::Failed
        }
    }
}

fn flow(start: &Start, trail: &mut Context, audit: &mut Audit) -> Result<Exit, Refusal> {
    let now = Timestamp::now();

    // Load: the admin's config, believed only if root owns it.
    let path = config::main_path(start.config.as_deref());
    // Through its index, when one matches it: then only the guests who hold
    // the presented keys are read (see `config::index`).
    let mut loaded = config::index::Loaded::load(&path)
        .map_err(|e| Refusal::setup("config-error", e.to_string()))?;
    *audit = Audit::new(
        &loaded.config.audit.syslog_socket,
        loaded.config.audit.required,
    )
    .with_gap_file(roster::dir(&loaded.config.sockets_dir).join(".audit-gap"))
    .with_refusal_limit(loaded.config.audit.refusals_per_minute);
    let pair_uid = pair_account(&loaded.config)?;
    // An index that exists but was not used (stale after a hand edit, or not
    // root's, which may be tampering) is the admin's to know about: once
    // per config version, not at every login (`check` keeps reporting it).
    if let Some(note) = loaded.index_note_once(&roster::dir(&loaded.config.sockets_dir)) {
        audit.write_best_effort(trail.event("index-unused").field("reason", note));
    }

    // Identify: the key sshd verified, and nothing else.
    let auth_info = std::env::var_os("SSH_USER_AUTH").map(PathBuf::from);
    let id = identify(&mut loaded, auth_info.as_deref(), pair_uid, now, trail)?;
    // The config's absolute path, as checked: where its indexes are.
    let path = loaded.path.clone();
    let config = loaded.into_config();

    // Parse the request against the grammar.
    let request = request::parse(&start.request).map_err(|e| {
        Refusal::new(
            e.code(),
            "that is not a request pairshell understands; `ssh pair@host help` shows what is",
        )
    })?;

    match request {
        Request::Help => {
            print_help(&config, &id);
            Ok(Exit::Done)
        }
        Request::List => {
            let hosts = load_hosts(&path, &config, &id.guest, None, trail, audit)?;
            let grants = policy::grants(&hosts, &id.guest, now);
            let mut out = std::io::stdout().lock();
            for g in &grants {
                let _ = writeln!(out, "{}\t{}", g.label(), g.mode);
            }
            if grants.is_empty() {
                eprintln!("pairshell: {}", nothing_shared(&id.guest));
            }
            Ok(Exit::Done)
        }
        Request::Choose => {
            let hosts = load_hosts(&path, &config, &id.guest, None, trail, audit)?;
            let grants = policy::grants(&hosts, &id.guest, now);
            if grants.is_empty() {
                eprintln!("pairshell: {}", nothing_shared(&id.guest));
                return Ok(Exit::Done);
            }
            need_terminal()?;
            let items = probe_all(&config, &hosts, &grants);
            let picked = chooser::choose(&id.guest, &items).map_err(|e| {
                Refusal::new("chooser-failed", "the chooser failed").detail(e.to_string())
            })?;
            let Some(i) = picked else {
                return Ok(Exit::Done);
            };
            // The guest may have sat in the chooser for hours: decide again,
            // now, from the host's file as it is now.
            let target = Target {
                host: Some(grants[i].host.to_string()),
                session: grants[i].session.to_string(),
            };
            let now = Timestamp::now();
            let config = current_config(&path, &id, now)?;
            join_target(&path, &config, &id, &target, now, trail, audit)
        }
        Request::Join(target) => join_target(&path, &config, &id, &target, now, trail, audit),
    }
}
