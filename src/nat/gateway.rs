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
//! Only one mapping is ever made: the UPnP one only if PCP/NAT-PMP failed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::num::NonZeroU16;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a host is told the gateway is called in the trail and `who`.
pub const PCP: &str = "PCP";
pub const NAT_PMP: &str = "NAT-PMP";
pub const UPNP: &str = "UPnP-IGD";

/// The description a UPnP mapping carries on the gateway's list.
const DESCRIPTION: &str = "pairshell share";

/// A mapping held on the gateway.
pub struct Mapping {
    pub gateway: Ipv4Addr,
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
    let Some(gateway) = default_gateway(&table) else {
        return Err(NoMapping::Silent);
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
        Ok(m) => return Ok(m),
        Err(NoMapping::Refused(why)) => refusals.push(why),
        Err(NoMapping::Silent) => {}
    }
    let left = deadline.saturating_duration_since(Instant::now());
    // No answer to the search by the deadline, or a failed one: no UPnP.
    if let Ok(Ok(gw)) = rx.recv_timeout(left) {
        match map_upnp(gw, gateway, SocketAddrV4::new(local, ssh_port), lease) {
            Ok(m) => return Ok(m),
            Err(why) => refusals.push(why),
        }
    }
    if refusals.is_empty() {
        Err(NoMapping::Silent)
    } else {
        Err(NoMapping::Refused(refusals.join("; ")))
    }
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
        gateway,
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
        gateway,
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
    pub fn renew(&mut self) -> Result<(), String> {
        match &mut self.kind {
            Kind::Pcp(m) => {
                let rt = runtime().map_err(|e| format!("tokio: {e}"))?;
                rt.block_on(m.renew()).map_err(|e| e.to_string())?;
                self.lease = m.lifetime();
                let port = m.external_port().get();
                if port != self.external.port() {
                    // Guests hold the old line: say so rather than let
                    // the line silently stop working.
                    return Err(format!(
                        "the gateway moved the mapping from port {} to {port}",
                        self.external.port()
                    ));
                }
                Ok(())
            }
            Kind::Upnp { gateway, local } => gateway
                .add_port(
                    igd_next::PortMappingProtocol::TCP,
                    self.external.port(),
                    (*local).into(),
                    self.lease,
                    DESCRIPTION,
                )
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
    fn suggested_port_is_high_and_stable() {
        assert_eq!(suggested_port(22), 40022);
        assert_eq!(suggested_port(2222), 42222);
        assert_eq!(suggested_port(65535), 45535);
    }
}
