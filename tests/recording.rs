//! Session recordings (issue 16), end to end: real sshd, real tmux servers
//! owned by a host account, the real binary recording each join as the
//! pair account; files judged by Python's json module and played by the
//! real asciinema. See `lab/src/lib.rs` for the lab and
//! `lab/src/recording.rs` for the helpers.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::recording::{self, SmallFs};
use support::{run_with_timeout, Lab, Shared, Tty, WAIT};

/// What the host's pane prints (`$((6*7))` so the command line itself,
/// echoed as typed, never matches).
const HOST_SAID: &str = "host-said-42";

/// The host prints [`HOST_SAID`] in the pane, and it reaches the pane.
fn host_prints(lab: &Lab, s: &Shared) {
    lab.host_types_line(s, "echo host-said-$((6*7))");
    assert!(lab.wait_pane_line(s, HOST_SAID), "{}", lab.capture_pane(s));
}

/// The recording the `join` line of `guest` names.
fn joined_recording(lab: &Lab, guest: &str) -> PathBuf {
    let join = lab.wait_audit(&[("event", "join"), ("guest", guest)]);
    let path = join.field("recording");
    assert_ne!(path, "none", "{}", join.raw);
    PathBuf::from(path)
}

/// Leaves with C-b d and waits for the `leave` line.
fn leave(lab: &Lab, tty: &mut Tty, guest: &str) {
    tty.tmux_key(b"d");
    support::wait_gone(tty, WAIT, guest);
    lab.wait_audit(&[("event", "leave"), ("guest", guest)]);
}

/// A read-write guest joins a recorded session, types, sees the host's
/// output, and leaves: its recording's path.
fn record_read_write_join(lab: &mut Lab, dir: &Path) -> (Shared, PathBuf) {
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let s = lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.attach(&alice, "api", &s);
    let path = joined_recording(lab, "alice");
    assert!(
        path.starts_with(dir.join(&host).join("api")),
        "{}",
        path.display()
    );
    tty.wait_for("this session is recorded").unwrap();
    tty.send(b"echo typed-marker-$((2+3))\r");
    assert!(
        lab.wait_pane_line(&s, "typed-marker-5"),
        "{}",
        lab.capture_pane(&s)
    );
    host_prints(lab, &s);
    tty.wait_for(HOST_SAID).unwrap();
    leave(lab, &mut tty, "alice");
    (s, path)
}

#[test]
fn read_write_guest_recording_holds_its_input_and_the_hosts_output() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "");
    let (s, path) = record_read_write_join(&mut lab, &dir);
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.ends_with(".cast") && name.contains("Z-alice-"),
        "{name}: not <UTC date>-<guest>-<pid>.cast"
    );
    let r = recording::read(&path);
    assert_eq!(r.title, format!("alice@{}/api (read-write)", s.host));
    assert!(r.width > 0 && r.height > 0, "{r:?}");
    assert!(!r.term.is_empty(), "{r:?}");
    assert!(
        r.joined("i").contains("echo typed-marker-$((2+3))\r"),
        "no i event holds what alice typed: {:?}",
        r.events
    );
    assert!(r.joined("o").contains(HOST_SAID), "{:?}", r.events);
    assert!(r.joined("o").contains("typed-marker-5"));
    let marks: Vec<&str> = r
        .events
        .iter()
        .filter(|(c, _)| c == "m")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(marks.first(), Some(&"join"), "{marks:?}");
    assert!(marks.last().unwrap().starts_with("leave: "), "{marks:?}");
}

/// Pins row 31: only input the relay forwards is recorded, and a read-only
/// guest's is never forwarded (`Input::Drop`).
#[test]
fn read_only_guest_recording_has_no_input_events() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "all", "");
    let host = lab.add_host();
    let bob = lab.add_guest("bob", None);
    let s = lab.share(&host, "api", &[], &["bob"]);
    let mut tty = lab.attach(&bob, "api", &s);
    let path = joined_recording(&lab, "bob");
    assert!(path.starts_with(&dir));
    tty.send(b"echo ro-typed\r");
    host_prints(&lab, &s);
    tty.wait_for(HOST_SAID).unwrap();
    lab.pane_never_shows(&s, "ro-typed");
    leave(&lab, &mut tty, "bob");
    let r = recording::read(&path);
    assert!(r.title.ends_with("(read-only)"), "{}", r.title);
    assert!(r.joined("o").contains(HOST_SAID), "{:?}", r.events);
    assert_eq!(
        r.count("i"),
        0,
        "a read-only guest has i events: {:?}",
        r.events
    );
    // Positive control: the guest did type, and the relay saw it.
    assert!(tty.text().contains("ro-typed") || !r.events.is_empty());
}

#[test]
fn read_write_only_setting_does_not_record_a_read_only_guest() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "");
    let host = lab.add_host();
    let bob = lab.add_guest("bob", None);
    let s = lab.share(&host, "api", &[], &["bob"]);
    let mut tty = lab.attach(&bob, "api", &s);
    let join = lab.wait_audit(&[("event", "join"), ("guest", "bob")]);
    assert_eq!(join.get("recording"), None, "{}", join.raw);
    leave(&lab, &mut tty, "bob");
    assert!(recording::casts(&dir).is_empty());
}

#[test]
fn asciinema_cat_and_pairshell_replay_reproduce_the_hosts_output() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "");
    let (s, path) = record_read_write_join(&mut lab, &dir);
    // asciinema cat wants a terminal (it opens /dev/tty).
    let mut cat = Command::new("asciinema");
    cat.arg("cat").arg(&path);
    let mut tty = Tty::spawn("asciinema cat", cat);
    assert_eq!(
        tty.wait_exit(WAIT),
        Some(0),
        "asciinema cat: {}",
        tty.text()
    );
    let shown = tty.text();
    assert!(shown.contains(HOST_SAID), "{shown}");
    assert!(shown.contains("typed-marker-5"), "{shown}");
    // pairshell replay: by file, by guest and by session, without pauses.
    let label = s.label();
    for target in [path.to_str().unwrap(), "alice", label.as_str()] {
        let run = lab.pairshell_root(&["replay", target, "--idle-limit", "0"]);
        assert!(run.success(), "replay {target}: {run}");
        assert!(run.stdout.contains(HOST_SAID), "replay {target}: {run}");
    }
    let run = lab.pairshell_root(&["replay", "nobody-such"]);
    assert!(!run.success(), "{run}");
}

#[test]
fn typed_shows_two_read_write_guests_input_in_time_order_each_attributed() {
    let mut lab = lab!();
    recording::enable(&mut lab, "read-write", "");
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let carol = lab.add_guest("carol", None);
    let s = lab.share(&host, "api", &["alice", "carol"], &[]);
    let mut a = lab.attach(&alice, "api", &s);
    lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    let mut c = lab.ssh_tty(&carol, Some("api"));
    lab.wait_audit(&[("event", "join"), ("guest", "carol")]);
    c.wait_for(support::prompt("api", &host).trim_end())
        .unwrap();
    for (who, line, out) in [
        ("alice", "echo first-alice-$((1))\r", "first-alice-1"),
        ("carol", "echo then-carol-$((2))\r", "then-carol-2"),
        ("alice", "echo last-alice-$((3))\r", "last-alice-3"),
    ] {
        let tty = if who == "alice" { &mut a } else { &mut c };
        tty.send(line.as_bytes());
        assert!(lab.wait_pane_line(&s, out), "{}", lab.capture_pane(&s));
    }
    // Both recordings written out (at least once a second).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let run = lab.pairshell_root(&["typed", &s.label()]);
    assert!(run.success(), "{run}");
    let lines: Vec<(&str, &str)> = run
        .stdout
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, "  ");
            let _time = f.next().unwrap();
            (f.next().unwrap_or(""), f.next().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("alice", "echo first-alice-$((1))⏎"),
            ("carol", "echo then-carol-$((2))⏎"),
            ("alice", "echo last-alice-$((3))⏎"),
        ],
        "{run}"
    );
    let json = lab.pairshell_root(&["typed", &s.label(), "--json"]);
    assert!(json.success(), "{json}");
    let first = json.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("{\"time\": \"") && first.contains("\"guest\": \"alice\""),
        "{json}"
    );
    leave(&lab, &mut a, "alice");
    leave(&lab, &mut c, "carol");
}

/// Pins row 30: recordings are created 0700/0600 by the pair account, so no
/// host reads one, and `check` reports a `recordings_dir` open to others.
#[test]
fn a_host_account_cannot_read_a_recording_and_check_reports_an_open_directory() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "");
    let (s, path) = record_read_write_join(&mut lab, &dir);
    for p in [
        path.clone(),
        path.parent().unwrap().into(),
        dir.join(&s.host),
    ] {
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.uid(), lab.pair_uid, "{}", p.display());
        assert_eq!(
            meta.mode() & 0o077,
            0,
            "{} mode {:o}",
            p.display(),
            meta.mode()
        );
    }
    // Positive control: root reads it.
    assert!(std::fs::read_to_string(&path).unwrap().contains(HOST_SAID));
    for (program, arg) in [("/bin/cat", &path), ("/bin/ls", &dir)] {
        let mut cmd = lab.command_as(&s.host, Path::new(program));
        cmd.arg(arg);
        let run = run_with_timeout(cmd, WAIT);
        assert!(
            !run.success(),
            "{} {} as the host: {run}",
            program,
            arg.display()
        );
        assert!(run.stderr.contains("Permission denied"), "{run}");
        assert!(!run.stdout.contains(HOST_SAID), "{run}");
    }
    // The host's own pairshell cannot read it either.
    let run = lab.pairshell_as(&s.host, &["replay", path.to_str().unwrap()]);
    assert!(!run.success() && !run.stdout.contains(HOST_SAID), "{run}");
    let run = lab.check();
    assert!(!run.stderr.contains("recordings_dir"), "{run}");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = lab.check();
    assert!(!run.success(), "{run}");
    assert!(
        run.stderr.contains("recordings_dir") && run.stderr.contains("mode 755"),
        "{run}"
    );
}

/// Reads the guest's terminal as fast as it comes (tmux sends no faster
/// than the guest reads) until `f` says so, for a minute at most.
fn pump_until<T>(tty: &mut Tty, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut checked = std::time::Instant::now();
    while std::time::Instant::now() < until {
        tty.pump();
        if checked.elapsed() > std::time::Duration::from_millis(200) {
            checked = std::time::Instant::now();
            if let Some(v) = f() {
                return Some(v);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    f()
}

/// The host fills the pane with output, the guest's terminal reading it
/// all, until the `record-stopped` line with `reason` arrives. tmux drops
/// what a slow client has not taken, so how much of one flood reaches the
/// guest depends on the machine's load: the host floods again (up to ten
/// times) whenever one has finished without the line.
fn flood_until_stopped(lab: &Lab, s: &Shared, tty: &mut Tty, reason: &str) -> support::Record {
    let stopped = || {
        lab.syslog()
            .records()
            .into_iter()
            .find(|r| r.get("event") == Some("record-stopped") && r.get("reason") == Some(reason))
    };
    let mut found = None;
    for round in 0..10 {
        // Full-width lines (tmux sends what changes on the guest's screen,
        // so short lines would cost it little).
        let end = format!("flood-{round}-$((9*9))");
        let shown = format!("flood-{round}-81");
        lab.host_types_line(
            s,
            &format!(
                "yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+ | head -n 20000; echo {end}"
            ),
        );
        found = pump_until(tty, || {
            stopped().map(Some).or_else(|| {
                lab.capture_pane(s)
                    .lines()
                    .any(|l| l.trim() == shown)
                    .then_some(None)
            })
        })
        .flatten();
        if found.is_some() {
            break;
        }
    }
    found.unwrap_or_else(|| {
        let ls = Command::new("ls")
            .arg("-lR")
            .arg(lab.dir.join("recordings"))
            .output()
            .unwrap();
        panic!(
            "no record-stopped reason={reason}:\n{}\npane:\n{}\n{}",
            String::from_utf8_lossy(&ls.stdout),
            lab.capture_pane(s),
            lab.diagnostics()
        )
    })
}

#[test]
fn a_full_small_filesystem_stops_the_recording_not_the_guest() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "");
    let _fs = SmallFs::mount(&dir, "96k", lab.pair_uid, lab.pair_gid);
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let s = lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.attach(&alice, "api", &s);
    let path = joined_recording(&lab, "alice");
    assert!(path.starts_with(&dir));
    let stopped = flood_until_stopped(&lab, &s, &mut tty, "disk-full");
    assert_eq!(stopped.get("guest"), Some("alice"), "{}", stopped.raw);
    // The guest carries on: still joined, still typing into the pane.
    let done = pump_until(&mut tty, || {
        lab.capture_pane(&s)
            .lines()
            .any(|l| l.starts_with("flood-") && l.trim_end().ends_with("-81"))
            .then_some(())
    });
    assert!(done.is_some(), "{}", lab.capture_pane(&s));
    tty.send(b"echo still-here-$((1+1))\r");
    assert!(
        lab.wait_pane_line(&s, "still-here-2"),
        "{}",
        lab.capture_pane(&s)
    );
    assert!(tty.is_alive());
    leave(&lab, &mut tty, "alice");
    // What was kept is whole lines of asciicast (the last write that did
    // not fit was cut back).
    let r = recording::read(&path);
    assert!(r.title.starts_with("alice@"), "{r:?}");
}

#[test]
fn the_size_cap_stops_the_recording_not_the_guest() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "record_max_mb = 0.1\n");
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let s = lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.attach(&alice, "api", &s);
    let path = joined_recording(&lab, "alice");
    assert!(path.starts_with(&dir));
    flood_until_stopped(&lab, &s, &mut tty, "size-cap");
    tty.send(b"echo still-here-$((1+1))\r");
    assert!(
        lab.wait_pane_line(&s, "still-here-2"),
        "{}",
        lab.capture_pane(&s)
    );
    leave(&lab, &mut tty, "alice");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 104_858 + 100, "{size} bytes");
    let r = recording::read(&path);
    assert!(
        r.events.last().unwrap().1.contains("size cap"),
        "{:?}",
        r.events.last()
    );
}

#[test]
fn with_record_required_a_guest_whose_recording_stops_is_let_go() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "record_required = true\n");
    let _fs = SmallFs::mount(&dir, "96k", lab.pair_uid, lab.pair_gid);
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let s = lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.attach(&alice, "api", &s);
    flood_until_stopped(&lab, &s, &mut tty, "disk-full");
    support::wait_gone(&mut tty, WAIT, "alice");
    let leave = lab.wait_audit(&[("event", "leave"), ("guest", "alice")]);
    assert_eq!(leave.get("reason"), Some("record-stopped"), "{}", leave.raw);
}

#[test]
fn with_record_required_an_unwritable_recordings_dir_refuses_the_join() {
    let mut lab = lab!();
    let dir = recording::enable(&mut lab, "read-write", "record_required = true\n");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    lab.share(&host, "api", &["alice"], &[]);
    let mut tty = lab.ssh_tty(&alice, Some("api"));
    support::wait_gone(&mut tty, WAIT, "alice");
    let stopped = lab.wait_audit(&[("event", "record-stopped"), ("guest", "alice")]);
    assert_eq!(
        stopped.get("reason"),
        Some("unwritable-dir"),
        "{}",
        stopped.raw
    );
    let deny = lab.wait_audit(&[("event", "deny"), ("guest", "alice")]);
    assert_eq!(
        deny.get("reason"),
        Some("record-unavailable"),
        "{}",
        deny.raw
    );
}

/// `host add` makes `recordings_dir` when recording is on: the pair
/// account's, mode 0700, so no host can list or read what is recorded.
#[test]
fn host_add_makes_the_recordings_dir_the_pair_accounts_alone() {
    let mut lab = lab!();
    let dir = lab.dir.join("recordings-made-by-host-add");
    assert!(!dir.exists());
    lab.add_config_lines(&format!(
        "record = \"read-write\"\nrecordings_dir = \"{}\"\n",
        dir.display()
    ));
    let _host = lab.enable_host();
    let meta = std::fs::metadata(&dir).expect("host add made no recordings_dir");
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), lab.pair_uid);
    assert_eq!(meta.mode() & 0o777, 0o700);
    let check = lab.check();
    assert!(check.success(), "{check}");
}
