//! Guests' ssh clients, and logins without ssh.

use super::*;

impl Lab {
    /// The ssh client's options (`<lab>/ssh_config`, for `ssh -F`): trust only
    /// the lab's host key, offer only the `-i` key, never prompt.
    pub(crate) fn write_ssh_config(&self) {
        let known_hosts = self.dir.join("sshd/known_hosts");
        let config = format!(
            "# ssh client options for the pairshell lab's sshd on 127.0.0.1:{port}\n\
             UserKnownHostsFile {known_hosts}\n\
             GlobalKnownHostsFile /dev/null\n\
             StrictHostKeyChecking yes\n\
             IdentitiesOnly yes\n\
             IdentityAgent none\n\
             BatchMode yes\n\
             PasswordAuthentication no\n\
             ConnectTimeout 10\n",
            port = self.port,
            known_hosts = known_hosts.display(),
        );
        write_file(&self.ssh_config(), &config, 0o644, None);
    }

    /// `<lab>/ssh_config`, the ssh client's options.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// ssh's arguments: `-F <lab>/ssh_config -i KEY [-t] -p PORT pair@127.0.0.1 [REQUEST]`.
    pub(crate) fn ssh_args(
        &self,
        key: &Path,
        extra: &[&str],
        request: Option<&str>,
    ) -> Vec<String> {
        let mut args = vec![
            "-F".to_string(),
            self.ssh_config().display().to_string(),
            "-i".to_string(),
            key.display().to_string(),
        ];
        args.extend(extra.iter().map(|e| e.to_string()));
        args.push("-p".to_string());
        args.push(self.port.to_string());
        args.push(format!("{}@127.0.0.1", self.pair));
        args.extend(request.map(str::to_string));
        args
    }

    pub(crate) fn ssh_command(&self, key: &Path, tty: bool, request: Option<&str>) -> Command {
        self.ssh_command_with(key, if tty { &["-t"] } else { &[] }, request)
    }

    pub(crate) fn ssh_command_with(
        &self,
        key: &Path,
        extra: &[&str],
        request: Option<&str>,
    ) -> Command {
        ssh_client(self.ssh_args(key, extra, request))
    }

    /// `ssh EXTRA… ACCOUNT@127.0.0.1 [REQUEST]` with `key`, not run yet: the
    /// lab's sshd and client options, another account than the pair
    /// account (one [`SshdExtra::allow_users`] names).
    pub fn ssh_to(
        &self,
        account: &str,
        key: &Path,
        extra: &[&str],
        request: Option<&str>,
    ) -> Command {
        let mut args = self.ssh_args(key, extra, request);
        let pair_at = format!("{}@127.0.0.1", self.pair);
        let at = args
            .iter()
            .position(|a| *a == pair_at)
            .expect("ssh_args names the pair account");
        args[at] = format!("{account}@127.0.0.1");
        ssh_client(args)
    }

    /// The command [`Lab::ssh`] (`tty` false) or [`Lab::ssh_tty`] (`tty` true)
    /// runs, as one line a person can paste into a root shell.
    pub fn ssh_command_line(&self, guest: &Guest, tty: bool, request: Option<&str>) -> String {
        std::iter::once("ssh".to_string())
            .chain(self.ssh_args(&guest.key, if tty { &["-t"] } else { &[] }, request))
            .map(|a| shell_quote(&a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `ssh EXTRA… pair@127.0.0.1 [REQUEST]` as `guest`, not run yet (for
    /// `-L`, `-A`, `-o SetEnv=…` and the like; `-t` is up to the caller).
    pub fn ssh_with(&self, guest: &Guest, extra: &[&str], request: Option<&str>) -> Command {
        self.ssh_command_with(&guest.key, extra, request)
    }

    /// `ssh pair@127.0.0.1 [REQUEST]` without a tty, run to completion.
    pub fn ssh(&self, guest: &Guest, request: Option<&str>) -> Run {
        let mut cmd = self.ssh_command(&guest.key, false, request);
        cmd.stdin(Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// `ssh -t` as `guest` asking for `request`, returned once the guest's
    /// client shows `shared`'s prompt and is attached to its server.
    pub fn attach(&self, guest: &Guest, request: &str, shared: &Shared) -> Tty {
        let mut tty = self.ssh_tty(guest, Some(request));
        tty.wait_for(prompt(&shared.name, &shared.host).trim_end())
            .unwrap();
        self.wait_pair_client(shared)
            .unwrap_or_else(|| panic!("{} never attached to {}", guest.name, shared.label()));
        tty
    }

    /// `ssh -t pair@127.0.0.1 [REQUEST]` in a pty, for joins and the chooser.
    pub fn ssh_tty(&self, guest: &Guest, request: Option<&str>) -> Tty {
        let cmd = self.ssh_command(&guest.key, true, request);
        Tty::spawn(&format!("ssh -t as {}", guest.name), cmd)
    }

    // -- running the binary directly -----------------------------------------

    /// `pairshell --config <lab config> authorized-keys USER TYPE BASE64`,
    /// as root, or as `as_uid` when given (sshd runs it as nobody).
    pub fn authorized_keys(
        &self,
        user: &str,
        key_type: &str,
        base64: &str,
        as_uid: Option<u32>,
    ) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(["authorized-keys", user, key_type, base64])
            .env_clear()
            .env("PATH", PATH_ENV)
            .current_dir("/")
            .stdin(Stdio::null());
        if let Some(uid) = as_uid {
            cmd.uid(uid).gid(uid);
        }
        run_with_timeout(cmd, Duration::from_secs(20))
    }

    /// Runs `pairshell --config … login` as the pair account, the way sshd's
    /// forced command would, with `SSH_USER_AUTH` naming a file (owned by the
    /// pair account) that says the guest authenticated with `public_line`.
    pub fn login_as_pair(&self, public_line: &str, request: Option<&str>) -> Run {
        self.login_as(&self.pair, public_line, request)
    }

    /// `pairshell login` run directly as `user`, with an `SSH_USER_AUTH`
    /// file owned by `user` naming `public_line`.
    pub fn login_as(&self, user: &str, public_line: &str, request: Option<&str>) -> Run {
        let (uid, gid) = ids(user);
        let auth = self.scratch_file("ssh-user-auth");
        write_file(
            &auth,
            &format!("publickey {public_line}\n"),
            0o600,
            Some((uid, gid)),
        );
        self.login_with_auth(user, Some(&auth), request)
    }

    /// `pairshell login` run directly as `user`, with `SSH_USER_AUTH` set to
    /// `auth` (or unset), whatever that file is.
    pub fn login_with_auth(&self, user: &str, auth: Option<&Path>, request: Option<&str>) -> Run {
        let (uid, gid) = ids(user);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("login")
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("HOME", self.dir.join("home"))
            .env("USER", user)
            .env("LOGNAME", user)
            .env("SSH_CONNECTION", "127.0.0.1 40404 127.0.0.1 22")
            .env("SSH_CLIENT", "127.0.0.1 40404 22")
            .current_dir("/")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null());
        if let Some(auth) = auth {
            cmd.env("SSH_USER_AUTH", auth);
        }
        if let Some(r) = request {
            cmd.env("SSH_ORIGINAL_COMMAND", r);
        }
        run_with_timeout(cmd, Duration::from_secs(20))
    }

    // -- audit ------------------------------------------------------------------
}
