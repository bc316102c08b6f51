//! Asking the LAN's gateway for a port mapping to this box's sshd.
//!
//! Three protocols, two crates, both asked at once within one budget:
//! - PCP (RFC 6887) and its predecessor NAT-PMP (RFC 6886) through
//!   `crab_nat`: one crate for both, pure Rust, kept up to date, with
//!   renew and delete on the mapping it returns, and PCP's nonce kept for
//!   us (a renewal must carry the nonce of the request that made it). It
//!   tries PCP and falls back to NAT-PMP when the gateway answers that it
//!   only speaks version 0. It is async (tokio), so the holder keeps a
//!   small current-thread runtime; `natpmp` would cover NAT-PMP alone.
//! - UPnP IGD v1 and v2 (WANIPConnection:1 and :2) through `igd-next`, the
//!   maintained fork of `igd`, with a blocking API, AddAnyPortMapping with
//!   the AddPortMapping fallback for v1 gateways, and lease durations.
//!
//! PCP/NAT-PMP go first (one UDP exchange, a real lease, no HTTP); the
//! UPnP search runs meanwhile so a UPnP-only gateway costs no extra time.
//! Only one mapping is kept: the UPnP one only if PCP/NAT-PMP failed. An
//! IPv6 box also asks its IPv6 default router for a PCP MAP of its own
//! address meanwhile (a pinhole in the firewall, RFC 6887 §7.1 with no
//! translation); a granted pinhole is taken instead of the IPv4 mapping,
//! which is then deleted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::num::NonZeroU16;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a host is told the gateway is called in the trail and `who`.
pub const PCP: &str = "PCP";
pub const NAT_PMP: &str = "NAT-PMP";
pub const UPNP: &str = "UPnP-IGD";
/// A PCP MAP over IPv6: the firewall opens this box's own address and
/// port (a pinhole), nothing is translated.
pub const PCP_PINHOLE: &str = "PCP-pinhole";

/// The description a UPnP mapping carries on the gateway's list.
const DESCRIPTION: &str = "pairshell share";

/// A mapping held on the gateway.
pub struct Mapping {
    pub gateway: IpAddr,
    /// The address and port guests use.
    pub external: SocketAddr,
    /// [`PCP`], [`NAT_PMP`] or [`UPNP`].
    pub protocol: &'static str,
    /// The lease the gateway granted, in seconds.
    pub lease: u32,
    kind: Kind,
}

enum Kind {
    Pcp(crab_nat::PortMapping),
    Upnp {
        gateway: Box<igd_next::Gateway>,
        local: SocketAddrV4,
    },
}

/// The default IPv4 gateway in `/proc/net/route`'s text: the first line
/// whose destination is 0.0.0.0 and which has the gateway flag.
pub fn default_gateway(route_table: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    for line in route_table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [_iface, dest, gw, flags, ..] = cols.as_slice() else {
            continue;
        };
        let (Ok(dest), Ok(gw), Ok(flags)) = (
            u32::from_str_radix(dest, 16),
            u32::from_str_radix(gw, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        if dest == 0 && flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY && gw != 0 {
            // The kernel prints the address's bytes, in network order, as
            // a little-endian u32.
            return Some(Ipv4Addr::from(gw.to_le_bytes()));
        }
    }
    None
}

/// The IPv6 default route in `/proc/net/ipv6_route`'s text: its next hop
/// and interface.
pub fn default_gateway6(route_table: &str) -> Option<(Ipv6Addr, String)> {
    for line in route_table.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [dest, plen, _src, _splen, next, .., iface] = cols.as_slice() else {
            continue;
        };
        let hex = |h: &str| u128::from_str_radix(h, 16).ok().map(Ipv6Addr::from);
        let (Some(dest), Some(next)) = (hex(dest), hex(next)) else {
            continue;
        };
        if dest.is_unspecified() && *plen == "00" && !next.is_unspecified() && *iface != "lo" {
            return Some((next, iface.to_string()));
        }
    }
    None
}

/// Whether `a` is a global unicast address (not link-local, loopback,
/// unique-local or multicast): the only kind a pinhole from outside can
/// reach.
fn is_global6(a: &Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || first & 0xffc0 == 0xfe80
        || first & 0xfe00 == 0xfc00)
}

/// The port pairshell first asks the gateway for: 40000 + the sshd port's
/// last four digits (22 → 40022), high enough for gateways that refuse
/// low ports, and the same each time so a guest's line stays the same
/// from one share to the next when the gateway agrees.
pub fn suggested_port(ssh_port: u16) -> u16 {
    40000 + ssh_port % 10000
}

/// Why no mapping was made.
pub enum NoMapping {
    /// Nothing answered within the budget.
    Silent,
    /// A gateway answered and refused, or failed.
    Refused(String),
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Map `ssh_port` on the default gateway, asking for a `lease`-second
/// lease, giving up after `budget`.
pub fn map(ssh_port: u16, lease: u32, budget: Duration) -> Result<Mapping, NoMapping> {
    let deadline = Instant::now() + budget;
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    // An IPv6 box asks its firewall for a pinhole at the same time; a
    // pinhole, where offered, is taken instead of a mapping.
    let (pinhole_tx, pinhole_rx) = mpsc::channel();
    let table6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    let ipv6 = default_gateway6(&table6);
    let asked_pinhole = ipv6.is_some();
    if let Some((gw6, iface)) = ipv6 {
        std::thread::spawn(move || {
            let _ = pinhole_tx.send(map_pinhole(gw6, &iface, ssh_port, lease));
        });
    }
    let pinhole = || -> Option<Mapping> {
        if !asked_pinhole {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        pinhole_rx.recv_timeout(left).ok()?.ok()
    };
    // The pinhole when there is one (and the IPv4 mapping deleted), else
    // the mapping.
    let prefer_pinhole = |m: Mapping| match pinhole() {
        Some(p) => {
            let _ = m.delete();
            p
        }
        None => m,
    };
    let Some(gateway) = default_gateway(&table) else {
        return pinhole().ok_or(NoMapping::Silent);
    };
    // The address the gateway sees us at (PCP carries it; UPnP maps to
    // it): the source the kernel picks toward the gateway. No packet
    // is sent by connect() on a UDP socket.
    let local = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((gateway, crab_nat::GATEWAY_PORT))?;
            s.local_addr()
        })
        .map_err(|e| NoMapping::Refused(format!("no route to the gateway {gateway}: {e}")))?;
    let IpAddr::V4(local) = local.ip() else {
        return Err(NoMapping::Silent);
    };
    // Only sshd's port, and only to this box's own address: the holder
    // never opens anything else.
    let internal = NonZeroU16::new(ssh_port)
        .ok_or_else(|| NoMapping::Refused("sshd's port cannot be 0".into()))?;

    // The UPnP search, meanwhile.
    let (tx, rx) = mpsc::channel();
    let search_time = deadline.saturating_duration_since(Instant::now());
    std::thread::spawn(move || {
        let mut options = igd_next::SearchOptions::default();
        options.bind_addr = SocketAddr::new(IpAddr::V4(local), 0);
        options.timeout = Some(search_time);
        options.single_search_timeout = Some(search_time);
        let _ = tx.send(igd_next::search_gateway(options));
    });

    let mut refusals = Vec::new();
    match map_pcp(gateway, local, internal, ssh_port, lease) {
        Ok(m) => return Ok(prefer_pinhole(m)),
        Err(NoMapping::Refused(why)) => refusals.push(why),
        Err(NoMapping::Silent) => {}
    }
    let left = deadline.saturating_duration_since(Instant::now());
    // No answer to the search by the deadline, or a failed one: no UPnP.
    if let Ok(Ok(gw)) = rx.recv_timeout(left) {
        match map_upnp(gw, gateway, SocketAddrV4::new(local, ssh_port), lease) {
            Ok(m) => return Ok(prefer_pinhole(m)),
            Err(why) => refusals.push(why),
        }
    }
    if let Some(p) = pinhole() {
        return Ok(p);
    }
    if refusals.is_empty() {
        Err(NoMapping::Silent)
    } else {
        Err(NoMapping::Refused(refusals.join("; ")))
    }
}

/// PCP MAP over IPv6 to the firewall at `gw` (a next hop on `iface`), for
/// this box's global address and sshd's port: a pinhole.
fn map_pinhole(gw: Ipv6Addr, iface: &str, ssh_port: u16, lease: u32) -> Result<Mapping, NoMapping> {
    // A link-local next hop needs its interface's index as scope.
    let scope = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let link_local = gw.segments()[0] & 0xffc0 == 0xfe80;
    let gw_scope = if link_local { scope } else { None };
    let local = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect(SocketAddrV6::new(
                gw,
                crab_nat::GATEWAY_PORT,
                0,
                gw_scope.unwrap_or(0),
            ))?;
            s.local_addr()
        })
        .map_err(|e| NoMapping::Refused(format!("no route to the IPv6 gateway {gw}: {e}")))?;
    let IpAddr::V6(mut ours) = local.ip() else {
        return Err(NoMapping::Silent);
    };
    if !is_global6(&ours) {
        // Toward a link-local next hop the kernel picks a link-local
        // source; the pinhole is for the box's global address.
        let Some(global) = global_address6(iface) else {
            return Err(NoMapping::Silent);
        };
        ours = global;
    }
    let internal = NonZeroU16::new(ssh_port)
        .ok_or_else(|| NoMapping::Refused("sshd's port cannot be 0".into()))?;
    let rt = runtime().map_err(|e| NoMapping::Refused(format!("tokio: {e}")))?;
    let options = crab_nat::PortMappingOptions {
        external_port: Some(internal),
        lifetime_seconds: Some(lease),
        timeout_config: Some(pcp_timeouts()),
    };
    let mapping = rt
        .block_on(crab_nat::pcp::port_mapping(
            crab_nat::pcp::BaseMapRequest::new(
                crab_nat::GatewayAddress::IpV6(gw, gw_scope),
                IpAddr::V6(ours),
                crab_nat::InternetProtocol::Tcp,
                internal,
            ),
            None,
            None,
            options,
        ))
        .map_err(|e| match e {
            crab_nat::pcp::Failure::Socket(_) | crab_nat::pcp::Failure::Timeout => {
                NoMapping::Silent
            }
            other => NoMapping::Refused(format!("PCP pinhole: {other}")),
        })?;
    let external_ip = match mapping.mapping_type() {
        crab_nat::PortMappingType::Pcp { external_ip, .. } => external_ip,
        crab_nat::PortMappingType::NatPmp => IpAddr::V6(ours),
    };
    Ok(Mapping {
        gateway: IpAddr::V6(gw),
        external: SocketAddr::new(external_ip, mapping.external_port().get()),
        protocol: PCP_PINHOLE,
        lease: mapping.lifetime(),
        kind: Kind::Pcp(mapping),
    })
}

/// A global address of this box's on `iface`, from `/proc/net/if_inet6`.
fn global_address6(iface: &str) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    text.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let [addr, .., name] = cols.as_slice() else {
            return None;
        };
        let a = Ipv6Addr::from(u128::from_str_radix(addr, 16).ok()?);
        (*name == iface && is_global6(&a)).then_some(a)
    })
}

/// How long the PCP/NAT-PMP exchange may take: 250 ms, then two
/// retries (500 ms, 1 s), leaving the rest of the 3 s for UPnP.
fn pcp_timeouts() -> crab_nat::TimeoutConfig {
    crab_nat::TimeoutConfig {
        initial_timeout: Duration::from_millis(250),
        max_retries: 2,
        max_retry_timeout: Some(Duration::from_secs(1)),
    }
}

fn map_pcp(
    gateway: Ipv4Addr,
    local: Ipv4Addr,
    internal: NonZeroU16,
    ssh_port: u16,
    lease: u32,
) -> Result<Mapping, NoMapping> {
    let rt = runtime().map_err(|e| NoMapping::Refused(format!("tokio: {e}")))?;
    let options = crab_nat::PortMappingOptions {
        external_port: NonZeroU16::new(suggested_port(ssh_port)),
        lifetime_seconds: Some(lease),
        timeout_config: Some(pcp_timeouts()),
    };
    let mapping = rt
        .block_on(crab_nat::PortMapping::new(
            gateway.into(),
            local.into(),
            crab_nat::InternetProtocol::Tcp,
            internal,
            options,
        ))
        .map_err(|e| match e {
            // Nothing came back, or the port is closed (ICMP): a gateway
            // that speaks neither, or none at all.
            crab_nat::MappingFailure::NatPmp(
                crab_nat::natpmp::Failure::Socket(_) | crab_nat::natpmp::Failure::Timeout,
            )
            | crab_nat::MappingFailure::Pcp(
                crab_nat::pcp::Failure::Socket(_) | crab_nat::pcp::Failure::Timeout,
            ) => NoMapping::Silent,
            other => NoMapping::Refused(format!("PCP/NAT-PMP: {other}")),
        })?;
    let (protocol, external_ip) = match mapping.mapping_type() {
        crab_nat::PortMappingType::Pcp { external_ip, .. } => (PCP, external_ip),
        crab_nat::PortMappingType::NatPmp => {
            let ip = rt
                .block_on(crab_nat::natpmp::external_address(
                    gateway.into(),
                    Some(pcp_timeouts()),
                ))
                .map_err(|e| NoMapping::Refused(format!("NAT-PMP external address: {e}")))?;
            (NAT_PMP, IpAddr::V4(ip))
        }
    };
    Ok(Mapping {
        gateway: gateway.into(),
        external: SocketAddr::new(external_ip, mapping.external_port().get()),
        protocol,
        lease: mapping.lifetime(),
        kind: Kind::Pcp(mapping),
    })
}

fn map_upnp(
    gw: igd_next::Gateway,
    gateway: Ipv4Addr,
    local: SocketAddrV4,
    lease: u32,
) -> Result<Mapping, String> {
    // Only the default route's gateway is asked. Any device on the LAN can
    // answer an SSDP search; one that did would choose the "outside
    // address" in the guests' line, and send them (and a first-time
    // guest's trust in a host key) wherever it likes.
    if gw.addr.ip() != IpAddr::V4(gateway) {
        return Err(format!(
            "a UPnP device at {} answered, which is not this network's gateway {gateway}; it was not asked",
            gw.addr.ip()
        ));
    }
    let external_ip = gw
        .get_external_ip()
        .map_err(|e| format!("UPnP external address: {e}"))?;
    let tcp = igd_next::PortMappingProtocol::TCP;
    let wanted = suggested_port(local.port());
    let port = match gw.add_port(tcp, wanted, local.into(), lease, DESCRIPTION) {
        Ok(()) => wanted,
        Err(_) => gw
            .add_any_port(tcp, local.into(), lease, DESCRIPTION)
            .map_err(|e| format!("UPnP mapping: {e}"))?,
    };
    Ok(Mapping {
        gateway: gateway.into(),
        external: SocketAddr::new(external_ip, port),
        protocol: UPNP,
        lease,
        kind: Kind::Upnp {
            gateway: Box::new(gw),
            local,
        },
    })
}

impl Mapping {
    /// Ask the gateway for the lease again (the same external port).
    /// `Ok(Some(note))` when it renewed but something changed that the
    /// host should know.
    pub fn renew(&mut self) -> Result<Option<String>, String> {
        match &mut self.kind {
            Kind::Pcp(m) => {
                let rt = runtime().map_err(|e| format!("tokio: {e}"))?;
                rt.block_on(m.renew()).map_err(|e| e.to_string())?;
                self.lease = m.lifetime();
                let port = m.external_port().get();
                if port != self.external.port() {
                    // Guests hold the old line: say so (in `who`) rather
                    // than let it silently stop working.
                    let note = format!(
                        "the gateway moved the mapping from port {} to {port}; give guests the new line",
                        self.external.port()
                    );
                    self.external.set_port(port);
                    return Ok(Some(note));
                }
                Ok(None)
            }
            Kind::Upnp { gateway, local } => gateway
                .add_port(
                    igd_next::PortMappingProtocol::TCP,
                    self.external.port(),
                    (*local).into(),
                    self.lease,
                    DESCRIPTION,
                )
                .map(|()| None)
                .map_err(|e| e.to_string()),
        }
    }

    /// Delete the mapping on the gateway.
    pub fn delete(self) -> Result<(), String> {
        match self.kind {
            Kind::Pcp(m) => {
                let rt = runtime().map_err(|e| format!("tokio: {e}"))?;
                rt.block_on(m.try_drop()).map_err(|(e, _)| e.to_string())
            }
            Kind::Upnp { gateway, .. } => gateway
                .remove_port(igd_next::PortMappingProtocol::TCP, self.external.port())
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_is_read_from_proc_net_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth0\t00000000\t01004D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_gateway(table), Some(Ipv4Addr::new(10, 77, 0, 1)));
    }

    #[test]
    fn no_default_route_means_no_gateway() {
        let header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n";
        // Only the link route; and a default route that is down.
        let table = format!(
            "{header}eth0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
             eth0\t00000000\t01004D0A\t0002\t0\t0\t0\t00000000\n"
        );
        assert_eq!(default_gateway(&table), None);
        assert_eq!(default_gateway(""), None);
        assert_eq!(default_gateway("garbage\nmore garbage here x y z\n"), None);
    }

    #[test]
    fn ipv6_default_route_is_read_from_proc_net_ipv6_route() {
        let table = "20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     lan0\n\
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000100000000000000000001 00000400 00000002 00000000 00000003     lan0\n";
        assert_eq!(
            default_gateway6(table),
            Some(("2001:db8:1::1".parse().unwrap(), "lan0".to_string()))
        );
        // The loopback's unreachable default, and no route at all.
        let lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert_eq!(default_gateway6(lo), None);
        assert_eq!(default_gateway6(""), None);
    }

    #[test]
    fn only_global_ipv6_addresses_can_have_a_pinhole() {
        for yes in ["2001:db8:1::2", "2a01::1"] {
            assert!(is_global6(&yes.parse().unwrap()), "{yes}");
        }
        for no in ["fe80::1", "fd00::1", "::1", "::", "ff02::1"] {
            assert!(!is_global6(&no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn suggested_port_is_high_and_stable() {
        assert_eq!(suggested_port(22), 40022);
        assert_eq!(suggested_port(2222), 42222);
        assert_eq!(suggested_port(65535), 45535);
    }
}
