//! The load scenario, shared by `tests/load.rs` (10 guests, behaviour only)
//! and `benches/login.rs` (50 guests, with join latencies).
//!
//! N guests with distinct keys join the same shared session at once through
//! the lab's real sshd, stay attached while the host types a command whose
//! output every one of them must see, then all leave together with tmux's
//! detach key. It checks that tmux lists N clients of the pair account
//! (read-only exactly for the read-only guests), and that the syslog
//! receiver got exactly one `join` and one `leave` per guest, for the right
//! guest names, each datagram a whole RFC 3164 line (nothing lost, nothing
//! run together), and nothing else.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use super::{poll, Guest, Lab, Record, Tty};

/// What the pane shows before anyone joins; a guest has joined once their
/// terminal shows it.
pub const JOIN_MARKER: &str = "load-marker-42";
/// What the host's command prints while everyone is attached.
pub const LIVE_MARKER: &str = "load-live-42";

/// Generous, for N guests on two cores.
const LOAD_WAIT: Duration = Duration::from_secs(90);

/// The figures of one run; the behaviour was asserted on the way.
#[derive(Debug)]
pub struct LoadOutcome {
    pub guests: usize,
    /// Per guest: from spawning `ssh` to [`JOIN_MARKER`] in its terminal.
    pub join_latencies: Vec<Duration>,
    /// From the first spawn to the last guest seeing the marker.
    pub all_joined: Duration,
    /// From the host typing to every guest seeing [`LIVE_MARKER`].
    pub live_echo: Duration,
    /// From the detach keys to the last `leave` line received.
    pub all_left: Duration,
}

/// Runs the scenario with `n` guests on `lab` (it adds a host the supported
/// way, `host add` then `share`, `n` guests `load000…`, and raises sshd's
/// connection limits). Panics on any misbehaviour.
pub fn run(lab: &mut Lab, n: usize) -> LoadOutcome {
    assert!(n >= 2, "the scenario needs read-write and read-only guests");
    lab.raise_sshd_limits((4 * n).max(100) as u32);
    let host = lab.enable_host();
    let guests: Vec<Guest> = (0..n)
        .map(|i| lab.add_guest(&format!("load{i:03}"), None))
        .collect();
    // Even guests may type, odd ones watch.
    let names: Vec<&str> = guests.iter().map(|g| g.name.as_str()).collect();
    let mut grants = Vec::new();
    for (i, name) in names.iter().enumerate() {
        grants.push(if i.is_multiple_of(2) { "--rw" } else { "--ro" });
        grants.push(name);
    }
    let (_, shared) = lab.share_as(&host, "load", &grants);
    let ro = names.len() / 2;
    lab.host_types_line(&shared, "echo load-marker-$((6*7))");
    assert!(
        lab.wait_pane_line(&shared, JOIN_MARKER),
        "{}",
        lab.capture_pane(&shared)
    );

    // Only what this scenario logs counts.
    let logged_before = lab.syslog().raw_bytes().len();

    // Everyone at once: spawn all, then watch all terminals.
    let mut ttys: Vec<(Instant, Tty)> = Vec::with_capacity(n);
    let first = Instant::now();
    for g in &guests {
        let cmd = lab.ssh_with(g, &["-tt"], Some("load"));
        let start = Instant::now();
        ttys.push((start, Tty::spawn(&format!("ssh -tt as {}", g.name), cmd)));
    }
    let mut latencies: Vec<Option<Duration>> = vec![None; n];
    let deadline = Instant::now() + LOAD_WAIT;
    while latencies.iter().any(Option::is_none) {
        for (i, (start, tty)) in ttys.iter_mut().enumerate() {
            if latencies[i].is_none() && tty.text().contains(JOIN_MARKER) {
                latencies[i] = Some(start.elapsed());
            }
        }
        if Instant::now() > deadline {
            let missing: Vec<&str> = (0..n)
                .filter(|&i| latencies[i].is_none())
                .map(|i| names[i])
                .collect();
            let sample = ttys
                .iter_mut()
                .enumerate()
                .find(|(i, _)| latencies[*i].is_none())
                .map(|(_, (_, t))| t.text())
                .unwrap_or_default();
            panic!(
                "{} of {n} guests never saw the session: {missing:?}\nfirst one's terminal:\n{sample}",
                missing.len()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    let all_joined = first.elapsed();
    let join_latencies: Vec<Duration> = latencies.into_iter().map(Option::unwrap).collect();

    // tmux sees n clients of the pair account, read-only exactly for the
    // read-only guests, all on the shared session.
    let clients = poll(LOAD_WAIT, || {
        let c = lab.pair_clients(&shared);
        (c.len() == n).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "tmux does not list {n} clients of {}: {:?}",
            lab.pair,
            lab.list_clients(&shared)
        )
    });
    assert!(clients.iter().all(|c| c.session == "load"), "{clients:?}");
    let readonly = clients.iter().filter(|c| c.readonly).count();
    assert_eq!(readonly, ro, "read-only clients: {clients:?}");
    let others: Vec<_> = lab
        .list_clients(&shared)
        .into_iter()
        .filter(|c| c.user != lab.pair)
        .collect();
    assert!(others.is_empty(), "clients of other users: {others:?}");

    // The session still answers the host, and every guest sees it.
    let typed = Instant::now();
    lab.host_types_line(&shared, "echo load-live-$((6*7))");
    assert!(
        lab.wait_pane_line(&shared, LIVE_MARKER),
        "the host's command never ran with {n} guests attached:\n{}",
        lab.capture_pane(&shared)
    );
    for (i, (_, tty)) in ttys.iter_mut().enumerate() {
        tty.wait_until(LOAD_WAIT, |t| t.contains(LIVE_MARKER))
            .unwrap_or_else(|t| {
                panic!("{} never saw the host's output:\n{t}", names[i]);
            });
    }
    let live_echo = typed.elapsed();

    // Joins are on record, one per guest.
    let joins = wait_events(lab, logged_before, "join", n);
    assert_guests(&joins, &names, "join");

    // Everyone leaves together with C-b d.
    let detach = Instant::now();
    let mut ttys: Vec<Tty> = ttys.into_iter().map(|(_, t)| t).collect();
    detach_all(&mut ttys, &names);
    let leaves = wait_events(lab, logged_before, "leave", n);
    let all_left = detach.elapsed();
    assert_guests(&leaves, &names, "leave");
    assert!(
        poll(LOAD_WAIT, || lab
            .pair_clients(&shared)
            .is_empty()
            .then_some(()))
        .is_some(),
        "clients left after everyone detached: {:?}",
        lab.pair_clients(&shared)
    );

    // Each leave closes its own join (same guest, same client pid), and
    // nothing else was logged. records() has already checked that every
    // datagram is one whole RFC 3164 line.
    let records = since(lab, logged_before);
    let stray: Vec<&str> = records
        .iter()
        .filter(|r| !matches!(r.get("event"), Some("join" | "leave")))
        .map(|r| r.raw.as_str())
        .collect();
    assert!(stray.is_empty(), "unexpected audit lines: {stray:#?}");
    assert_eq!(
        lab.syslog().raw_bytes().len() - logged_before,
        2 * n,
        "datagrams received: {:#?}",
        lab.syslog().raw()
    );
    let join_pid: BTreeMap<&str, &str> = joins
        .iter()
        .map(|r| (r.field("guest"), r.field("pid")))
        .collect();
    for r in &leaves {
        let guest = r.field("guest");
        assert_eq!(
            Some(&r.field("pid")),
            join_pid.get(guest),
            "leave without its join: {}",
            r.raw
        );
        assert_eq!(r.get("reason"), Some("detached"), "{}", r.raw);
        assert_eq!(r.get("session"), Some("load"), "{}", r.raw);
    }
    for r in &joins {
        let i = names
            .iter()
            .position(|g| *g == r.field("guest"))
            .expect("a known guest");
        let mode = if i.is_multiple_of(2) {
            "read-write"
        } else {
            "read-only"
        };
        assert_eq!(r.get("mode"), Some(mode), "{}", r.raw);
    }

    LoadOutcome {
        guests: n,
        join_latencies,
        all_joined,
        live_echo,
        all_left,
    }
}

/// Every guest presses C-b d, all in the same second, and every ssh exits 0.
///
/// tmux takes keys that reach a *session* within `assume-paste-time` (1 ms)
/// of the previous key, from any of its clients, for a paste, and does not
/// look them up in the key tables. So the guests' keys go out a few
/// milliseconds apart: all the C-b first, then all the d. Under load two
/// keys can still land together; a guest still attached after that gets
/// Escape (which leaves the prefix table, or is typed into the shell), a
/// pause longer than tmux's escape-time, and C-b d again.
fn detach_all(ttys: &mut [Tty], names: &[&str]) {
    let spacing = Duration::from_millis(10);
    for attempt in 0..4 {
        let live: Vec<usize> = (0..ttys.len()).filter(|&i| ttys[i].is_alive()).collect();
        if live.is_empty() {
            break;
        }
        if attempt > 0 {
            eprintln!(
                "load: {} of {} guests still attached after C-b d, pressing it again",
                live.len(),
                ttys.len()
            );
            for &i in &live {
                ttys[i].send(b"\x1b");
                thread::sleep(spacing);
            }
            thread::sleep(Duration::from_millis(700));
        }
        thread::sleep(Duration::from_millis(150));
        for &i in &live {
            ttys[i].send(b"\x02");
            thread::sleep(spacing);
        }
        thread::sleep(Duration::from_millis(150));
        for &i in &live {
            ttys[i].send(b"d");
            thread::sleep(spacing);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && live.iter().any(|&i| ttys[i].is_alive()) {
            thread::sleep(Duration::from_millis(20));
        }
    }
    for (i, tty) in ttys.iter_mut().enumerate() {
        let code = tty.wait_exit(LOAD_WAIT);
        assert_eq!(
            code,
            Some(0),
            "{}'s ssh after C-b d:\n{}",
            names[i],
            tty.text()
        );
    }
}

/// The audit records received after the first `skip` datagrams.
fn since(lab: &Lab, skip: usize) -> Vec<Record> {
    lab.syslog().records().into_iter().skip(skip).collect()
}

/// Waits until the receiver holds `n` records of `event` (after the first
/// `skip` datagrams), and a little longer to catch any extra one; returns
/// them.
fn wait_events(lab: &Lab, skip: usize, event: &str, n: usize) -> Vec<Record> {
    let of_event = || {
        since(lab, skip)
            .into_iter()
            .filter(|r| r.get("event") == Some(event))
            .collect::<Vec<_>>()
    };
    let got = poll(LOAD_WAIT, || {
        let r = of_event();
        (r.len() >= n).then_some(())
    });
    assert!(
        got.is_some(),
        "{} of {n} {event} lines received:\n{}",
        of_event().len(),
        lab.syslog().raw().join("\n")
    );
    thread::sleep(Duration::from_millis(200));
    let records = of_event();
    assert_eq!(
        records.len(),
        n,
        "{event} lines:\n{}",
        lab.syslog().raw().join("\n")
    );
    records
}

/// Every guest exactly once among `records`.
fn assert_guests(records: &[Record], names: &[&str], event: &str) {
    let mut got: Vec<&str> = records.iter().map(|r| r.field("guest")).collect();
    got.sort_unstable();
    let mut want = names.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "guests of the {event} lines");
}

/// The `q`-quantile (0.0..=1.0) of `v`, nearest rank.
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    let mut s = v.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let i = ((q * (s.len() - 1) as f64).round() as usize).min(s.len() - 1);
    s[i]
}
