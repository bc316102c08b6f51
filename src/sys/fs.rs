//! Opening files by name without being steered, and replacing one whole.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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

/// Write `bytes` to a temporary file beside `path` with this owner and
/// mode, sync it, rename it over `path` and sync the directory.
pub(crate) fn replace(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
    bytes: &[u8],
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.pairshell-{}.tmp", std::process::id()));
    // A leftover of a process that had our pid; only root can write here.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = no_follow()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = (|| {
        file.write_all(bytes)?;
        nix::unistd::fchown(
            &file,
            Some(uid.into()),
            Some(nix::unistd::Gid::from_raw(gid)),
        )?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
