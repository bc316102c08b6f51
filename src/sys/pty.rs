//! The terminal: the guest's own, reopened; the inner pty; window sizes; and
//! the controlling terminal of the tmux client.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;
use nix::pty::Winsize;

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, Winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, Winsize);
nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);

/// The window size of a terminal.
pub(crate) fn window_size(fd: BorrowedFd<'_>) -> io::Result<Winsize> {
    let mut size = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which
    // points at a live, properly aligned Winsize.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut size) }?;
    Ok(size)
}

pub(crate) fn set_window_size(fd: BorrowedFd<'_>, size: &Winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from a live reference.
    unsafe { tiocswinsz(fd.as_raw_fd(), size) }?;
    Ok(())
}

/// Open the guest's terminal (`fd`, normally stdin) anew: the same device,
/// a description of our own, so nonblocking I/O on it leaves stderr alone.
pub(crate) fn reopen_terminal(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let name = nix::unistd::ttyname(fd)?;
    let own = nix::fcntl::open(
        &name,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let (a, b) = (nix::sys::stat::fstat(fd)?, nix::sys::stat::fstat(&own)?);
    if a.st_rdev != b.st_rdev {
        return Err(io::Error::other(format!(
            "{} is not this terminal",
            name.display()
        )));
    }
    Ok(own)
}

/// A new inner pty: `(master, slave)`, close-on-exec both.
pub(crate) fn inner_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    let pty = nix::pty::openpty(None, None)?;
    for fd in [&pty.master, &pty.slave] {
        fcntl(fd, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    }
    Ok((pty.master, pty.slave))
}

/// For `exec-client`, whose stdin is the inner pty's slave: start a new
/// session with that terminal as its controlling terminal, so the client
/// gets SIGWINCH when the relay resizes it.
pub(crate) fn take_terminal() -> io::Result<()> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY with argument 0 on stdin takes no pointer.
    unsafe { tiocsctty(0, 0) }?;
    Ok(())
}
