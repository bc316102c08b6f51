//! Descriptors handed down by the parent process at a known number.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg};

/// Take ownership of descriptor `fd`, which the parent left open for this
/// process (`exec-client --gate N --socket-fd M`). Refuses the standard
/// streams and a number that is not open, so a wrong number fails here and
/// not as a stray close of something else later.
pub(crate) fn inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd < 3 {
        return None;
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; any number is
    // allowed and an unused one gives EBADF.
    let open = fcntl(
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        FcntlArg::F_GETFD,
    )
    .is_ok();
    if !open {
        return None;
    }
    // SAFETY: the descriptor is open, and the parent passed it to this
    // process at this number for it alone: nothing else in this process
    // owns it, so owning (and eventually closing) it is sound.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
