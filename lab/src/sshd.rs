//! The lab's private sshd on loopback, with the shipped drop-in.

use super::*;

impl Lab {
    /// The lab sshd's config, `<lab>/sshd/sshd_config`. It `Include`s the
    /// shipped drop-in as [`Lab::sshd_drop_in`].
    pub fn sshd_config(&self) -> PathBuf {
        self.dir.join("sshd/sshd_config")
    }

    /// The shipped drop-in as the lab's sshd reads it, `<lab>/sshd/pairshell.conf`.
    pub fn sshd_drop_in(&self) -> PathBuf {
        self.dir.join("sshd/pairshell.conf")
    }

    pub(crate) fn start_sshd(&mut self) {
        if !Path::new("/run/sshd").exists() {
            mkdir(Path::new("/run/sshd"), 0o755);
        }
        let sshd_dir = self.dir.join("sshd");
        let hostkey = sshd_dir.join("ssh_host_ed25519_key");
        keygen(&hostkey, "pairshell-lab-host");
        let hostpub = fs::read_to_string(hostkey.with_extension("pub")).unwrap();
        let drop_in = sshd_dir.join("pairshell.conf");
        let mut drop_in_text = self.shipped_drop_in();
        for (from, to) in &self.sshd_extra.drop_in_edits {
            assert!(drop_in_text.contains(from), "the drop-in has no {from:?}");
            drop_in_text = drop_in_text.replace(from, to);
        }
        write_file(&drop_in, &drop_in_text, 0o644, None);
        let certificates_drop_in = sshd_dir.join("pairshell-certificates.conf");
        write_file(
            &certificates_drop_in,
            &self.shipped_certificates_drop_in(),
            0o644,
            None,
        );

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {hostkey}\n\
                 PidFile none\n\
                 UsePAM no\n\
                 AllowUsers {pair}{more_users}\n\
                 LogLevel VERBOSE\n\
                 {global}\
                 # A permissive admin. The shipped drop-in's own AcceptEnv\n\
                 # overrides this for the pair account, unless a test asks for\n\
                 # a broken setup (SshdExtra::permissive_env).\n\
                 AcceptEnv LANG LC_* LD_PRELOAD TMUX DISPLAY PAIRSHELL_LEAK\n\
                 # Everything about the pair account comes from the shipped drop-ins,\n\
                 # in the order sshd_config.d/*.conf sorts them.\n\
                 Include {certificates_drop_in}\n\
                 Include {drop_in}\n\
                 {tail}",
                hostkey = hostkey.display(),
                pair = self.pair,
                drop_in = drop_in.display(),
                certificates_drop_in = certificates_drop_in.display(),
                more_users = self
                    .sshd_extra
                    .allow_users
                    .iter()
                    .map(|u| format!(" {u}"))
                    .collect::<String>(),
                global = with_newline(&self.sshd_extra.global),
                tail = with_newline(&self.sshd_extra.tail),
            );
            let config_path = sshd_dir.join("sshd_config");
            write_file(&config_path, &config, 0o644, None);
            let log = File::create(&self.sshd_log).unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            let ready = poll(WAIT, || {
                let log = fs::read_to_string(&self.sshd_log).unwrap_or_default();
                if log.contains(&format!("Server listening on 127.0.0.1 port {port}")) {
                    return Some(true);
                }
                match child.try_wait() {
                    Ok(Some(_)) => Some(false),
                    _ => None,
                }
            });
            if ready == Some(true) {
                self.port = port;
                self.sshd = Some(child);
                write_file(
                    &sshd_dir.join("known_hosts"),
                    &format!("[127.0.0.1]:{port} {}", hostpub.trim()),
                    0o644,
                    None,
                );
                self.write_ssh_config();
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&self.sshd_log).unwrap_or_default();
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    /// Adds `extra` to the lab sshd's config and restarts sshd with it (on a
    /// new port, with a new host key; `ssh_config` and `known_hosts` follow).
    pub fn extend_sshd(&mut self, extra: SshdExtra) {
        self.sshd_extra
            .global
            .push_str(&with_newline(&extra.global));
        self.sshd_extra.allow_users.extend(extra.allow_users);
        self.sshd_extra.tail.push_str(&with_newline(&extra.tail));
        self.sshd_extra.permissive_env |= extra.permissive_env;
        self.sshd_extra.drop_in_edits.extend(extra.drop_in_edits);
        if let Some(mut sshd) = self.sshd.take() {
            let _ = kill(Pid::from_raw(sshd.id() as i32), Signal::SIGTERM);
            let _ = sshd.wait();
        }
        let hostkey = self.dir.join("sshd/ssh_host_ed25519_key");
        let _ = fs::remove_file(&hostkey);
        let _ = fs::remove_file(hostkey.with_extension("pub"));
        self.start_sshd();
    }

    /// Lets `connections` guests connect at once: sshd's `MaxStartups`
    /// (default 10:30:100, which drops unauthenticated connections at
    /// random from the 10th on) and `MaxSessions`.
    pub fn raise_sshd_limits(&mut self, connections: u32) {
        self.extend_sshd(SshdExtra {
            global: format!("MaxStartups {connections}\nMaxSessions {connections}\n"),
            ..SshdExtra::default()
        });
    }

    /// sshd's log so far.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(&self.sshd_log).unwrap_or_default()
    }

    // -- the ssh client -------------------------------------------------------

    /// The drop-in pairshell ships, with the account name and the two paths
    /// swapped for the lab's. Panics when the file no longer has the shape
    /// this substitution expects, so the lab never silently tests something
    /// other than what is shipped.
    pub(crate) fn shipped_drop_in(&self) -> String {
        const SHIPPED: &str = include_str!("../../contrib/sshd_config.d/pairshell.conf");
        let drop_in = self.for_the_lab("pairshell.conf", SHIPPED);
        if !self.sshd_extra.permissive_env {
            return drop_in;
        }
        let kept: Vec<&str> = drop_in
            .lines()
            .filter(|l| !l.trim_start().starts_with("AcceptEnv "))
            .collect();
        assert!(
            kept.len() < drop_in.lines().count(),
            "no AcceptEnv in the drop-in"
        );
        kept.join("\n") + "\n"
    }

    pub(crate) fn shipped_certificates_drop_in(&self) -> String {
        const SHIPPED: &str =
            include_str!("../../contrib/sshd_config.d/pairshell-certificates.conf");
        self.for_the_lab("pairshell-certificates.conf", SHIPPED)
    }

    /// A shipped drop-in with its account name and paths swapped for the lab's.
    pub(crate) fn for_the_lab(&self, name: &str, shipped: &str) -> String {
        const BINARY: &str = "/usr/local/bin/pairshell";
        const CONFIG: &str = "/etc/pairshell/pairshell.toml";
        const USER_CA: &str = "/etc/ssh/pairshell_user_ca.pub";
        let is_comment = |l: &str| l.trim_start().starts_with('#');
        let directives = || shipped.lines().filter(|l| !is_comment(l));
        assert_eq!(
            directives()
                .filter(|l| l.trim() == "Match User pair")
                .count(),
            1,
            "contrib/sshd_config.d/{name}: expected one `Match User pair` line"
        );
        for needle in [BINARY, CONFIG] {
            assert!(
                directives().any(|l| l.contains(needle)),
                "contrib/sshd_config.d/{name} no longer mentions {needle}"
            );
        }
        let mut out = String::new();
        for line in shipped.lines() {
            let line = if line.trim() == "Match User pair" {
                line.replace("Match User pair", &format!("Match User {}", self.pair))
            } else {
                line.replace(BINARY, &self.bin.display().to_string())
                    .replace(CONFIG, &self.config.display().to_string())
                    .replace(USER_CA, &self.user_ca_pub().display().to_string())
            };
            assert!(
                is_comment(&line)
                    || !(line.contains("/etc/pairshell")
                        || line.contains("/usr/local")
                        || line.contains("/etc/ssh")),
                "contrib/sshd_config.d/{name} names a path the lab does not swap: {line}"
            );
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}
