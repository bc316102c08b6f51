//! Guests' SSH keys and certificates.

use super::*;

impl Lab {
    /// Generates a key pair for `name` without declaring a guest.
    pub fn make_key(&self, name: &str) -> Guest {
        let key = self.dir.join("keys").join(name);
        keygen(&key, &format!("{name}@pairshell-lab"));
        let public_line = fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string();
        let mut parts = public_line.split_whitespace();
        let key_type = parts.next().unwrap().to_string();
        let key_base64 = parts.next().unwrap().to_string();
        Guest {
            name: name.to_string(),
            fingerprint: fingerprint(&key.with_extension("pub")),
            key,
            public_line,
            key_type,
            key_base64,
            expires: None,
            principals: Vec::new(),
            key_listed: true,
        }
    }

    /// Declares guest `name`, known only by certificate `principals` (its
    /// key is not in the config), with a fresh key pair to sign.
    pub fn add_certificate_guest(&mut self, name: &str, principals: &[&str]) -> Guest {
        let mut guest = self.make_key(name);
        guest.principals = principals.iter().map(|p| p.to_string()).collect();
        guest.key_listed = false;
        self.guests.insert(name.to_string(), guest.clone());
        self.write_config();
        guest
    }

    /// Makes a user CA (`<lab>/sshd/user_ca`), installs its public key where
    /// the certificates drop-in's `TrustedUserCAKeys` points, and names the
    /// same file as `trusted_user_ca_keys` in the main config. Returns the
    /// CA's private key, for [`Lab::sign`].
    pub fn enable_certificates(&mut self) -> PathBuf {
        let ca = self.dir.join("sshd/user_ca");
        keygen(&ca, "pairshell-lab-user-ca");
        assert_eq!(ca.with_extension("pub"), self.user_ca_pub());
        fs::set_permissions(self.user_ca_pub(), fs::Permissions::from_mode(0o644)).unwrap();
        let line = format!("trusted_user_ca_keys = {}", toml_path(&self.user_ca_pub()));
        self.add_config_lines(&line);
        ca
    }

    /// Signs `guest`'s key with the CA key `ca` as a user certificate with
    /// key id `id`, serial `serial` and `principals`, valid from yesterday
    /// for a day and a half. The certificate lands next to the private key
    /// (`KEY-cert.pub`), where `ssh -i KEY` picks it up.
    pub fn sign(&self, ca: &Path, guest: &Guest, id: &str, serial: u64, principals: &[&str]) {
        let out = Command::new("ssh-keygen")
            .arg("-q")
            .arg("-s")
            .arg(ca)
            .args([
                "-I",
                id,
                "-n",
                &principals.join(","),
                "-z",
                &serial.to_string(),
            ])
            .args(["-V", "-1d:+12h"])
            .arg(guest.key.with_extension("pub"))
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen -s: {out:?}");
    }

    /// Declares guest `name` (with a fresh key) in the main config.
    /// `expires` is a TOML offset datetime such as `2030-01-01T00:00:00Z`.
    pub fn add_guest(&mut self, name: &str, expires: Option<&str>) -> Guest {
        let mut guest = self.make_key(name);
        guest.expires = expires.map(str::to_string);
        self.guests.insert(name.to_string(), guest.clone());
        self.write_config();
        guest
    }

    /// `<lab>/sshd/user_ca.pub`, what the certificates drop-in's
    /// `TrustedUserCAKeys` names in the lab.
    pub fn user_ca_pub(&self) -> PathBuf {
        self.dir.join("sshd/user_ca.pub")
    }
}
