//! Confinement of the tmux client: the only program a guest runs as the pair
//! account.
//!
//! A read-write tmux client can be told `detach-client -E 'sh'` (or
//! `lock-client` with a lock command), and the *client* then execs a shell as
//! the pair account: out of the session, onto the machine. Before the client
//! starts, pairshell therefore:
//! - applies a Landlock ruleset under which the only files that may be
//!   executed are the tmux binary and its ELF interpreter (the kernel opens
//!   that for exec too); `sh` and everything else fail with EACCES;
//!   The interpreter (ld.so) can itself run programs given as arguments;
//!   that is harmless only because tmux's exec paths go through `sh -c`,
//!   which is denied. Keep it that way if this list ever grows.
//! - sets `no_new_privs`, so nothing it could exec gains privileges;
//! - resets every signal disposition and the signal mask, so nothing
//!   pairshell or sshd set up leaks into the client.
//!
//! Landlock only restricts; it never grants. Read and write access are left
//! as they are: the client needs its terminal and the socket, and the pair
//! account owns nothing worth protecting from its own client.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use landlock::{
    AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};

/// Whether the exec restriction is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confinement {
    Enforced,
    /// The kernel has no (usable) Landlock.
    Unavailable,
}

/// Allow this process (and what it execs) to execute only `programs` and
/// their ELF interpreters. Rulesets stack: a later call can only narrow.
/// Returns `Unavailable` when the kernel lacks Landlock.
pub fn confine_exec(programs: &[&Path]) -> Result<Confinement, String> {
    let mut allowed: Vec<PathBuf> = Vec::new();
    for program in programs {
        allowed.push(program.to_path_buf());
        let interp = elf_interpreter(program)
            .map_err(|e| format!("cannot read {}: {e}", program.display()))?;
        allowed.extend(interp);
    }
    let exec = AccessFs::Execute;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(exec)
        .and_then(|r| r.create())
        .map_err(|e| format!("landlock: {e}"))?;
    for path in &allowed {
        let fd = PathFd::new(path).map_err(|e| format!("landlock: {}: {e}", path.display()))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, exec))
            .map_err(|e| format!("landlock: {e}"))?;
    }
    let status = ruleset
        .restrict_self()
        .map_err(|e| format!("landlock: {e}"))?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Confinement::Enforced,
        RulesetStatus::NotEnforced => Confinement::Unavailable,
    })
}

/// Whether this kernel can confine the tmux client, for `pairshell check`.
/// Builds the same ruleset a join would, demanding full support, and drops
/// it without applying it: this process stays as it was.
pub fn landlock_available() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::Execute)
        .and_then(|r| r.create())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The `PT_INTERP` path of an ELF executable (e.g. `/lib64/ld-linux-x86-64.so.2`),
/// or `None` for a static binary.
pub fn elf_interpreter(program: &Path) -> io::Result<Option<PathBuf>> {
    let mut data = Vec::new();
    std::fs::File::open(program)?
        .take(1 << 20)
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn confined_process_cannot_exec_a_shell() {
        // Run the check in a child process: Landlock is irreversible.
        if std::env::var_os("PAIRSHELL_SANDBOX_CHILD").is_some() {
            let allowed = Path::new("/usr/bin/true");
            match confine_exec(&[allowed]).unwrap() {
                Confinement::Enforced => {}
                Confinement::Unavailable => std::process::exit(3),
            }
            let sh = Command::new("/bin/sh").arg("-c").arg("exit 0").status();
            assert!(sh.is_err(), "sh ran under confinement: {sh:?}");
            let t = Command::new(allowed).status().unwrap();
            assert!(t.success());
            return;
        }
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sandbox::tests::confined_process_cannot_exec_a_shell",
            ])
            .env("PAIRSHELL_SANDBOX_CHILD", "1")
            .status()
            .unwrap();
        if status.code() == Some(3) {
            assert!(
                std::env::var_os("CI").is_none(),
                "this kernel has no Landlock, and CI is set"
            );
            eprintln!("SKIPPED: this kernel has no Landlock");
            return;
        }
        assert!(status.success(), "{status:?}");
    }
}
