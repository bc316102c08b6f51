//! Network namespaces for the `share --public` tests (`tests/nat.rs`): a
//! "router" running Debian's miniupnpd (nftables) between a "LAN" that
//! holds the box's sshd and pairshell and a "WAN" that holds the guest's
//! ssh. Addresses: 10.77.0.0/24 on the LAN, 198.51.100.0/24 (TEST-NET-2)
//! on the WAN. The namespaces are linked to each other only, never to the
//! machine's own network, so nothing is routed out of them; Drop removes
//! them with everything that ran inside.
//!
//! miniupnpd refuses to map ports when its WAN address is a reserved one
//! (TEST-NET-2 is), unless STUN says the router sits behind a 1:1 NAT that
//! lets everything in. So the WAN also holds a small STUN responder (RFC
//! 5780's CHANGE-REQUEST and OTHER-ADDRESS, which miniupnpd's check uses)
//! that tells it exactly that.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{poll, Lab, WAIT};

pub const ROUTER_LAN: &str = "10.77.0.1";
pub const BOX_LAN: &str = "10.77.0.2";
pub const ROUTER_WAN: &str = "198.51.100.1";
pub const GUEST_WAN: &str = "198.51.100.2";
/// The STUN responder's second address (for change-IP answers).
const STUN_OTHER: &str = "198.51.100.3";
/// The port the box's own sshd listens on inside the LAN.
pub const BOX_SSH_PORT: u16 = 2222;
/// IPv6 (documentation prefix 2001:db8::/32), when a world has it: the LAN
/// is 2001:db8:1::/64 and the WAN 2001:db8:2::/64, routed, not translated.
pub const ROUTER_LAN6: &str = "2001:db8:1::1";
pub const BOX_LAN6: &str = "2001:db8:1::2";
pub const ROUTER_WAN6: &str = "2001:db8:2::1";
pub const GUEST_WAN6: &str = "2001:db8:2::2";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Why this machine cannot make the namespaces, if it cannot. Asked once
/// per test process: the tests of one binary run at once, and a probe
/// each would race for the probe's name.
pub fn missing() -> Option<String> {
    static ANSWER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    for tool in [
        "/usr/sbin/ip",
        "/usr/bin/nsenter",
        "/usr/sbin/nft",
        "/usr/sbin/miniupnpd",
    ] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing (apt-get install iproute2 util-linux nftables miniupnpd-nftables)"));
        }
    }
    let probe = format!("pstprobe{}", std::process::id());
    let out = Command::new("ip").args(["netns", "add", &probe]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Some(format!(
                "`ip netns add` failed (not root, or no network namespaces here): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Some(format!("cannot run ip: {e}")),
    }
    let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    None
}

/// What the router's miniupnpd offers.
#[derive(Clone, Copy)]
pub struct Gateway {
    pub upnp: bool,
    /// NAT-PMP and PCP (miniupnpd switches them together).
    pub natpmp: bool,
    /// Describe itself as IGD v1 (WANIPConnection:1) rather than v2.
    pub igd_v1: bool,
}

impl Gateway {
    /// PCP, NAT-PMP and UPnP IGD v2: what a home router usually speaks.
    pub const PCP_AND_UPNP: Gateway = Gateway {
        upnp: true,
        natpmp: true,
        igd_v1: false,
    };
    /// UPnP IGD v2 alone, whose leases are the ones asked for.
    pub const UPNP: Gateway = Gateway {
        upnp: true,
        natpmp: false,
        igd_v1: false,
    };
    /// UPnP describing itself as IGD v1 (WANIPConnection:1).
    pub const UPNP_IGD_V1: Gateway = Gateway {
        upnp: true,
        natpmp: false,
        igd_v1: true,
    };
}

pub struct World {
    pub router: String,
    pub lan: String,
    pub wan: String,
    dir: PathBuf,
    miniupnpd: Option<Child>,
    sshd: Option<Child>,
    stun_stop: Arc<AtomicBool>,
    stun: Option<JoinHandle<()>>,
    ipv6: bool,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nsenter --net=/run/netns/NS PROGRAM ARGS…`, carrying over `cmd`'s
/// program, arguments, environment (cleared first) and directory.
pub fn in_netns(ns: &str, cmd: &Command) -> Command {
    let mut out = Command::new("nsenter");
    out.arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            out.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        out.current_dir(d);
    }
    out
}

impl World {
    /// The three namespaces and their links. With `gateway`, miniupnpd
    /// runs on the router; without, the router forwards but answers no
    /// port-mapping request (it drops them, as a silent gateway would).
    pub fn new(lab: &Lab, gateway: Option<Gateway>) -> World {
        World::build(lab, gateway, false)
    }

    /// As [`World::new`], with IPv6 on both sides as well.
    pub fn with_ipv6(lab: &Lab, gateway: Option<Gateway>) -> World {
        World::build(lab, gateway, true)
    }

    fn build(lab: &Lab, gateway: Option<Gateway>, ipv6: bool) -> World {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("pst{}n{n}", std::process::id());
        let dir = lab.dir.join(format!("nat{n}"));
        fs::create_dir_all(&dir).unwrap();
        let mut w = World {
            router: format!("{tag}r"),
            lan: format!("{tag}l"),
            wan: format!("{tag}w"),
            dir,
            miniupnpd: None,
            sshd: None,
            stun_stop: Arc::new(AtomicBool::new(false)),
            stun: None,
            ipv6,
        };
        for ns in [&w.router, &w.lan, &w.wan] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // Interface names are per namespace, so short fixed ones do.
        ip(&[
            "link", "add", "lan0", "netns", &w.lan, "type", "veth", "peer", "name", "rlan",
            "netns", &w.router,
        ]);
        ip(&[
            "link", "add", "wan0", "netns", &w.wan, "type", "veth", "peer", "name", "rwan",
            "netns", &w.router,
        ]);
        for (ns, dev, addr) in [
            (&w.router, "rlan", format!("{ROUTER_LAN}/24")),
            (&w.router, "rwan", format!("{ROUTER_WAN}/24")),
            (&w.lan, "lan0", format!("{BOX_LAN}/24")),
            (&w.wan, "wan0", format!("{GUEST_WAN}/24")),
            (&w.wan, "wan0", format!("{STUN_OTHER}/24")),
        ] {
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", &w.lan, "route", "add", "default", "via", ROUTER_LAN]);
        let out = w.exec(&w.router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        assert!(out.status.success(), "sysctl: {out:?}");
        if ipv6 {
            for (ns, dev, addr) in [
                (&w.router, "rlan", format!("{ROUTER_LAN6}/64")),
                (&w.router, "rwan", format!("{ROUTER_WAN6}/64")),
                (&w.lan, "lan0", format!("{BOX_LAN6}/64")),
                (&w.wan, "wan0", format!("{GUEST_WAN6}/64")),
            ] {
                // nodad: usable at once, no duplicate detection to wait for.
                ip(&["-n", ns, "addr", "add", &addr, "dev", dev, "nodad"]);
            }
            ip(&[
                "-n",
                &w.lan,
                "-6",
                "route",
                "add",
                "default",
                "via",
                ROUTER_LAN6,
            ]);
            ip(&[
                "-n",
                &w.wan,
                "-6",
                "route",
                "add",
                "2001:db8:1::/64",
                "via",
                ROUTER_WAN6,
            ]);
            let out = w.exec(
                &w.router,
                "sysctl",
                &["-qw", "net.ipv6.conf.all.forwarding=1"],
            );
            assert!(out.status.success(), "sysctl: {out:?}");
        }
        // The router's firewall: the LAN may go out, the WAN may come in
        // only where miniupnpd opened a port. Without a gateway, it also
        // drops port-mapping requests (PCP/NAT-PMP on 5351, SSDP on 1900),
        // so they go unanswered rather than refused.
        let silent = if gateway.is_none() {
            "chain input { type filter hook input priority 0; policy accept; udp dport { 1900, 5351 } drop; }"
        } else {
            ""
        };
        let rules = format!(
            "table inet pst {{\n\
             chain forward {{ type filter hook forward priority 0; policy drop; ct state established,related accept; iifname \"rlan\" accept; jump miniupnpd; }}\n\
             chain miniupnpd {{ }}\n\
             chain prerouting {{ type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }}\n\
             chain postrouting {{ type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }}\n\
             chain prerouting_miniupnpd {{ }}\n\
             chain postrouting_miniupnpd {{ }}\n\
             {silent}\n\
             }}\n"
        );
        let rules_path = w.dir.join("router.nft");
        fs::write(&rules_path, rules).unwrap();
        let out = w.exec(&w.router, "nft", &["-f", &rules_path.display().to_string()]);
        assert!(out.status.success(), "nft -f: {out:?}");
        if let Some(g) = gateway {
            w.start_stun();
            w.start_miniupnpd(g);
        }
        w
    }

    fn exec(&self, ns: &str, program: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(program);
        cmd.args(args).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        in_netns(ns, &cmd).output().expect("run nsenter")
    }

    fn start_stun(&mut self) {
        let stop = self.stun_stop.clone();
        let netns = PathBuf::from(format!("/run/netns/{}", self.wan));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        self.stun = Some(thread::spawn(move || {
            // setns changes this thread's network namespace only.
            let f = fs::File::open(&netns).unwrap();
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let a: Ipv4Addr = GUEST_WAN.parse().unwrap();
            let b: Ipv4Addr = STUN_OTHER.parse().unwrap();
            let bind =
                |ip: Ipv4Addr, port: u16| UdpSocket::bind(SocketAddrV4::new(ip, port)).unwrap();
            let socks = [bind(a, 3478), bind(a, 3479), bind(b, 3478), bind(b, 3479)];
            socks[0]
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let Ok((len, from)) = socks[0].recv_from(&mut buf) else {
                    continue;
                };
                let std::net::SocketAddr::V4(from) = from else {
                    continue;
                };
                if let Some((reply, flags)) = stun_reply(&buf[..len], from, b) {
                    let index = usize::from(flags & 0x4 != 0) * 2 + usize::from(flags & 0x2 != 0);
                    let _ = socks[index].send_to(&reply, from);
                }
            }
        }));
        ready_rx
            .recv_timeout(WAIT)
            .expect("the STUN responder never bound its sockets");
    }

    fn start_miniupnpd(&mut self, g: Gateway) {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let conf = format!(
            "ext_ifname=rwan\n\
             listening_ip=rlan\n\
             http_port=0\n\
             enable_upnp={}\n\
             enable_natpmp={}\n\
             force_igd_desc_v1={}\n\
             ext_perform_stun=yes\n\
             ext_stun_host={GUEST_WAN}\n\
             secure_mode=yes\n\
             uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b\n\
             upnp_table_name=pst\n\
             upnp_nat_table_name=pst\n\
             upnp_forward_chain=miniupnpd\n\
             upnp_nat_chain=prerouting_miniupnpd\n\
             upnp_nat_postrouting_chain=postrouting_miniupnpd\n\
             allow 1024-65535 10.77.0.0/24 1-65535\n\
             deny 0-65535 0.0.0.0/0 0-65535\n",
            yes(g.upnp),
            yes(g.natpmp),
            yes(g.igd_v1),
        );
        let conf_path = self.dir.join("miniupnpd.conf");
        fs::write(&conf_path, conf).unwrap();
        let log_path = self.dir.join("miniupnpd.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new("/usr/sbin/miniupnpd");
        // -d: stay in the foreground, log to stderr too. -P: a pid file of
        // its own (the default, /var/run/miniupnpd.pid, would make a second
        // test's miniupnpd think the first's is the same daemon, and exit).
        cmd.args(["-d", "-f", &conf_path.display().to_string(), "-P"])
            .arg(self.dir.join("miniupnpd.pid"));
        let child = in_netns(&self.router, &cmd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start miniupnpd");
        self.miniupnpd = Some(child);
        let ready = poll(WAIT, || {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            (log.contains("Port forwarding is now enabled")
                && (log.contains("Listening for NAT-PMP") || !g.natpmp)
                && (log.contains("HTTP listening") || !g.upnp))
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "miniupnpd did not start forwarding; its log:\n{}",
            self.miniupnpd_log()
        );
    }

    pub fn miniupnpd_log(&self) -> String {
        fs::read_to_string(self.dir.join("miniupnpd.log")).unwrap_or_default()
    }

    /// The port redirections in miniupnpd's table (its nftables chain),
    /// one line each.
    pub fn mappings(&self) -> Vec<String> {
        let out = self.exec(
            &self.router,
            "nft",
            &["list", "chain", "inet", "pst", "prerouting_miniupnpd"],
        );
        assert!(out.status.success(), "nft list: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("dnat"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// A second sshd of the lab's inside the LAN, on 10.77.0.2:2222, with
    /// the lab's config (the shipped drop-in, pairshell as the forced
    /// command, the same host key).
    pub fn start_box_sshd(&mut self, lab: &Lab) {
        let log_path = self.dir.join("sshd.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"])
            .arg(lab.sshd_config())
            .arg("-o")
            .arg(format!("ListenAddress={BOX_LAN}:{BOX_SSH_PORT}"));
        if self.ipv6 {
            cmd.arg("-o")
                .arg(format!("ListenAddress=[{BOX_LAN6}]:{BOX_SSH_PORT}"));
        }
        let child = in_netns(&self.lan, &cmd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the LAN sshd");
        self.sshd = Some(child);
        let ready = poll(WAIT, || {
            fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains(&format!(
                    "Server listening on {BOX_LAN} port {BOX_SSH_PORT}"
                ))
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "the LAN sshd did not start: {}",
            fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// The IPv6 pinholes miniupnpd opened, one line each: its forward
    /// chain's rules matching an IPv6 destination, which miniupnpd writes
    /// as a raw match on the header (`@nh,192,128`, the 16 bytes at bit
    /// 192 of the IPv6 header).
    pub fn pinholes(&self) -> Vec<String> {
        let out = self.exec(
            &self.router,
            "nft",
            &["list", "chain", "inet", "pst", "miniupnpd"],
        );
        assert!(out.status.success(), "nft list: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("@nh,192,128") || l.contains("ip6 daddr"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// The router's whole nftables ruleset, for failure messages.
    pub fn ruleset(&self) -> String {
        let out = self.exec(&self.router, "nft", &["list", "ruleset"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A known_hosts file for the box's sshd as the WAN sees it.
    pub fn known_hosts(&self, lab: &Lab, port: u16) -> PathBuf {
        let key = fs::read_to_string(lab.dir.join("sshd/ssh_host_ed25519_key.pub")).unwrap();
        let path = self.dir.join(format!("known_hosts_{port}"));
        fs::write(&path, format!("[{ROUTER_WAN}]:{port} {}", key.trim())).unwrap();
        path
    }
}

/// The answer to a STUN Binding Request from `from`: XOR-MAPPED-ADDRESS
/// (what the router looks like from here) and OTHER-ADDRESS, plus the
/// request's CHANGE-REQUEST flags (0x4 change IP, 0x2 change port).
fn stun_reply(req: &[u8], from: SocketAddrV4, other: Ipv4Addr) -> Option<(Vec<u8>, u8)> {
    if req.len() < 20 || req[0..2] != [0x00, 0x01] {
        return None;
    }
    let mut flags = 0u8;
    let mut i = 20;
    while i + 4 <= req.len() {
        let t = u16::from_be_bytes([req[i], req[i + 1]]);
        let l = usize::from(u16::from_be_bytes([req[i + 2], req[i + 3]]));
        if t == 0x0003 && l == 4 && i + 8 <= req.len() {
            flags = req[i + 7];
        }
        i += 4 + l;
    }
    let cookie = [0x21, 0x12, 0xa4, 0x42];
    let mut body = Vec::new();
    body.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    body.extend_from_slice(&(from.port() ^ 0x2112).to_be_bytes());
    for (o, c) in from.ip().octets().iter().zip(cookie) {
        body.push(o ^ c);
    }
    body.extend_from_slice(&[0x80, 0x2c, 0x00, 0x08, 0x00, 0x01]);
    body.extend_from_slice(&3479u16.to_be_bytes());
    body.extend_from_slice(&other.octets());
    let mut reply = vec![0x01, 0x01];
    reply.extend_from_slice(&(body.len() as u16).to_be_bytes());
    reply.extend_from_slice(&req[4..20]);
    reply.extend_from_slice(&body);
    Some((reply, flags))
}

impl Drop for World {
    fn drop(&mut self) {
        for child in [self.miniupnpd.take(), self.sshd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            // nsenter execs the program, so this pid is miniupnpd's or sshd's.
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = poll(Duration::from_secs(3), || child.try_wait().ok().flatten());
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stun_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.stun.take() {
            let _ = t.join();
        }
        for ns in [&self.router, &self.lan, &self.wan] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
