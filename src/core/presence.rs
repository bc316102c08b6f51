//! Whether a share needs its host there (`presence`), and what becomes of
//! the guests when the host steps away (`on_host_leave`): values the host
//! file holds and `share --presence --on-host-leave` names.

use serde::Deserialize;

/// Whether guests need the host there (`presence`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Presence {
    #[default]
    Optional,
    Required,
}

/// What the guests get when the host steps away (`on_host_leave`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnHostLeave {
    /// Screens freeze, nothing typed is forwarded, until the host is back.
    #[default]
    Pause,
    /// The guests are let go (`reason=host-left`).
    End,
}

impl OnHostLeave {
    /// As the host file writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OnHostLeave::Pause => "pause",
            OnHostLeave::End => "end",
        }
    }
}
