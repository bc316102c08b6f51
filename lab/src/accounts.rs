//! Throwaway Unix accounts: the pair account, hosts, and their group.

use super::*;

impl Lab {
    pub(crate) fn create_user(&mut self, name: &str, shell: &str, home: &str) {
        assert!(name.len() <= 32, "user name too long: {name}");
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("useradd")
                .args(["-M", "-N", "-d", home, "-s", shell, "-p", "*", name])
                .output()
                .expect("run useradd");
            if out.status.success() {
                self.users.push(name.to_string());
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("useradd {name} failed: {last}");
    }

    /// Creates the per-lab socket group, empty (Drop deletes it).
    pub(crate) fn create_group(&mut self) {
        let name = self.socket_group.clone();
        assert!(name.len() <= 32, "group name too long: {name}");
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("groupadd")
                .arg(&name)
                .output()
                .expect("run groupadd");
            if out.status.success() {
                self.group_created = true;
                self.socket_gid = nix::unistd::Group::from_name(&name)
                    .unwrap()
                    .unwrap_or_else(|| panic!("group {name} missing right after groupadd"))
                    .gid
                    .as_raw();
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("groupadd {name} failed: {last}");
    }

    /// The members of the socket group, as `getent group` lists them.
    pub fn socket_group_members(&self) -> Vec<String> {
        let out = Command::new("getent")
            .args(["group", &self.socket_group])
            .output()
            .expect("run getent");
        let line = String::from_utf8_lossy(&out.stdout);
        line.trim()
            .rsplit(':')
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Creates a throwaway host account (shell /bin/sh) and nothing else: no
    /// socket directory, no host file. That is what `pairshell host add`
    /// starts from. Returns its login.
    pub fn add_host_account(&mut self) -> String {
        let login = format!("{}h{}", self.prefix, self.hosts.len() + 1);
        self.create_user(&login, "/bin/sh", "/nonexistent");
        self.hosts.push(login.clone());
        login
    }

    /// Creates a throwaway account `<prefix><suffix>` with login shell `shell`
    /// and home `home` (which the caller creates). Drop deletes it.
    pub fn add_account(&mut self, suffix: &str, shell: &str, home: &Path) -> String {
        let login = format!("{}{suffix}", self.prefix);
        self.create_user(&login, shell, &home.display().to_string());
        login
    }

    /// Creates a throwaway host account (shell /bin/sh) and its socket dir
    /// `<lab>/sockets/<host>/` (owned by the host, 0755). Returns its login.
    pub fn add_host(&mut self) -> String {
        let login = format!("{}h{}", self.prefix, self.hosts.len() + 1);
        self.create_user(&login, "/bin/sh", "/nonexistent");
        let (uid, gid) = ids(&login);
        let dir = self.dir.join("sockets").join(&login);
        mkdir(&dir, 0o755);
        chown(&dir, Some(uid), Some(gid)).unwrap();
        self.hosts.push(login.clone());
        login
    }

    // -- guests and the main config ---------------------------------------

    /// Sets `user`'s login shell (`usermod -s`), under the lab's users lock.
    pub fn set_shell(&self, user: &str, shell: &str) {
        let _lock = UsersLock::take();
        let mut last = String::new();
        for attempt in 0..10 {
            let out = Command::new("usermod")
                .args(["-s", shell, user])
                .output()
                .expect("run usermod");
            if out.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("lock") {
                break;
            }
            thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        panic!("usermod -s {shell} {user} failed: {last}");
    }
}
