//! Confinement of every tmux client pairshell starts ([`Jail::tmux_client`]),
//! and of the guest's pairshell itself once it knows what it will touch
//! ([`Jail::guest_parent`]). A host controls their tmux server, and a server
//! can make its clients read, write and exec as the pair account; SECURITY.md
//! says what each jail allows and why.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, ABI,
};
use nix::libc;
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};

/// What the tmux client reads besides its binary, and why.
const CLIENT_READS: &[&str] = &[
    // Shared libraries (libevent, libtinfo, libc, …) and what glibc loads
    // at run time: gconv modules, locale data in /usr/lib/locale. /lib and
    // /lib64 are symlinks into /usr on merged-/usr systems; listing them
    // keeps older layouts working.
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    // The dynamic loader's cache of library paths.
    "/etc/ld.so.cache",
    // Terminal descriptions for the guest's TERM (ncurses' system search
    // path; $TERMINFO is cleared).
    "/etc/terminfo",
    "/lib/terminfo",
    "/usr/share/terminfo",
    // setlocale() reads the alias table for names such as en_US.UTF-8.
    "/usr/share/locale/locale.alias",
    // The time zone, for tmux's time formats (TZ or /etc/localtime, a
    // symlink into zoneinfo).
    "/etc/localtime",
    "/usr/share/zoneinfo",
];

/// What the guest's own pairshell reads after it has joined, besides
/// [`CLIENT_READS`]: user and group lookups (a host file is believed by its
/// owner's uid). The rule is on `/etc` itself, not on `/etc/passwd`: a
/// Landlock rule follows an inode, and `useradd` replaces `/etc/passwd` by
/// rename, so a rule on the file would stop every later re-check of a
/// joined guest. Nothing under `/etc` belongs to the pair account.
const PARENT_READS: &[&str] = &["/etc"];

/// Whether a Landlock ruleset is in force, and at which ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// Every filesystem right of this ABI is handled.
    Landlock { abi: u32 },
    /// The kernel has no (usable) Landlock.
    Unavailable,
}

impl Confinement {
    /// For the `join` line: `landlock-abi5`, or `none`.
    pub(crate) fn label(self) -> String {
        match self {
            Confinement::Landlock { abi } => format!("landlock-abi{abi}"),
            Confinement::Unavailable => "none".into(),
        }
    }
}

/// A Landlock ruleset built in advance, entered by a process (or by a
/// child between fork and exec, see [`Jail::prepare`]).
pub(crate) struct Jail {
    ruleset: Option<OwnedFd>,
    abi: u32,
}

impl Jail {
    /// The ruleset of a tmux client. `socket` is the checked socket, opened
    /// `O_PATH`, which the client may connect to.
    ///
    /// Guards against: a host's server making a client act as the pair
    /// account. `save-buffer`/`load-buffer`/`source-file` for a client that
    /// is not attached are done *by the client* (tmux's file.c),
    /// `detach-client -E` makes an attached client exec a shell and
    /// `lock-client` makes it run `system()`. The ruleset handles every
    /// filesystem right the kernel offers and allows only:
    /// - execute (and read) the tmux binary and its ELF interpreter;
    /// - read the system trees the client itself reads ([`CLIENT_READS`]);
    /// - on kernels with `LANDLOCK_ACCESS_FS_RESOLVE_UNIX`, connect to the
    ///   one socket pairshell checked.
    ///
    /// Nothing may be written, created, removed or truncated. Connecting to
    /// the session's socket still works on kernels without that right
    /// (Landlock ABI < 9 does not restrict `connect(2)` on a path), and on
    /// newer ones through the rule for the checked socket. The ld.so
    /// interpreter can itself run programs given as arguments; that is
    /// harmless only because tmux's exec paths go through `sh -c`, which is
    /// denied. Keep it that way. Entering also sets `no_new_privs`, and the
    /// child resets every signal disposition and the mask
    /// ([`reset_own_signals`]), so nothing pairshell or sshd set up leaks
    /// into the client.
    pub(crate) fn tmux_client(tmux: &Path, socket: Option<BorrowedFd<'_>>) -> Result<Jail, String> {
        let mut rules = Rules::new()?;
        rules.executable(tmux)?;
        for path in CLIENT_READS {
            rules.allow(Path::new(path), AccessFs::ReadFile.into())?;
        }
        if let Some(fd) = socket {
            rules.allow_fd(fd, AccessFs::ResolveUnix.into())?;
        }
        rules.build()
    }

    /// The ruleset of the guest's pairshell after it has joined: what a
    /// tmux client may do, plus running tmux command clients, reading the
    /// config's directory and the hosts' files, connecting to the syslog
    /// socket, and writing under the roster directory only (its own record
    /// and the audit gap file live there).
    pub(crate) fn guest_parent(
        tmux: &Path,
        socket: BorrowedFd<'_>,
        reads: &[&Path],
        syslog_socket: &Path,
        roster_dir: &Path,
    ) -> Result<Jail, String> {
        let mut rules = Rules::new()?;
        rules.executable(tmux)?;
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        for path in CLIENT_READS.iter().chain(PARENT_READS) {
            rules.allow(Path::new(path), read)?;
        }
        for path in reads {
            rules.allow(path, read)?;
        }
        rules.allow(
            Path::new("/dev/null"),
            AccessFs::ReadFile | AccessFs::WriteFile,
        )?;
        rules.allow_fd(socket, AccessFs::ResolveUnix.into())?;
        // The syslog socket may be re-created by its daemon: allow the
        // directory it is in (after symlinks, as /dev/log often is one).
        if let Some(dir) = std::fs::canonicalize(syslog_socket)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            rules.allow(&dir, AccessFs::ResolveUnix.into())?;
        }
        rules.allow(
            roster_dir,
            AccessFs::ReadFile
                | AccessFs::WriteFile
                | AccessFs::MakeReg
                | AccessFs::RemoveFile
                | AccessFs::Truncate,
        )?;
        rules.build()
    }

    pub(crate) fn confinement(&self) -> Confinement {
        match self.ruleset {
            Some(_) => Confinement::Landlock { abi: self.abi },
            None => Confinement::Unavailable,
        }
    }

    /// Enter the jail in this process, for good.
    pub(crate) fn enter(&self) -> io::Result<Confinement> {
        enter(self.ruleset.as_ref().map(AsRawFd::as_raw_fd))?;
        Ok(self.confinement())
    }

    /// Arrange for `cmd`'s child to start confined: default signals, an
    /// empty mask, `no_new_privs`, this jail, and `keep` (the checked
    /// socket, named to tmux as `/proc/self/fd/N`) left open across exec.
    pub(crate) fn prepare(&self, cmd: &mut Command, keep: Option<RawFd>) {
        let ruleset = self.ruleset.as_ref().map(AsRawFd::as_raw_fd);
        // SAFETY: the closure runs in the forked child before exec. It only
        // makes async-signal-safe system calls (sigaction, sigprocmask,
        // fcntl, prctl, landlock_restrict_self) and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                reset_signals()?;
                if let Some(fd) = keep {
                    inherit(fd)?;
                }
                enter(ruleset)
            });
        }
    }
}

/// Leave `fd` open across the exec of `cmd`'s child (for `exec-client`,
/// which confines itself and hands the checked socket to tmux).
pub(crate) fn keep_open(cmd: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs in the forked child before exec and makes
    // only one async-signal-safe call (fcntl).
    unsafe {
        cmd.pre_exec(move || inherit(fd));
    }
}

/// A ruleset being built: the rights this kernel offers, all handled.
struct Rules {
    /// `None` only while a rule is being added.
    ruleset: Option<landlock::RulesetCreated>,
    handled: BitFlags<AccessFs>,
    abi: u32,
}

impl Rules {
    fn new() -> Result<Rules, String> {
        let handled = AccessFs::from_all(ABI::V9);
        let ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(handled)
            .and_then(|r| r.create())
            .map_err(|e| format!("landlock: {e}"))?;
        Ok(Rules {
            ruleset: Some(ruleset),
            handled,
            abi: kernel_abi(),
        })
    }

    /// Allow executing `program` and its ELF interpreter.
    fn executable(&mut self, program: &Path) -> Result<(), String> {
        let interp = elf_interpreter(program)
            .map_err(|e| format!("cannot read {}: {e}", program.display()))?;
        for path in std::iter::once(program.to_path_buf()).chain(interp) {
            let fd = PathFd::new(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            self.add(fd, AccessFs::Execute | AccessFs::ReadFile, false)?;
        }
        Ok(())
    }

    /// Allow `access` beneath `path`, when it exists (a missing tree needs
    /// no rule: nothing can be read from it either way).
    fn allow(&mut self, path: &Path, access: BitFlags<AccessFs>) -> Result<(), String> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let fd = PathFd::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.add(fd, access, meta.is_dir())
    }

    fn allow_fd(&mut self, fd: BorrowedFd<'_>, access: BitFlags<AccessFs>) -> Result<(), String> {
        self.add(fd, access, false)
    }

    fn add(&mut self, fd: impl AsFd, access: BitFlags<AccessFs>, dir: bool) -> Result<(), String> {
        // Rights that only make sense on a directory are refused by the
        // kernel on a file; rights this kernel lacks are dropped.
        let mut access = access & self.handled;
        if !dir {
            access &= AccessFs::from_file(ABI::V9);
        }
        if access.is_empty() {
            return Ok(());
        }
        let ruleset = self.ruleset.take().expect("a ruleset until build");
        self.ruleset = Some(
            ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| format!("landlock: {e}"))?,
        );
        Ok(())
    }

    fn build(self) -> Result<Jail, String> {
        let ruleset: Option<OwnedFd> = self.ruleset.and_then(Into::into);
        Ok(Jail {
            abi: if ruleset.is_some() { self.abi } else { 0 },
            ruleset,
        })
    }
}

/// The kernel's Landlock ABI version (0 without Landlock). Only for
/// saying what was enforced; the ruleset itself is built best-effort.
fn kernel_abi() -> u32 {
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and
    // LANDLOCK_CREATE_RULESET_VERSION only returns the ABI version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    u32::try_from(v).unwrap_or(0)
}

/// `no_new_privs`, then the ruleset (if any). Async-signal-safe.
fn enter(ruleset: Option<RawFd>) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes no pointers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if let Some(fd) = ruleset {
        // SAFETY: landlock_restrict_self(fd, 0) takes a ruleset descriptor
        // this process owns and no pointers.
        if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Clear close-on-exec on `fd`. Async-signal-safe.
fn inherit(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFD, 0) on a descriptor number takes no pointers.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this kernel can confine the tmux client, for `pairshell check`.
/// Builds a ruleset and drops it without applying it.
pub(crate) fn landlock_available() -> Result<u32, String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::Execute)
        .and_then(|r| r.create())
        .map(|_| kernel_abi())
        .map_err(|e| e.to_string())
}

/// The `PT_INTERP` path of an ELF executable (e.g. `/lib64/ld-linux-x86-64.so.2`),
/// or `None` for a static binary.
pub(crate) fn elf_interpreter(program: &Path) -> io::Result<Option<PathBuf>> {
    // The ELF header and program headers, where PT_INTERP's string also
    // sits in every binary a linker makes, are in the first pages; a join
    // reads this three times, so not the whole megabyte of tmux.
    let mut data = Vec::new();
    std::fs::File::open(program)?
        .take(64 << 10)
        .read_to_end(&mut data)?;
    Ok(parse_interp(&data).map(PathBuf::from))
}

fn parse_interp(data: &[u8]) -> Option<String> {
    const PT_INTERP: u64 = 3;
    if data.get(..4)? != b"\x7fELF" {
        return None;
    }
    let is64 = *data.get(4)? == 2;
    let le = *data.get(5)? == 1;
    // An unsigned integer of `n` bytes at offset `o`, in the file's byte order.
    let uint = |o: usize, n: usize| -> Option<u64> {
        let bytes = data.get(o..o.checked_add(n)?)?;
        let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
        Some(if le {
            bytes.iter().rev().fold(0, fold)
        } else {
            bytes.iter().fold(0, fold)
        })
    };
    let (u16_at, u32_at, u64_at) = (|o| uint(o, 2), |o| uint(o, 4), |o| uint(o, 8));
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?)
    } else {
        (u32_at(0x1c)?, u16_at(0x2a)?, u16_at(0x2c)?)
    };
    for i in 0..phnum {
        let ph = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        if u32_at(ph)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if is64 {
            (u64_at(ph + 8)?, u64_at(ph + 32)?)
        } else {
            (u32_at(ph + 4)?, u32_at(ph + 16)?)
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let raw = data.get(start..end)?;
        let raw = raw.split(|b| *b == 0).next()?;
        return String::from_utf8(raw.to_vec()).ok();
    }
    None
}

/// Reset every signal disposition and the mask. Async-signal-safe.
fn reset_signals() -> io::Result<()> {
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
    Ok(())
}

/// For `exec-client`: reset signals in this (single-threaded) process
/// before it becomes the tmux client.
pub(crate) fn reset_own_signals() -> io::Result<()> {
    reset_signals()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn finds_the_interpreter_of_a_dynamic_binary() {
        // Whatever runs this test is a dynamically linked ELF on Linux.
        let exe = std::env::current_exe().unwrap();
        let interp = elf_interpreter(&exe).unwrap().expect("PT_INTERP");
        assert!(interp.is_absolute(), "{}", interp.display());
        assert!(Path::new(&interp).exists(), "{}", interp.display());
    }

    #[test]
    fn junk_is_not_an_elf() {
        assert_eq!(parse_interp(b""), None);
        assert_eq!(parse_interp(b"#!/bin/sh\n"), None);
        let mut fake = b"\x7fELF\x02\x01".to_vec();
        fake.resize(64, 0xff);
        assert_eq!(parse_interp(&fake), None);
    }

    /// Without Landlock these tests cannot show anything; under CI that is
    /// a failure, elsewhere a loud skip.
    fn jail_for(program: &Path) -> Option<Jail> {
        let jail = Jail::tmux_client(program, None).unwrap();
        if jail.confinement() == Confinement::Unavailable {
            assert!(
                std::env::var_os("CI").is_none(),
                "this kernel has no Landlock, and CI is set"
            );
            eprintln!("SKIPPED: this kernel has no Landlock");
            return None;
        }
        Some(jail)
    }

    /// Guards against: a host's server making an attached client exec a
    /// shell (`detach-client -E`, `lock-client`). The positive control runs
    /// the allowed program in the same jail.
    #[test]
    fn confined_client_cannot_exec_a_shell() {
        let Some(jail) = jail_for(Path::new("/bin/sh")) else {
            return;
        };
        // Unconfined, sh -c can start /bin/true; in a jail that allows only
        // sh, sh itself runs (the control) but cannot exec true.
        let mut control = Command::new("/bin/sh");
        control.args(["-c", "exit 7"]);
        jail.prepare(&mut control, None);
        assert_eq!(control.status().unwrap().code(), Some(7));
        let mut escape = Command::new("/bin/sh");
        escape.args(["-c", "exec /bin/true"]);
        jail.prepare(&mut escape, None);
        assert_ne!(escape.status().unwrap().code(), Some(0));
        let mut unconfined = Command::new("/bin/sh");
        unconfined.args(["-c", "exec /bin/true"]);
        assert_eq!(unconfined.status().unwrap().code(), Some(0));
    }

    /// Guards against: `save-buffer`/`load-buffer` run for a command client,
    /// which the client performs as the pair account. A confined client may
    /// create, write or read no file outside the system trees.
    #[test]
    fn confined_client_can_neither_write_nor_read_the_pair_accounts_files() {
        let Some(jail) = jail_for(Path::new("/bin/sh")) else {
            return;
        };
        let dir = std::env::temp_dir().join(format!("pairshell-jail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "roster record").unwrap();
        let created = dir.join("created");
        let script = format!(
            "cat {} ; echo x > {} ; echo y >> {}; exit 0",
            secret.display(),
            created.display(),
            secret.display()
        );
        let run = |confined: bool| {
            let mut cmd = Command::new("/bin/sh");
            cmd.args(["-c", &script])
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            if confined {
                jail.prepare(&mut cmd, None);
            }
            cmd.output().unwrap()
        };
        let out = run(true);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("roster record"));
        assert!(!created.exists(), "a confined client created a file");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "roster record");
        // The control: the same script unconfined does all three.
        let out = run(false);
        assert!(String::from_utf8_lossy(&out.stdout).contains("roster record"));
        assert!(created.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_join_line_names_the_abi() {
        assert_eq!(Confinement::Landlock { abi: 5 }.label(), "landlock-abi5");
        assert_eq!(Confinement::Unavailable.label(), "none");
    }
}
