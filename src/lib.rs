//! pairshell: a login shell for a shared pairing account.
//!
//! The folders are the layers, and imports only point down (README's
//! "Architecture" says what each holds; `tests/layers.rs` enforces the
//! direction): `app` and `fuzzing` on top; `guest`, `host`, `admin` and `sshd`
//! (the commands); `config`, `policy`, `tmux`, `audit`, `identity`, `roster`,
//! `record` and `ask` (the domain); `sys` (the only unsafe code and raw libc); and
//! `core` (pure values, no I/O). `cli` is clap's view of the command line and
//! imports only `core`.
//!
//! The only public items are [`main`], [`cli_command`] (the man-page test
//! builds `--help` and `man/pairshell.1` from one definition) and the hidden
//! `fuzzing` module for the targets in `fuzz/`.

#![deny(unsafe_code)]

mod admin;
mod app;
mod ask;
mod audit;
mod cli;
mod config;
mod core;
#[doc(hidden)]
pub mod fuzzing;
mod guest;
mod host;
mod identity;
mod policy;
mod record;
mod roster;
mod sshd;
#[allow(unsafe_code)]
mod sys;
mod tmux;

pub use app::main;

/// The clap definition of the command line, for generating man pages.
pub fn cli_command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}
