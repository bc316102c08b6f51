//! Running pairshell as a user, as root, and on a terminal.

use super::*;

impl Lab {
    /// A command that runs `program` as `user`, with the user's uid, primary
    /// gid *and supplementary groups* (std's `uid`/`gid` leave the groups of
    /// the caller, root's, in place; `setpriv --init-groups` reads them from
    /// the group database, as a login would), in a clean environment and `/`.
    pub fn command_as(&self, user: &str, program: &Path) -> Command {
        let (uid, gid) = ids(user);
        let mut cmd = Command::new(SETPRIV);
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        clean_env(&mut cmd, user, "/");
        cmd
    }

    /// `pairshell --config <lab config> ARGS…` as `user` (with the user's
    /// groups), stdin null, run to completion (30 s at most).
    pub fn pairshell_as(&self, user: &str, args: &[&str]) -> Run {
        let mut cmd = self.command_as(user, &self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `pairshell --config <lab config> ARGS…` as root, in the same clean
    /// environment as [`Lab::pairshell_as`].
    ///
    /// `host …` runs under the lab's users lock: it edits /etc/group, and the
    /// shadow tools refuse to run while another test process's useradd or
    /// userdel holds the lock files, which is the lab's own concurrency, not
    /// something the test is about.
    /// `pairshell guest ARGS…` as root.
    pub fn guest_cmd(&self, args: &[&str]) -> Run {
        let mut argv = vec!["guest"];
        argv.extend_from_slice(args);
        self.pairshell_root(&argv)
    }

    pub fn pairshell_root(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null());
        clean_env(&mut cmd, "root", "/");
        let _lock = (args.first() == Some(&"host")).then(UsersLock::take);
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `pairshell check --sshd-config <lab>/sshd/sshd_config` as root: the
    /// lab's sshd is the one whose settings for the pair account count (by
    /// default check asks the system's sshd, which knows nothing of the lab).
    pub fn check(&self) -> Run {
        self.check_with_sshd_config(&self.sshd_config())
    }

    /// `pairshell check --sshd-config SSHD_CONFIG` as root.
    pub fn check_with_sshd_config(&self, sshd_config: &Path) -> Run {
        let sshd_config = sshd_config.display().to_string();
        self.pairshell_root(&["check", "--sshd-config", &sshd_config])
    }

    /// `pairshell --config <lab config> ARGS…` as `user` in a pty (for
    /// `share` without `--detach`, which attaches the host).
    pub fn pairshell_tty_as(&self, user: &str, args: &[&str]) -> Tty {
        let mut cmd = self.command_as(user, &self.bin);
        cmd.arg("--config").arg(&self.config).args(args);
        Tty::spawn(&format!("pairshell {} as {user}", args.join(" ")), cmd)
    }
}
