//! Ownership, mode and type checks: when may pairshell believe a file?
//!
//! Every file pairshell reads decides who gets into whose session, so each
//! one is believed only when its owner is the person entitled to write it and
//! nobody else can. All checks look at the opened file descriptor (`fstat`),
//! not at the name, so a file swapped between check and read is still the one
//! checked. Failing a check is a refusal, never a warning (fail closed).

use std::ffi::CString;
use std::fs::{File, Metadata};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::libc;
use nix::unistd::{getgrouplist, AccessFlags, Gid, Uid, User};

use crate::core::error::Error;

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Who may own a file for it to be believed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner {
    /// Only root (the main config, `hosts_dir`).
    Root,
    /// This user or root (a host's own file or socket).
    UserOrRoot(Uid),
    /// Exactly this user (`SSH_USER_AUTH`, written by sshd as the pair account).
    Exactly(Uid),
}

impl Owner {
    fn allows(self, uid: u32) -> bool {
        match self {
            Owner::Root => uid == 0,
            Owner::UserOrRoot(u) => uid == 0 || uid == u.as_raw(),
            Owner::Exactly(u) => uid == u.as_raw(),
        }
    }

    fn describe(self) -> String {
        match self {
            Owner::Root => "root".into(),
            Owner::UserOrRoot(u) => format!("uid {u} or root"),
            Owner::Exactly(u) => format!("uid {u}"),
        }
    }
}

/// Open `path` without following a final symlink, check it is a regular file
/// owned as required and not writable by group or other, and read it whole.
///
/// Guards against: a file another user can rewrite (a guest or a different
/// host granting themselves access), a symlink pointing at a file someone
/// else controls, and a FIFO or device that would block or feed endless data.
pub(crate) fn read_trusted(path: &Path, owner: Owner, max_len: u64) -> Result<String, Error> {
    read_checked(path, owner, max_len, false)
}

/// [`read_trusted`], first waiting briefly for a writer's lock (host files).
pub(crate) fn read_trusted_locked(
    path: &Path,
    owner: Owner,
    max_len: u64,
) -> Result<String, Error> {
    read_checked(path, owner, max_len, true)
}

fn read_checked(path: &Path, owner: Owner, max_len: u64, locked: bool) -> Result<String, Error> {
    let (mut file, meta) = open_checked(path, owner, false)?;
    // A host file may be mid-rewrite by `pairshell share`, which holds an
    // exclusive lock for the few microseconds it writes in place.
    let _lock = locked.then(|| lock_briefly(&file, FlockArg::LockSharedNonblock, LOCK_WAIT_READ));
    if meta.len() > max_len {
        return Err(Error::untrusted(
            path,
            format!("is larger than {max_len} bytes"),
        ));
    }
    let mut text = String::with_capacity(meta.len() as usize);
    (&mut file)
        .take(max_len)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    Ok(text)
}

/// How long a reader waits for a writer's lock on a host file.
const LOCK_WAIT_READ: Duration = Duration::from_millis(100);

/// Try to take a `flock` on `file` for at most `wait`; `None` if it could
/// not be had, and the caller goes on without it.
///
/// The lock is a courtesy between pairshell's own writer and readers (so a
/// guest does not read a host file half-rewritten by `share`), never a
/// condition: every user can open these files for reading, so every user
/// can hold a lock on them. Guards against: a local user who holds a lock
/// forever stopping logins or a host's `revoke` (at worst they add `wait`).
/// A read that did catch a half-written file fails to parse and is retried
/// or refused, as any invalid file is.
pub(crate) fn lock_briefly(file: &File, how: FlockArg, wait: Duration) -> Option<Flock<File>> {
    let deadline = Instant::now() + wait;
    loop {
        let dup = file.try_clone().ok()?;
        match Flock::lock(dup, how) {
            Ok(lock) => return Some(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return None,
        }
    }
}

/// [`lock_briefly`] for a reader that keeps a shared lock until it closes
/// `file`: taken on `file`'s own open file description, so there is no
/// duplicate descriptor to make and no explicit unlock (closing `file`
/// releases it). Returns whether the lock was had; the same courtesy, never
/// a condition. For the login's look at every host file (see
/// `config::host_file_may_name`), where those three system calls were a
/// third of the cost of each file.
pub(crate) fn lock_shared_until_close(file: &File, wait: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + wait;
    loop {
        // `Flock` takes the file by value and unlocks on drop: the dup and
        // unlock this function exists to avoid.
        #[allow(deprecated)]
        match nix::fcntl::flock(file.as_raw_fd(), FlockArg::LockSharedNonblock) {
            Ok(()) => return true,
            Err(nix::errno::Errno::EWOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return false,
        }
    }
}

/// Open `path` for reading and writing after the same checks as
/// [`read_trusted`] (no symlink, a regular file owned as required, not
/// writable by group or other). For the host's own edits of their file.
pub(crate) fn open_trusted_rw(path: &Path, owner: Owner) -> Result<File, Error> {
    open_checked(path, owner, true).map(|(file, _)| file)
}

/// Open `path` for reading after the same checks as [`read_trusted`],
/// without reading it (the lookup index, read a few bytes at a time).
pub(crate) fn open_trusted(path: &Path, owner: Owner) -> Result<(File, Metadata), Error> {
    open_checked(path, owner, false)
}

/// Open without following a final symlink, and check the opened file.
fn open_checked(path: &Path, owner: Owner, write: bool) -> Result<(File, Metadata), Error> {
    let file = crate::sys::fs::no_follow()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::untrusted(path, "is a symbolic link"),
            _ => Error::io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    check_file_meta(path, &meta, owner)?;
    Ok((file, meta))
}

/// Whether `meta` is owned as `owner` says.
pub(crate) fn owned_as(meta: &Metadata, owner: Owner) -> bool {
    owner.allows(meta.uid())
}

/// A regular file owned by this process's effective user: a state file
/// pairshell keeps for itself (the audit gap file, the index-unused note).
/// Guards against: a link or another user's file planted in its place
/// making pairshell write elsewhere or believe someone else's lines.
pub(crate) fn is_own_file(meta: &Metadata) -> bool {
    meta.is_file() && meta.uid() == nix::unistd::geteuid().as_raw()
}

/// A regular file, owned as `owner` says, writable by nobody else.
pub(crate) fn check_file_meta(path: &Path, meta: &Metadata, owner: Owner) -> Result<(), Error> {
    if !meta.file_type().is_file() {
        return Err(Error::untrusted(path, "is not a regular file"));
    }
    if !owner.allows(meta.uid()) {
        return Err(Error::untrusted(
            path,
            format!(
                "is owned by uid {}, must be {}",
                meta.uid(),
                owner.describe()
            ),
        ));
    }
    if meta.permissions().mode() & GROUP_OR_OTHER_WRITE != 0 {
        return Err(Error::untrusted(
            path,
            format!(
                "is writable by group or other (mode {:o})",
                meta.permissions().mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Check that `dir` and every directory above it is owned by root and not
/// writable by group or other. A root-owned sticky directory such as `/tmp`
/// is accepted: other users cannot rename or remove root's entries in it.
///
/// Guards against: an unprivileged user renaming a directory on the way to
/// the config and putting a config of their own in its place.
pub(crate) fn check_root_path(dir: &Path) -> Result<(), Error> {
    let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    for ancestor in dir.ancestors() {
        let meta = std::fs::metadata(ancestor).map_err(|e| Error::io(ancestor, e))?;
        if !meta.is_dir() {
            return Err(Error::untrusted(ancestor, "is not a directory"));
        }
        if meta.uid() != 0 {
            return Err(Error::untrusted(
                ancestor,
                format!("directory is owned by uid {}, must be root", meta.uid()),
            ));
        }
        let mode = meta.permissions().mode();
        if mode & GROUP_OR_OTHER_WRITE != 0 && mode & STICKY == 0 {
            return Err(Error::untrusted(
                ancestor,
                format!(
                    "directory is writable by group or other (mode {:o})",
                    mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Read a root-owned file whose directories are root's too (the main config).
pub(crate) fn read_root_file(path: &Path, max_len: u64) -> Result<(PathBuf, String), Error> {
    let abs = absolute(path)?;
    if let Some(parent) = abs.parent() {
        check_root_path(parent)?;
    }
    let text = read_trusted(&abs, Owner::Root, max_len)?;
    Ok((abs, text))
}

/// Open a root-owned file whose directories are root's too, after the same
/// checks as [`read_root_file`], for an edit that will replace it (the main
/// config). Returns its absolute path, the open file and its metadata.
pub(crate) fn open_root_file(path: &Path) -> Result<(PathBuf, File, Metadata), Error> {
    let abs = absolute(path)?;
    if let Some(parent) = abs.parent() {
        check_root_path(parent)?;
    }
    let (file, meta) = open_checked(&abs, Owner::Root, false)?;
    Ok((abs, file, meta))
}

/// `path` made absolute against the working directory, without resolving
/// symlinks (so messages show the name the admin wrote).
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}

/// Check a session's tmux socket before the pair account connects to it.
///
/// Guards against: a socket replaced by a symlink to another user's server,
/// a socket created by someone other than the host who shared it, and a
/// socket in a directory the pair account itself could write (where a
/// confined-but-compromised client could plant its own server).
pub(crate) fn check_socket(socket: &Path, owner: Owner) -> Result<(), Error> {
    check_socket_with(socket, owner, |dir, _| writable_by_me(dir))
}

/// [`check_socket`] on behalf of `pair` rather than of this process: for
/// `pairshell check`, which runs as root (who can write everywhere). Whether
/// `pair` can write a directory is worked out from its owner, group and
/// mode bits, and `pair`'s groups (ACLs are not looked at).
pub(crate) fn check_socket_for(socket: &Path, owner: Owner, pair: &User) -> Result<(), Error> {
    let groups = CString::new(pair.name.as_str())
        .ok()
        .and_then(|name| getgrouplist(&name, pair.gid).ok())
        .unwrap_or_else(|| vec![pair.gid]);
    check_socket_with(socket, owner, |_, meta| {
        writable_by(meta, pair.uid, &groups)
    })
}

/// Whether a user with `uid` and `groups` may write a file with `meta`,
/// by its mode bits alone.
fn writable_by(meta: &Metadata, uid: Uid, groups: &[Gid]) -> bool {
    let mode = meta.permissions().mode();
    if uid.is_root() {
        true
    } else if meta.uid() == uid.as_raw() {
        mode & 0o200 != 0
    } else if groups.iter().any(|g| g.as_raw() == meta.gid()) {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}

fn check_socket_with(
    socket: &Path,
    owner: Owner,
    writable: impl Fn(&Path, &Metadata) -> bool,
) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(socket).map_err(|e| Error::io(socket, e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::untrusted(socket, "is a symbolic link"));
    }
    if !meta.file_type().is_socket() {
        return Err(Error::untrusted(socket, "is not a socket"));
    }
    if !owner.allows(meta.uid()) {
        return Err(Error::untrusted(
            socket,
            format!(
                "is owned by uid {}, must be {}",
                meta.uid(),
                owner.describe()
            ),
        ));
    }
    let parent = socket
        .parent()
        .ok_or_else(|| Error::untrusted(socket, "has no parent directory"))?;
    for dir in parent.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
        let sticky = meta.permissions().mode() & STICKY != 0;
        if !sticky && writable(dir, &meta) {
            return Err(Error::untrusted(
                dir,
                "directory of the socket is writable by the pair account",
            ));
        }
    }
    Ok(())
}

/// A session's socket, opened once (`O_PATH`) and checked as opened.
///
/// Guards against: a host swapping their socket path for a symlink to, or a
/// rename of, another host's socket after pairshell checked it. tmux would
/// look the path up again for every client; given `/proc/self/fd/N`
/// ([`PinnedSocket::proc_path`]) it connects to the very object that was
/// checked, whatever the path names by then.
#[derive(Debug)]
pub(crate) struct PinnedSocket {
    fd: std::os::fd::OwnedFd,
    path: PathBuf,
    owner: Owner,
}

impl PinnedSocket {
    /// The name tmux connects through, in this process and in every child
    /// that inherits the descriptor (see `sandbox::Jail::prepare`).
    pub(crate) fn proc_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// Check the opened object again: still a socket of its owner.
    pub(crate) fn recheck(&self) -> Result<(), Error> {
        check_opened_socket(&self.path, &self.fd, self.owner)
    }
}

/// Check `socket` as [`check_socket`] does, then open it without following
/// a symlink and check the opened object: a socket, owned as required.
pub(crate) fn open_socket(socket: &Path, owner: Owner) -> Result<PinnedSocket, Error> {
    check_socket(socket, owner)?;
    let fd = nix::fcntl::open(
        socket,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::io(socket, e.into()))?;
    check_opened_socket(socket, &fd, owner)?;
    Ok(PinnedSocket {
        fd,
        path: socket.to_path_buf(),
        owner,
    })
}

fn check_opened_socket(
    socket: &Path,
    fd: &std::os::fd::OwnedFd,
    owner: Owner,
) -> Result<(), Error> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| Error::io(socket, e.into()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Error::untrusted(socket, "is not a socket once opened"));
    }
    if !owner.allows(st.st_uid) {
        return Err(Error::untrusted(
            socket,
            format!(
                "is owned by uid {} once opened, must be {}",
                st.st_uid,
                owner.describe()
            ),
        ));
    }
    Ok(())
}

/// POSIX ACL tags and the one `id` that means "none", as Linux's
/// `system.posix_acl_access` attribute spells them.
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const ACL_NO_ID: u32 = u32::MAX;
const ACL_XATTR: &std::ffi::CStr = c"system.posix_acl_access";

/// Make `file` readable and writable by its owner and readable by `uid`
/// alone: the ACL `u::rw-, u:UID:r--, g::---, m::r--, o::---`.
pub(crate) fn grant_read(file: &File, uid: Uid) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let entries = [
        (ACL_USER_OBJ, 6u16, ACL_NO_ID),
        (ACL_USER, 4, uid.as_raw()),
        (ACL_GROUP_OBJ, 0, ACL_NO_ID),
        (ACL_MASK, 4, ACL_NO_ID),
        (ACL_OTHER, 0, ACL_NO_ID),
    ];
    let mut value = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        value.extend_from_slice(&tag.to_le_bytes());
        value.extend_from_slice(&perm.to_le_bytes());
        value.extend_from_slice(&id.to_le_bytes());
    }
    // SAFETY: fsetxattr reads `value.len()` bytes from a live buffer and the
    // attribute name from a NUL-terminated constant.
    let rc = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            ACL_XATTR.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The ACL entries of `path`, as `(tag, perm, id)`, for tests.
#[cfg(test)]
pub(crate) fn read_acl(path: &Path) -> std::io::Result<Vec<(u16, u16, u32)>> {
    use std::os::unix::ffi::OsStrExt;
    let name = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut buf = [0u8; 256];
    // SAFETY: getxattr writes at most `buf.len()` bytes into a live buffer;
    // both names are NUL-terminated.
    let n = unsafe {
        libc::getxattr(
            name.as_ptr(),
            ACL_XATTR.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
    Ok(buf[4..n]
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect())
}

fn writable_by_me(path: &Path) -> bool {
    nix::unistd::access(path, AccessFlags::W_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fresh directory under the system temp dir, removed on drop.
    use crate::sys::scratch::Scratch;

    /// A small auth-info-like file of `mode` in `s`.
    fn file(s: &Scratch, name: &str, mode: u32) -> PathBuf {
        s.write(name, "publickey ssh-ed25519 AAAA\n", mode)
    }

    fn me() -> Owner {
        Owner::Exactly(nix::unistd::geteuid())
    }

    fn someone_else() -> Owner {
        Owner::Exactly(Uid::from_raw(nix::unistd::geteuid().as_raw() + 4242))
    }

    fn untrusted(r: Result<impl std::fmt::Debug, Error>, why: &str) {
        match r {
            Err(Error::Untrusted { reason, .. }) => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected untrusted ({why}), got {other:?}"),
        }
    }

    #[test]
    fn trusted_file_is_read() {
        let s = Scratch::new("trust", "ok");
        let f = file(&s, "auth", 0o600);
        assert!(read_trusted(&f, me(), 1024)
            .unwrap()
            .starts_with("publickey"));
    }

    #[test]
    fn symlink_to_a_file_someone_else_controls_is_refused() {
        let s = Scratch::new("trust", "link");
        let target = file(&s, "real", 0o600);
        let link = s.0.join("auth");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        untrusted(read_trusted(&link, me(), 1024), "symbolic link");
    }

    #[test]
    fn file_forged_by_another_user_is_refused() {
        let s = Scratch::new("trust", "owner");
        let f = file(&s, "auth", 0o600);
        untrusted(read_trusted(&f, someone_else(), 1024), "owned by uid");
    }

    #[test]
    fn file_others_can_rewrite_is_refused() {
        let s = Scratch::new("trust", "mode");
        for mode in [0o620, 0o602, 0o666] {
            let f = file(&s, "cfg", mode);
            untrusted(read_trusted(&f, me(), 1024), "writable by group or other");
        }
    }

    #[test]
    fn fifo_or_directory_in_place_of_a_file_is_refused() {
        let s = Scratch::new("trust", "type");
        untrusted(read_trusted(&s.0, me(), 1024), "not a regular file");
    }

    #[test]
    fn lock_held_forever_by_another_user_does_not_stop_reading_a_host_file() {
        // Anyone who can read a file can flock it; that must cost a reader
        // a moment, never the read.
        let s = Scratch::new("trust", "lock");
        let f = file(&s, "maria.toml", 0o644);
        let other = std::fs::File::open(&f).unwrap();
        let _held = Flock::lock(other, FlockArg::LockExclusive).unwrap();
        let started = Instant::now();
        assert!(read_trusted_locked(&f, me(), 1024).is_ok());
        // Not a speed goal: a reader that waited for the lock would never return.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn oversized_file_is_refused() {
        let s = Scratch::new("trust", "size");
        let f = file(&s, "auth", 0o600);
        untrusted(read_trusted(&f, me(), 4), "larger than");
    }

    #[test]
    fn config_in_a_directory_others_can_write_is_refused() {
        // Anyone could rename the directory's entries and put their own
        // config in place of the admin's.
        let s = Scratch::new("trust", "dir");
        let sub = s.0.join("etc");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        untrusted(check_root_path(&sub), "writable by group or other");
    }

    #[test]
    fn socket_replaced_by_a_symlink_is_refused() {
        let s = Scratch::new("trust", "socklink");
        let real = s.0.join("real.sock");
        let _server = UnixListener::bind(&real).unwrap();
        let link = s.0.join("api.sock");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        untrusted(check_socket(&link, me()), "symbolic link");
    }

    #[test]
    fn socket_owned_by_another_user_is_refused() {
        let s = Scratch::new("trust", "sockowner");
        let sock = s.0.join("api.sock");
        let _server = UnixListener::bind(&sock).unwrap();
        untrusted(check_socket(&sock, someone_else()), "owned by uid");
    }

    #[test]
    fn regular_file_in_place_of_a_socket_is_refused() {
        let s = Scratch::new("trust", "socktype");
        let f = file(&s, "api.sock", 0o600);
        untrusted(check_socket(&f, me()), "not a socket");
    }

    #[test]
    fn socket_in_a_directory_the_pair_account_can_write_is_refused() {
        // The pair account could plant a server of its own there. This test
        // runs as the directory's owner, which can write it.
        let s = Scratch::new("trust", "sockdir");
        let sock = s.0.join("api.sock");
        let _server = UnixListener::bind(&sock).unwrap();
        untrusted(check_socket(&sock, me()), "writable by the pair account");
    }

    #[test]
    fn socket_directory_is_judged_for_the_pair_account_not_for_root() {
        // `check` runs as root, who may write anywhere; what matters is
        // whether the pair account could plant a server there.
        let s = Scratch::new("trust", "sockfor");
        let sock = s.0.join("api.sock");
        let _server = UnixListener::bind(&sock).unwrap();
        let nobody = User::from_name("nobody")
            .unwrap()
            .expect("a nobody account");
        let root = User::from_uid(Uid::from_raw(0)).unwrap().unwrap();
        if nix::unistd::geteuid().is_root() {
            check_socket_for(&sock, me(), &nobody).unwrap();
            untrusted(
                check_socket_for(&sock, me(), &root),
                "writable by the pair account",
            );
        }
        std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o757)).unwrap();
        untrusted(
            check_socket_for(&sock, me(), &nobody),
            "writable by the pair account",
        );
    }

    #[test]
    fn owner_rules() {
        let u = Uid::from_raw(1000);
        assert!(Owner::Root.allows(0));
        assert!(!Owner::Root.allows(1000));
        assert!(Owner::UserOrRoot(u).allows(0));
        assert!(Owner::UserOrRoot(u).allows(1000));
        assert!(!Owner::UserOrRoot(u).allows(1001));
        assert!(Owner::Exactly(u).allows(1000));
        assert!(!Owner::Exactly(u).allows(0));
    }
}
