//! What happens in the child between `fork` and `exec` of the tmux client.
//!
//! The tmux client is the only program a guest runs as the pair account, so
//! it starts from a clean, narrowed state:
//! - every signal disposition back to default and an empty signal mask, so
//!   nothing pairshell (or sshd) set up leaks into the client;
//! - `no_new_privs`, so nothing the client could ever exec (a set-uid helper,
//!   say) gains privileges.
//!
//! Landlock confinement of exec (so a read-write guest's
//! `detach-client -E 'sh'` runs nothing) is not in place yet; it belongs here.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};

/// Arrange for `cmd`'s child to start with default signals and no_new_privs.
pub fn prepare(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec. It only makes
    // async-signal-safe system calls (sigaction via `signal`, sigprocmask,
    // prctl) and allocates nothing.
    unsafe {
        cmd.pre_exec(child_setup);
    }
}

fn child_setup() -> io::Result<()> {
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler, so no Rust code can run in
        // signal context as a result.
        unsafe { signal::signal(sig, SigHandler::SigDfl) }.map_err(io::Error::from)?;
    }
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(io::Error::from)?;
    nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)?;
    Ok(())
}
