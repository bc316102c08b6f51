//! `--via USER@RELAY[:PORT]`: an `ssh -N -R` from this box to the host's
//! own relay, kept up while the share lasts.
//!
//! It is the host's own ssh, run as the host with the host's keys and
//! known_hosts: pairshell adds no credential and no trust of its own.
//! `ExitOnForwardFailure` makes a tunnel that cannot listen on the relay
//! end at once rather than sit there useless; `ServerAliveInterval` makes a
//! dead relay noticed within half a minute; `BatchMode` makes ssh fail
//! rather than prompt (there is no terminal). The first connection asks
//! the relay for any free port (`-R 0:…`) and every reconnection asks for
//! that same port again, so the guests' line keeps working.

use std::io::{BufRead, BufReader};

pub(crate) use crate::core::reach::Relay;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait before reconnection number `failures` (1, 2, 4 … 30 s).
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

/// The port ssh says the relay allocated, from its
/// `Allocated port N for remote forward to …` line.
pub fn allocated_port(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Allocated port ")?;
    let (n, tail) = rest.split_once(' ')?;
    tail.starts_with("for remote forward")
        .then(|| n.parse().ok())
        .flatten()
}

/// A connection held up long enough that its end is a new failure, not
/// the next in a row.
const STEADY: Duration = Duration::from_secs(10);

pub struct Tunnel {
    pub relay: Relay,
    ssh_port: u16,
    /// The relay's port guests use.
    pub remote_port: u16,
    child: Option<(Child, Instant)>,
    failures: u32,
    next_try: Instant,
    /// How many times the tunnel came back after it was lost.
    pub reconnects: u32,
    pub last_error: Option<String>,
    errors: Option<mpsc::Receiver<String>>,
}

impl Tunnel {
    /// Connect, and wait (up to `wait`) for the relay to say which port
    /// it listens on for us.
    pub fn open(relay: Relay, ssh_port: u16, wait: Duration) -> Result<Tunnel, String> {
        let mut t = Tunnel {
            relay,
            ssh_port,
            remote_port: 0,
            child: None,
            failures: 0,
            next_try: Instant::now(),
            reconnects: 0,
            last_error: None,
            errors: None,
        };
        let (child, lines) = t.spawn()?;
        let deadline = Instant::now() + wait;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(p) = allocated_port(&line) {
                        t.remote_port = p;
                        break;
                    }
                    said.push(line);
                }
                Err(_) => {
                    let mut child = child;
                    let _ = child.kill();
                    let _ = child.wait();
                    let said = said.join(" / ");
                    return Err(if said.is_empty() {
                        format!("ssh to {} did not set up the tunnel", t.relay)
                    } else {
                        format!("ssh to {}: {said}", t.relay)
                    });
                }
            }
        }
        t.child = Some((child, Instant::now()));
        t.errors = Some(lines);
        Ok(t)
    }

    fn spawn(&self) -> Result<(Child, mpsc::Receiver<String>), String> {
        let mut cmd = Command::new("ssh");
        cmd.args([
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-R",
        ])
        .arg(format!("{}:localhost:{}", self.remote_port, self.ssh_port));
        if let Some(p) = self.relay.port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg("--")
            .arg(format!("{}@{}", self.relay.user, self.relay.host))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run ssh: {e}"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok((child, rx))
    }

    /// Called about once a second: notice a lost tunnel and bring it
    /// back, with backoff.
    pub fn tend(&mut self) {
        if let Some(rx) = &self.errors {
            while let Ok(line) = rx.try_recv() {
                if !line.trim().is_empty() {
                    self.last_error = Some(line);
                }
            }
        }
        if let Some((child, since)) = &mut self.child {
            match child.try_wait() {
                Ok(None) => return,
                _ => {
                    let steady = since.elapsed() >= STEADY;
                    self.failures = if steady { 1 } else { self.failures + 1 };
                    self.next_try = Instant::now() + backoff(self.failures - 1);
                    self.child = None;
                }
            }
        }
        if Instant::now() < self.next_try {
            return;
        }
        match self.spawn() {
            Ok((child, rx)) => {
                self.child = Some((child, Instant::now()));
                self.errors = Some(rx);
                self.reconnects += 1;
            }
            Err(e) => {
                self.last_error = Some(e);
                self.failures += 1;
                self.next_try = Instant::now() + backoff(self.failures - 1);
            }
        }
    }

    /// End the tunnel.
    pub fn close(mut self) {
        if let Some((mut child, _)) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::reach::parse_relay;

    #[test]
    fn relay_specs_parse() {
        assert_eq!(
            parse_relay("maria@relay.example.com").unwrap(),
            Relay {
                user: "maria".into(),
                host: "relay.example.com".into(),
                port: None
            }
        );
        assert_eq!(parse_relay("m@127.0.0.1:2222").unwrap().port, Some(2222));
    }

    #[test]
    fn relay_specs_that_ssh_could_take_as_options_are_refused() {
        for bad in [
            "relay.example.com",
            "@relay",
            "m@",
            "-oProxyCommand=sh@relay",
            "m@-oProxyCommand=sh",
            "m@relay:0",
            "m@relay:99999",
            "m@relay:x",
            "m@re lay",
            "m@relay;id",
            "m n@relay",
        ] {
            assert!(parse_relay(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_half_a_minute() {
        let secs: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn allocated_port_is_read_from_ssh() {
        assert_eq!(
            allocated_port("Allocated port 40123 for remote forward to localhost:22"),
            Some(40123)
        );
        assert_eq!(allocated_port("Warning: Permanently added"), None);
        assert_eq!(allocated_port("Allocated port x for remote forward"), None);
    }
}
