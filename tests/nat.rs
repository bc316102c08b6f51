//! Hosting behind NAT (issue 19): `share --public` against Debian's
//! miniupnpd in network namespaces the test makes and removes itself, and
//! `share --via` against a second sshd on 127.0.0.1 acting as the host's
//! relay. Real sshd, real tmux, real miniupnpd, a real ssh tunnel.
//!
//! Where the machine cannot make network namespaces these tests print a
//! loud SKIPPED line, and fail when `CI` is set.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use support::nat::{self, in_netns, Gateway, World, BOX_SSH_PORT, ROUTER_WAN};
use support::{poll, prompt, run_with_timeout, Lab, Run, Tty, WAIT};

/// A lab, or a return from the test (a failure under CI) when this machine
/// cannot make the namespaces.
macro_rules! nat_lab {
    () => {{
        if let Some(why) = nat::missing() {
            if std::env::var_os("CI").is_some() {
                panic!("the NAT tests cannot run here ({why}), and CI is set: refusing to skip");
            }
            // Straight to fd 2, past libtest's capture, so the skip shows.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\nSKIPPED: pairshell NAT test: {why}\n");
            return;
        }
        lab!()
    }};
}

/// `pairshell ARGS…` as `host`, inside the LAN namespace.
fn pairshell_in_lan(lab: &Lab, world: &World, host: &str, args: &[&str]) -> Run {
    let mut cmd = lab.command_as(host, &lab.bin);
    cmd.arg("--config").arg(&lab.config).args(args);
    let mut cmd = in_netns(&world.lan, &cmd);
    cmd.stdin(Stdio::null());
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// The guests' line's port, from share's output: `ssh -t -p PORT pair@ADDR SESSION`.
fn line_port(stdout: &str, addr: &str, pair: &str, session: &str) -> u16 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ssh -t -p ") && l.ends_with(&format!(" {pair}@{addr} {session}")))
        .unwrap_or_else(|| panic!("no guests' line for {addr} in:\n{stdout}"));
    line.split_whitespace()
        .nth(3)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// The guest joins `session` from the WAN through `port` on the router.
fn join_from_wan(
    lab: &Lab,
    world: &World,
    guest: &support::Guest,
    port: u16,
    host: &str,
    session: &str,
) -> Tty {
    let known = world.known_hosts(lab, port);
    let mut cmd = Command::new("ssh");
    cmd.arg("-F")
        .arg(lab.ssh_config())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg("-i")
        .arg(&guest.key)
        .args(["-t", "-p", &port.to_string()])
        .arg(format!("{}@{ROUTER_WAN}", lab.pair))
        .arg(session)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    let mut tty = Tty::spawn("ssh from the WAN", in_netns(&world.wan, &cmd));
    tty.wait_for(prompt(session, host).trim_end())
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nminiupnpd:\n{}\n{}",
                world.miniupnpd_log(),
                lab.diagnostics()
            )
        });
    tty
}

/// A host (set up with `host add`), a guest, and the session shared with
/// them read-only through `share ARGS…` run in the LAN.
fn share_public(lab: &mut Lab, world: &World, extra: &[&str]) -> (String, support::Guest, Run) {
    let host = lab.enable_host();
    let guest = lab.add_guest("alice", None);
    let port = BOX_SSH_PORT.to_string();
    let mut args = vec![
        "share",
        "api",
        "--ro",
        "alice",
        "--detach",
        "--public",
        "--ssh-port",
        &port,
    ];
    args.extend_from_slice(extra);
    let run = pairshell_in_lan(lab, world, &host, &args);
    (host, guest, run)
}

/// [`share_public`], which must have succeeded (else the gateway's log says why).
fn shared_public(lab: &mut Lab, world: &World, extra: &[&str]) -> (String, support::Guest, Run) {
    let (host, guest, run) = share_public(lab, world, extra);
    assert!(
        run.success(),
        "share --public {extra:?}: {run}\nminiupnpd:\n{}",
        world.miniupnpd_log()
    );
    (host, guest, run)
}

#[test]
fn public_share_is_joined_from_the_wan_and_unshare_empties_the_gateways_table() {
    let mut lab = nat_lab!();
    let mut world = World::new(&lab, Some(Gateway::PCP_AND_UPNP));
    world.start_box_sshd(&lab);
    assert!(world.mappings().is_empty(), "{:?}", world.mappings());

    let (host, guest, run) = shared_public(&mut lab, &world, &[]);
    let port = line_port(&run.stdout, ROUTER_WAN, &lab.pair, "api");
    // PCP is asked first; miniupnpd speaks it.
    assert!(run.stdout.contains("(PCP"), "{run}");
    let table = world.mappings();
    assert_eq!(table.len(), 1, "{table:?}");
    assert!(table[0].contains(&format!("dport {port}")), "{table:?}");
    let mapped = lab.wait_audit(&[("event", "port-map"), ("session", "api")]);
    assert_eq!(mapped.field("external"), format!("{ROUTER_WAN}:{port}"));
    assert_eq!(mapped.field("host"), host);

    let shared = lab.adopt_share(&host, "api");
    lab.set_prompt(&shared);
    let tty = join_from_wan(&lab, &world, &guest, port, &host, "api");
    let client = lab
        .wait_pair_client(&shared)
        .expect("the WAN guest's client");
    assert!(client.readonly);
    drop(tty);

    // `who` shows the mapping, from outside the LAN namespace too: it
    // reads the holder's state file.
    let who = lab.pairshell_as(&host, &["who"]);
    assert!(
        who.stdout
            .contains(&format!("api: reachable at {ROUTER_WAN}:{port} (PCP")),
        "{who}"
    );

    let unshare = lab.pairshell_as(&host, &["unshare", "api"]);
    assert!(unshare.success(), "{unshare}");
    assert!(
        unshare
            .stdout
            .contains(&format!("closed {ROUTER_WAN}:{port}")),
        "{unshare}"
    );
    assert!(
        world.mappings().is_empty(),
        "after unshare: {:?}",
        world.mappings()
    );
    let unmapped = lab.wait_audit(&[("event", "port-unmap"), ("session", "api")]);
    assert_eq!(unmapped.field("external"), format!("{ROUTER_WAN}:{port}"));
    let who = lab.pairshell_as(&host, &["who"]);
    assert!(!who.stdout.contains("reachable at"), "{who}");
}

#[test]
fn a_short_upnp_lease_is_renewed_while_the_share_lasts() {
    let mut lab = nat_lab!();
    // UPnP only, so the lease is the one asked (PCP would give 120 s at least).
    let world = World::new(&lab, Some(Gateway::UPNP));
    let (host, _guest, run) = shared_public(&mut lab, &world, &["--lease", "3"]);
    assert!(run.stdout.contains("(UPnP-IGD"), "{run}");
    let port = line_port(&run.stdout, ROUTER_WAN, &lab.pair, "api");
    // Four leases long: without renewal miniupnpd would have let it go.
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        assert_eq!(
            world.mappings().len(),
            1,
            "the mapping lapsed: {:?}",
            world.mappings()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let state = fs::read_to_string(lab.sockets_dir().join(&host).join("api.nat")).unwrap();
    let renewals: u64 = serde_json_field(&state, "renewals");
    assert!(renewals >= 4, "renewed {renewals} times: {state}");
    // The control: the holder killed without a word (no unmapping), the
    // same lease runs out on the gateway, so the renewals are what kept it.
    let pid: u64 = serde_json_field(&state, "pid");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let lapsed = poll(Duration::from_secs(15), || {
        world.mappings().is_empty().then_some(())
    });
    assert!(
        lapsed.is_some(),
        "port {port} never lapsed: {:?}",
        world.mappings()
    );
}

#[test]
fn no_gateway_is_told_within_3_seconds_with_the_via_alternative() {
    let mut lab = nat_lab!();
    let world = World::new(&lab, None);
    // Shared on the LAN first, so what is timed next is the asking.
    let (host, _guest, run) = share_public(&mut lab, &world, &[]);
    assert!(!run.success(), "{run}");
    let port = BOX_SSH_PORT.to_string();
    let started = Instant::now();
    let run = pairshell_in_lan(
        &lab,
        &world,
        &host,
        &["share", "api", "--detach", "--public", "--ssh-port", &port],
    );
    let took = started.elapsed();
    eprintln!("share --public with a silent gateway took {took:?}");
    assert!(!run.success(), "{run}");
    assert!(run.stderr.contains("no gateway"), "{run}");
    assert!(run.stderr.contains("within 3 s"), "{run}");
    assert!(run.stderr.contains("--via USER@RELAY"), "{run}");
    // The gateways' part is held to 2.2 s; the rest is pairshell starting
    // twice (share, and the holder) and checking the host's file.
    assert!(took < Duration::from_secs(3), "took {took:?}: {run}");
    // The session is still shared on the LAN, and no holder is left.
    let file = fs::read_to_string(lab.host_file(&host)).unwrap();
    assert!(file.lines().any(|l| l.trim() == "[sessions.api]"), "{file}");
    assert!(!lab.sockets_dir().join(&host).join("api.nat").exists());
    let who = lab.pairshell_as(&host, &["who"]);
    assert!(!who.stdout.contains("reachable at"), "{who}");
}

/// A number field of the holder's JSON state, read without a JSON crate.
fn serde_json_field(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    json[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------
// --via: a second sshd on 127.0.0.1 is the host's relay.
// ---------------------------------------------------------------------------

struct Relay {
    dir: PathBuf,
    port: u16,
    host: String,
    child: Option<Child>,
}

impl Relay {
    /// An sshd on 127.0.0.1 that lets `host` in with the key in their
    /// `~/.ssh`, for remote forwards only.
    fn new(lab: &Lab, host: &str, host_home: &Path) -> Relay {
        let dir = lab.dir.join("relay");
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join("host_key");
        support::keygen(&key, "relay host key");
        // The host's own key and known_hosts, as a person would have them.
        let ssh_dir = host_home.join(".ssh");
        fs::create_dir_all(&ssh_dir).unwrap();
        let id = ssh_dir.join("id_ed25519");
        support::keygen(&id, "host to relay");
        fs::copy(id.with_extension("pub"), dir.join("authorized_keys")).unwrap();
        let port = support::free_port();
        let host_pub = fs::read_to_string(key.with_extension("pub")).unwrap();
        fs::write(
            ssh_dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}", host_pub.trim()),
        )
        .unwrap();
        let (uid, gid) = support::ids(host);
        for p in [
            host_home.to_path_buf(),
            ssh_dir.clone(),
            id.clone(),
            id.with_extension("pub"),
            ssh_dir.join("known_hosts"),
        ] {
            chown(&p, Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(&ssh_dir, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAllowUsers {host}\n\
                 AuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nAllowTcpForwarding remote\nPermitTTY no\nX11Forwarding no\nLogLevel VERBOSE\n",
                key.display(),
                dir.join("authorized_keys").display()
            ),
        )
        .unwrap();
        let mut r = Relay {
            dir,
            port,
            host: host.to_string(),
            child: None,
        };
        r.start();
        r
    }

    fn start(&mut self) {
        let log = self.dir.join("sshd.log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready = poll(WAIT, || {
            fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&format!("Server listening on 127.0.0.1 port {}", self.port))
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "relay sshd: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stop the relay's sshd, its listener and every connection it holds
    /// (as a reboot of the relay would), each by pid.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let listener = child.id() as i32;
        let mut pids = descendants(listener);
        pids.push(listener);
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = child.wait();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
        let _ = &self.host;
    }
}

/// Every process below `root`, from /proc's parent links.
fn descendants(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a.to_string()) else {
            continue;
        };
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid) in &parents {
            if *ppid == p && !out.contains(pid) {
                out.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    out
}

/// The guest joins through the relay's port on 127.0.0.1.
fn join_through_relay(lab: &Lab, guest: &support::Guest, port: u16, host: &str) -> Tty {
    let key = fs::read_to_string(lab.dir.join("sshd/ssh_host_ed25519_key.pub")).unwrap();
    let known = lab.dir.join(format!("relay_known_hosts_{port}"));
    fs::write(&known, format!("[127.0.0.1]:{port} {}", key.trim())).unwrap();
    let mut cmd = Command::new("ssh");
    cmd.arg("-F")
        .arg(lab.ssh_config())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg("-i")
        .arg(&guest.key)
        .args(["-t", "-p", &port.to_string()])
        .arg(format!("{}@127.0.0.1", lab.pair))
        .arg("api")
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    let mut tty = Tty::spawn("ssh through the relay", cmd);
    tty.wait_for(prompt("api", host).trim_end())
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.diagnostics()));
    tty
}

#[test]
fn via_relay_carries_guests_and_the_tunnel_comes_back_after_the_relays_sshd_restarts() {
    let mut lab = lab!();
    // A host with a home of their own: their ssh reads ~/.ssh from it.
    let home = lab.dir.join("scratch/relayhost");
    fs::create_dir_all(&home).unwrap();
    let host = lab.add_account("v", "/bin/sh", &home);
    let run = lab.pairshell_root(&["host", "add", &host]);
    assert!(run.success(), "{run}");
    let guest = lab.add_guest("alice", None);
    let mut relay = Relay::new(&lab, &host, &home);

    let via = format!("{host}@127.0.0.1:{}", relay.port);
    let lab_port = lab.port.to_string();
    let run = lab.pairshell_as(
        &host,
        &[
            "share",
            "api",
            "--ro",
            "alice",
            "--detach",
            "--via",
            &via,
            "--ssh-port",
            &lab_port,
        ],
    );
    assert!(run.success(), "share --via: {run}\nrelay:\n{}", relay.log());
    let port = line_port(&run.stdout, "127.0.0.1", &lab.pair, "api");
    assert_ne!(port, relay.port);
    let mapped = lab.wait_audit(&[("event", "port-map"), ("method", "ssh-relay")]);
    assert_eq!(mapped.field("external"), format!("127.0.0.1:{port}"));

    let shared = lab.adopt_share(&host, "api");
    lab.set_prompt(&shared);
    let tty = join_through_relay(&lab, &guest, port, &host);
    drop(tty);
    assert!(lab.wait_no_pair_client(&shared));

    // The relay goes down and comes back: the holder reconnects, asking
    // for the same port, and guests' line works again.
    relay.stop();
    let down = poll(WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
    assert!(
        down.is_some(),
        "the relay's port {port} still answers with its sshd gone"
    );
    std::thread::sleep(Duration::from_secs(1));
    relay.start();
    let back = poll(Duration::from_secs(40), || {
        let who = lab.pairshell_as(&host, &["who"]);
        (who.stdout.contains("reachable at")
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        .then_some(())
    });
    assert!(
        back.is_some(),
        "the tunnel never came back:\n{}",
        relay.log()
    );
    let tty = join_through_relay(&lab, &guest, port, &host);
    drop(tty);
    let state = fs::read_to_string(lab.sockets_dir().join(&host).join("api.nat")).unwrap();
    assert!(
        serde_json_field(&state, "renewals") >= 1,
        "no reconnection recorded: {state}"
    );

    let unshare = lab.pairshell_as(&host, &["unshare", "api"]);
    assert!(unshare.success(), "{unshare}");
    let gone = poll(WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "the relay still listens on {port} after unshare"
    );
    lab.wait_audit(&[("event", "port-unmap"), ("method", "ssh-relay")]);
}

#[test]
fn the_mapping_goes_at_the_shares_expiry_and_when_its_tmux_session_ends() {
    let mut lab = nat_lab!();
    let world = World::new(&lab, Some(Gateway::PCP_AND_UPNP));
    let (host, _guest, _) = shared_public(&mut lab, &world, &["--for", "4s"]);
    assert_eq!(world.mappings().len(), 1, "{:?}", world.mappings());
    let gone = poll(Duration::from_secs(15), || {
        world.mappings().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "still mapped after the share expired: {:?}",
        world.mappings()
    );
    let unmapped = lab.wait_audit(&[("event", "port-unmap"), ("session", "api")]);
    assert_eq!(unmapped.field("reason"), "expired");

    // Another session, whose tmux server the host kills: no unshare, the
    // holder notices.
    let port = BOX_SSH_PORT.to_string();
    let run = pairshell_in_lan(
        &lab,
        &world,
        &host,
        &[
            "share",
            "web",
            "--ro",
            "alice",
            "--detach",
            "--public",
            "--ssh-port",
            &port,
        ],
    );
    assert!(run.success(), "share web --public: {run}");
    assert_eq!(world.mappings().len(), 1, "{:?}", world.mappings());
    let out = lab.tmux_as(&host, &lab.host_socket(&host, "web"), &["kill-server"]);
    assert!(out.status.success(), "{out:?}");
    let gone = poll(Duration::from_secs(10), || {
        world.mappings().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "still mapped after the session ended: {:?}",
        world.mappings()
    );
    let unmapped = lab.wait_audit(&[("event", "port-unmap"), ("session", "web")]);
    assert_eq!(unmapped.field("reason"), "session-ended");
}

#[test]
fn an_ipv6_box_gets_a_pcp_pinhole_instead_of_a_mapping() {
    let mut lab = nat_lab!();
    let mut world = World::with_ipv6(&lab, Some(Gateway::PCP_AND_UPNP));
    world.start_box_sshd(&lab);
    let (host, guest, run) = shared_public(&mut lab, &world, &[]);
    assert!(
        run.stdout.contains("(PCP-pinhole"),
        "{run}\n{}",
        world.miniupnpd_log()
    );
    let line = format!(
        "ssh -t -p {BOX_SSH_PORT} {}@{} api",
        lab.pair,
        nat::BOX_LAN6
    );
    assert!(
        run.stdout.lines().any(|l| l == line),
        "no {line:?} in {run}"
    );
    // Instead of a mapping: the IPv4 one made meanwhile was deleted.
    assert!(world.mappings().is_empty(), "{:?}", world.mappings());
    assert_eq!(
        world.pinholes().len(),
        1,
        "{}\nminiupnpd:\n{}",
        world.ruleset(),
        world.miniupnpd_log()
    );
    let mapped = lab.wait_audit(&[("event", "port-map"), ("method", "PCP-pinhole")]);
    assert_eq!(
        mapped.field("external"),
        format!("[{}]:{BOX_SSH_PORT}", nat::BOX_LAN6)
    );

    // The router's firewall lets the WAN in through the pinhole only.
    let shared = lab.adopt_share(&host, "api");
    lab.set_prompt(&shared);
    let key = fs::read_to_string(lab.dir.join("sshd/ssh_host_ed25519_key.pub")).unwrap();
    let known = lab.dir.join("known_hosts6");
    fs::write(
        &known,
        format!("[{}]:{BOX_SSH_PORT} {}", nat::BOX_LAN6, key.trim()),
    )
    .unwrap();
    let mut cmd = Command::new("ssh");
    cmd.arg("-F")
        .arg(lab.ssh_config())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg("-i")
        .arg(&guest.key)
        .args(["-t", "-p", &BOX_SSH_PORT.to_string()])
        .arg(format!("{}@{}", lab.pair, nat::BOX_LAN6))
        .arg("api")
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8");
    let mut tty = Tty::spawn("ssh from the WAN over IPv6", in_netns(&world.wan, &cmd));
    tty.wait_for(prompt("api", &host).trim_end())
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.diagnostics()));
    drop(tty);

    let tcp_from_wan = || {
        let mut cmd = Command::new("timeout");
        cmd.args([
            "2",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{}/{BOX_SSH_PORT}", nat::BOX_LAN6),
        ]);
        in_netns(&world.wan, &cmd)
            .env("PATH", "/usr/bin:/bin")
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        tcp_from_wan(),
        "the WAN cannot reach the box's sshd over IPv6"
    );

    let unshare = lab.pairshell_as(&host, &["unshare", "api"]);
    assert!(unshare.success(), "{unshare}");
    assert!(
        world.pinholes().is_empty(),
        "after unshare: {:?}",
        world.pinholes()
    );
    lab.wait_audit(&[("event", "port-unmap"), ("method", "PCP-pinhole")]);
    // The control: without the pinhole the router drops the WAN's attempt.
    assert!(
        !tcp_from_wan(),
        "the WAN still reaches the box's sshd after unshare"
    );
}

/// The holder runs as the host only: never as root (whose ssh and files
/// it would use), never as the pair account (guests must not be able to
/// open the box to the outside), and only for a session the host's own
/// file shares. Each refusal is its own, not a later failure.
#[test]
fn the_holder_refuses_root_the_pair_account_and_sessions_not_shared() {
    let mut lab = lab!();
    let host = lab.enable_host();
    lab.add_guest("alice", None);
    let as_root = lab.pairshell_root(&["nat-hold", "api", "--public"]);
    assert!(!as_root.success(), "{as_root}");
    assert!(
        as_root.stdout.starts_with("err nat-hold runs as the host"),
        "{as_root}"
    );
    let pair = lab.pair.clone();
    let as_pair = lab.pairshell_as(&pair, &["nat-hold", "api", "--public"]);
    assert!(!as_pair.success(), "{as_pair}");
    assert!(
        as_pair
            .stdout
            .starts_with("err nat-hold does not run as the pair account"),
        "{as_pair}"
    );
    let not_shared = lab.pairshell_as(&host, &["nat-hold", "api", "--public"]);
    assert!(!not_shared.success(), "{not_shared}");
    assert!(
        not_shared
            .stdout
            .starts_with(&format!("err api is not shared by {host}")),
        "{not_shared}"
    );
    // And --via's relay is never handed to ssh as an option.
    let run = lab.pairshell_as(
        &host,
        &[
            "share",
            "api",
            "--ro",
            "alice",
            "--detach",
            "--via=-oProxyCommand=id@relay",
        ],
    );
    assert!(!run.success(), "{run}");
    assert!(run.stderr.contains("the user is not a login name"), "{run}");
    // Refused while the arguments are parsed, before anything is shared.
    let file = fs::read_to_string(lab.host_file(&host)).unwrap();
    assert!(
        !file.lines().any(|l| l.trim() == "[sessions.api]"),
        "{file}"
    );
}

/// share attaches the host; the host detaches from tmux, then the terminal
/// goes (SIGHUP to share's session): the holder, in a session of its own,
/// keeps the mapping, and a guest still joins through it.
#[test]
fn the_mapping_outlives_the_host_detaching_and_closing_the_terminal() {
    let mut lab = nat_lab!();
    let mut world = World::new(&lab, Some(Gateway::PCP_AND_UPNP));
    world.start_box_sshd(&lab);
    let host = lab.enable_host();
    let guest = lab.add_guest("alice", None);
    let port = BOX_SSH_PORT.to_string();
    let mut cmd = lab.command_as(&host, &lab.bin);
    cmd.arg("--config").arg(&lab.config).args([
        "share",
        "api",
        "--ro",
        "alice",
        "--public",
        "--ssh-port",
        &port,
    ]);
    let mut tty = Tty::spawn("share --public, attached", in_netns(&world.lan, &cmd));
    // share's line, before tmux takes the screen (long: the gateway may
    // take its 2.2 s on a loaded machine, then tmux starts).
    let line = format!("{}@{ROUTER_WAN} api", lab.pair);
    tty.wait_until(Duration::from_secs(30), |t| t.contains(&line))
        .unwrap_or_else(|t| {
            panic!(
                "share never printed {line:?}: {t}\n{}",
                world.miniupnpd_log()
            )
        });
    let shared = lab.adopt_share(&host, "api");
    let attached = poll(WAIT, || {
        lab.list_clients(&shared)
            .iter()
            .any(|c| c.user == host)
            .then_some(())
    });
    assert!(attached.is_some(), "share never attached the host");
    assert_eq!(world.mappings().len(), 1, "{:?}", world.mappings());
    tty.tmux_key(b"d");
    let gone = poll(WAIT, || {
        (!lab.list_clients(&shared).iter().any(|c| c.user == host)).then_some(())
    });
    assert!(gone.is_some(), "the host never detached");
    drop(tty);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        world.mappings().len(),
        1,
        "lost with the terminal: {:?}",
        world.mappings()
    );
    let who = lab.pairshell_as(&host, &["who"]);
    let external = who
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("api: reachable at "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("who shows no mapping: {who}"))
        .to_string();
    let port: u16 = external.rsplit_once(':').unwrap().1.parse().unwrap();
    lab.set_prompt(&shared);
    let tty = join_from_wan(&lab, &world, &guest, port, &host, "api");
    drop(tty);
}

#[test]
fn a_upnp_igd_v1_gateway_maps_and_unmaps_too() {
    let mut lab = nat_lab!();
    let mut world = World::new(&lab, Some(Gateway::UPNP_IGD_V1));
    world.start_box_sshd(&lab);
    let (host, guest, run) = shared_public(&mut lab, &world, &[]);
    assert!(run.stdout.contains("(UPnP-IGD"), "{run}");
    let port = line_port(&run.stdout, ROUTER_WAN, &lab.pair, "api");
    assert_eq!(world.mappings().len(), 1, "{:?}", world.mappings());
    let shared = lab.adopt_share(&host, "api");
    lab.set_prompt(&shared);
    drop(join_from_wan(&lab, &world, &guest, port, &host, "api"));
    let unshare = lab.pairshell_as(&host, &["unshare", "api"]);
    assert!(unshare.success(), "{unshare}");
    assert!(
        world.mappings().is_empty(),
        "after unshare: {:?}",
        world.mappings()
    );
}
