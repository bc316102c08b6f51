//! The lab's config, host files and scratch files.

use super::*;

impl Lab {
    /// Adds top-level `key = value` lines (and comments) to the main
    /// config, kept when the lab rewrites it.
    pub fn add_config_lines(&mut self, lines: &str) {
        self.config_extra.push_str(lines);
        if !lines.ends_with('\n') {
            self.config_extra.push('\n');
        }
        self.write_config();
    }

    /// Takes out `lines` that [`Lab::add_config_lines`] put in (the same
    /// text), and rewrites the config.
    pub fn remove_config_lines(&mut self, lines: &str) {
        let mut lines = lines.to_string();
        if !lines.ends_with('\n') {
            lines.push('\n');
        }
        let at = self
            .config_extra
            .find(&lines)
            .unwrap_or_else(|| panic!("the config has no lines {lines:?}"));
        self.config_extra.replace_range(at..at + lines.len(), "");
        self.write_config();
    }

    /// The main config as it is on disk now.
    pub fn config_text(&self) -> String {
        fs::read_to_string(&self.config)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.config.display()))
    }

    /// Replaces the main config's text, as an admin editing it by hand
    /// would (root-owned, 0644). A later [`Lab::add_guest`] rewrites it.
    pub fn write_config_text(&self, text: &str) {
        write_file(&self.config, text, 0o644, None);
    }

    /// Takes guest `name` out of the main config (keys and all).
    pub fn remove_guest(&mut self, name: &str) {
        self.guests.remove(name);
        self.write_config();
    }

    pub(crate) fn write_config(&self) {
        let mut s = String::new();
        writeln!(s, "pair_user = {}", toml_str(&self.pair)).unwrap();
        writeln!(s, "tmux = {}", toml_str(TMUX)).unwrap();
        writeln!(s, "hosts_dir = {}", toml_path(&self.dir.join("hosts.d"))).unwrap();
        writeln!(s, "sockets_dir = {}", toml_path(&self.sockets_dir())).unwrap();
        writeln!(s, "socket_group = {}", toml_str(&self.socket_group)).unwrap();
        writeln!(s, "tmpfiles = {}", toml_path(&self.tmpfiles())).unwrap();
        s.push_str(&self.config_extra);
        writeln!(s).unwrap();
        writeln!(s, "[audit]").unwrap();
        writeln!(s, "syslog_socket = {}", toml_path(&self.syslog.path)).unwrap();
        writeln!(s, "required = true").unwrap();
        for g in self.guests.values() {
            writeln!(s).unwrap();
            writeln!(s, "[guests.{}]", g.name).unwrap();
            if g.key_listed {
                writeln!(s, "keys = [{}]", toml_str(&g.public_line)).unwrap();
            }
            if !g.principals.is_empty() {
                let list: Vec<String> = g.principals.iter().map(|p| toml_str(p)).collect();
                writeln!(s, "principals = [{}]", list.join(", ")).unwrap();
            }
            if let Some(e) = &g.expires {
                writeln!(s, "expires = {e}").unwrap();
            }
        }
        write_file(&self.config, &s, 0o644, None);
    }

    // -- hosts, tmux servers and host files ----------------------------------

    pub(crate) fn write_host_file(&self, host: &str) {
        let mut s = String::new();
        for sh in self.shares.iter().filter(|s| s.host == host) {
            let list = |v: &[String]| v.iter().map(|x| toml_str(x)).collect::<Vec<_>>().join(", ");
            writeln!(s, "[sessions.{}]", toml_str(&sh.name)).unwrap();
            writeln!(s, "socket = {}", toml_path(&sh.socket)).unwrap();
            writeln!(s, "read_write = [{}]", list(&sh.read_write)).unwrap();
            writeln!(s, "read_only = [{}]", list(&sh.read_only)).unwrap();
            if let Some(e) = &sh.expires {
                writeln!(s, "expires = {e}").unwrap();
            }
            writeln!(s).unwrap();
        }
        let path = self.dir.join("hosts.d").join(format!("{host}.toml"));
        write_file(&path, &s, 0o644, Some(ids(host)));
    }

    /// `sockets_dir` of the config: `<lab>/sockets`.
    pub fn sockets_dir(&self) -> PathBuf {
        self.dir.join("sockets")
    }

    /// `sockets_dir/HOST/SESSION.sock`, where `pairshell share` puts a
    /// session's server.
    pub fn host_socket(&self, host: &str, session: &str) -> PathBuf {
        self.sockets_dir()
            .join(host)
            .join(format!("{session}.sock"))
    }

    /// `tmpfiles` of the config: `<lab>/tmpfiles.conf`.
    pub fn tmpfiles(&self) -> PathBuf {
        self.dir.join("tmpfiles.conf")
    }

    /// `hosts_dir/HOST.toml`.
    pub fn host_file(&self, host: &str) -> PathBuf {
        self.dir.join("hosts.d").join(format!("{host}.toml"))
    }

    /// A fresh path under `<lab>/scratch` (nothing is created).
    pub fn scratch_file(&self, stem: &str) -> PathBuf {
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        self.dir.join("scratch").join(format!("{stem}-{n}"))
    }
}
