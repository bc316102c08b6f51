//! Running a program with a deadline.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Most of a program's stdout or stderr that is kept: a tmux client that a
/// hostile server drives can print without end.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;

/// Run `cmd` with piped stdout and stderr (each kept up to [`MAX_OUTPUT`])
/// and `/dev/null` as stdin; `None`, with the child killed, when it has not
/// finished within `limit`.
pub(crate) fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<Option<Output>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    use std::os::fd::{AsFd, OwnedFd};
    let deadline = Instant::now() + limit;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut pipes: [Option<std::fs::File>; 2] = [
        child.stdout.take().map(|p| OwnedFd::from(p).into()),
        child.stderr.take().map(|p| OwnedFd::from(p).into()),
    ];
    let mut bufs = [Vec::new(), Vec::new()];
    let mut chunk = [0u8; 8192];
    let stuck = loop {
        let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if open.is_empty() {
            break false;
        }
        if left.is_zero() {
            break true;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(pipes[i].as_ref().unwrap().as_fd(), PollFlags::POLLIN))
            .collect();
        let timeout =
            PollTimeout::try_from(left.max(Duration::from_millis(1))).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (&i, ready) in open.iter().zip(ready) {
            if !ready {
                continue;
            }
            let pipe = pipes[i].as_mut().unwrap();
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => pipes[i] = None,
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(bufs[i].len());
                    bufs[i].extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    };
    // Both pipes closed: the client is exiting. Wait for it, still bounded
    // (a client could close its output and then hang).
    let status = loop {
        if stuck {
            break None;
        }
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_micros(100)),
        }
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(None);
    };
    let [stdout, stderr] = bufs;
    Ok(Some(Output {
        status,
        stdout,
        stderr,
    }))
}
