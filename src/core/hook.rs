//! The events the shared server reports to `pairshell hook`.

/// What a hook was told happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HookEvent {
    /// A client changed session: detach every guest not on the shared one.
    Enforce,
    /// A client attached: tell the host's clients who joined.
    Joined,
    /// A client detached: tell the host's clients who left.
    Left,
    /// A guest's pairshell rang: prompt the host's clients with what is
    /// being asked (see `crate::ask`).
    Asks,
    /// The host's `Ctrl-b T`: take back every visit (ask to type) on this
    /// server.
    EndVisits,
}
