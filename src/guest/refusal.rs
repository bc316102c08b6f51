//! A login ended by pairshell: what the guest reads, and what the admin's
//! `deny` line says.

use super::*;

/// A login ended by pairshell: what the guest reads and what the audit keeps.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) reason: &'static str,
    pub(super) to_guest: String,
    pub(super) detail: Option<String>,
    /// More guests the refusal concerns (the keys of several guests in
    /// one session): each gets a `deny` line of their own, so one guest's
    /// trail (`grep guest=NAME`) has it.
    pub(super) also_guests: Vec<String>,
}

/// What a guest is told when the fault is the host's setup, not theirs.
pub(super) const SETUP_FAULT: &str =
    "pairshell is not set up correctly on this host; the admin has been told";

impl Refusal {
    /// A refusal whose cause only the admin can fix; `detail` says what.
    pub(super) fn setup(reason: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal::new(reason, SETUP_FAULT).detail(detail)
    }

    /// The session has no running server or no such session.
    pub(super) fn not_running(label: &str, host: &str) -> Refusal {
        Refusal::new(
            "not-running",
            format!("that session is not running: {label}; ask {host} to start it"),
        )
    }

    /// The session's server did not answer within tmux's deadline.
    pub(super) fn stuck(label: &str) -> Refusal {
        Refusal::new(
            "server-stuck",
            format!("{label} is not answering; try again later"),
        )
    }

    pub(super) fn new(reason: &'static str, to_guest: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            to_guest: to_guest.into(),
            detail: None,
            also_guests: Vec::new(),
        }
    }

    pub(super) fn detail(mut self, detail: impl Into<String>) -> Refusal {
        self.detail = Some(detail.into());
        self
    }
}

pub(super) fn hosts_dir_refusal(e: crate::core::error::Error) -> Refusal {
    Refusal::setup("config-error", e.to_string())
}

pub(super) fn nothing_shared(guest: &str) -> String {
    format!("no session is shared with you ({guest}) on this host")
}

pub(super) fn not_shared(guest: &str, target: &Target, grants: &[Grant]) -> Refusal {
    let msg = if grants.is_empty() {
        format!(
            "{target} is not shared with you, and {}",
            nothing_shared(guest)
        )
    } else {
        let names: Vec<String> = grants.iter().map(Grant::label).collect();
        format!(
            "{target} is not shared with you ({guest}); you may join: {}",
            names.join(", ")
        )
    };
    Refusal::new("not-shared", msg)
}
