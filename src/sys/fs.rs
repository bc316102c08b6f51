//! Opening files by name without being steered.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;

use nix::libc;

/// `OpenOptions` for a file pairshell names itself: never through a
/// symbolic link (`O_NOFOLLOW`: a link planted in the file's place cannot
/// redirect the read or the write), never inherited by a child
/// (`O_CLOEXEC`), and never blocking on a FIFO put there instead
/// (`O_NONBLOCK`, which regular files ignore). Callers check what they
/// opened with `fstat` on the descriptor.
pub(crate) fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    options
}
