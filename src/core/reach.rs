//! How a share is reached from outside the LAN: `share`'s `--public` and
//! `--via` flags, and the relay they name.

/// How the share is reached from outside the LAN: `share`'s flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct Reach {
    /// Ask this network's gateway (PCP, NAT-PMP or UPnP IGD) to map a port
    /// to this box's sshd while the share lasts (on IPv6, a PCP pinhole
    /// where the firewall offers one), and give guests the outside address. The lease is renewed while the share lasts and
    /// deleted when it ends; `who` shows it. When no gateway answers within
    /// 3 s you are told so (try --via).
    #[arg(long, conflicts_with = "via")]
    pub(crate) public: bool,
    /// Keep `ssh -N -R` from this box to your own relay while the share
    /// lasts (your ssh, your keys; reconnects with backoff), and give
    /// guests the relay's port.
    #[arg(long, value_name = "USER@RELAY[:PORT]", value_parser = parse_relay)]
    pub(crate) via: Option<Relay>,
    /// The port this box's sshd listens on, which --public maps and --via
    /// forwards.
    #[arg(long, value_name = "PORT", default_value_t = 22)]
    pub(crate) ssh_port: u16,
    /// The lease asked of the gateway, in seconds (the gateway may grant
    /// another; renewal follows what it grants).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, hide = true)]
    pub(crate) lease: u32,
}

impl Reach {
    pub(crate) fn wanted(&self) -> bool {
        self.public || self.via.is_some()
    }

    /// The holder's arguments, as `share` passes them on.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.public {
            a.push("--public".to_string());
        }
        if let Some(v) = &self.via {
            a.push(format!("--via={v}"));
        }
        a.push(format!("--ssh-port={}", self.ssh_port));
        a.push(format!("--lease={}", self.lease));
        a
    }

    /// What a state file's `reach` says, to tell whether a running holder
    /// already does what is asked.
    pub(crate) fn describe(&self) -> String {
        match &self.via {
            Some(v) => format!("via {v} to port {}", self.ssh_port),
            None => format!("public to port {}", self.ssh_port),
        }
    }
}

/// Where the tunnel goes: `USER@RELAY[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Relay {
    pub(crate) user: String,
    pub(crate) host: String,
    /// The relay's sshd port, when not 22.
    pub(crate) port: Option<u16>,
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parse `USER@RELAY[:PORT]`. The words go to ssh's argv, so each is held
/// to the characters a login and a host name can have: guards against a
/// value such as `-oProxyCommand=…` being taken by ssh as an option (and
/// the destination is passed after `--` as well).
pub(crate) fn parse_relay(spec: &str) -> Result<Relay, String> {
    let bad =
        |why: &str| format!("--via {spec:?}: {why}; give it as USER@RELAY or USER@RELAY:PORT");
    let (user, rest) = spec.split_once('@').ok_or_else(|| bad("no USER@"))?;
    let login_ok = !user.is_empty()
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !login_ok {
        return Err(bad("the user is not a login name"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let p: u16 = p
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
            (h, Some(p))
        }
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
    if !host_ok {
        return Err(bad("the relay is not a host name or IPv4 address"));
    }
    Ok(Relay {
        user: user.to_string(),
        host: host.to_string(),
        port,
    })
}
