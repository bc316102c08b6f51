//! `pairshell log`: one guest's trail out of a syslog file, exactly.
//!
//! The first test needs nothing but the binary: a file in the formats rsyslog
//! writes, with the lines audit.rs produces. The second reads back the very
//! datagrams pairshell sent to the lab's syslog receiver, written out the
//! way rsyslog writes them to /var/log/auth.log.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::path::PathBuf;
use std::process::Command;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use support::{parse_fields, run_with_timeout, Run};

fn pairshell_log(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pairshell"));
    cmd.arg("log").args(args);
    run_with_timeout(cmd, std::time::Duration::from_secs(20))
}

/// A scratch file for this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, contents: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("pairshell-log-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `ago` before now as RFC 3164 stamps it (local time, day space-padded).
fn rfc3164(ago: SignedDuration) -> String {
    let t = Timestamp::now() - ago;
    t.to_zoned(TimeZone::system())
        .strftime("%b %e %H:%M:%S")
        .to_string()
}

/// `ago` before now as rsyslog's high-precision format stamps it.
fn rfc3339(ago: SignedDuration) -> String {
    let t = Timestamp::now() - ago;
    t.to_zoned(TimeZone::system())
        .strftime("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

fn lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().collect()
}

#[test]
fn log_prints_one_guests_trail_from_a_syslog_file_exactly() {
    let h = SignedDuration::from_hours;
    let m = SignedDuration::from_mins;
    let trail = [
        format!("{} devbox pairshell[100]: event=join guest=al fingerprint=SHA256:x1 key_type=ssh-ed25519 from=203.0.113.5 host=maria session=api mode=read-only request=api pid=101", rfc3164(h(5))),
        format!("{} devbox pairshell[102]: event=join guest=alice fingerprint=SHA256:x2 key_type=ssh-ed25519 from=203.0.113.6 host=maria session=api mode=read-write request=api pid=103", rfc3339(h(1))),
        format!("{} devbox pairshell[104]: event=deny guest=bob fingerprint=SHA256:x3 key_type=ssh-ed25519 from=203.0.113.7 request=\"api guest=al\" reason=bad-request", rfc3339(h(1))),
        format!("{} devbox sshd[105]: Accepted publickey for pair from 203.0.113.5 port 4711 ssh2: guest=al", rfc3164(m(50))),
        format!("{} devbox pairshell[100]: event=leave guest=al fingerprint=SHA256:x1 key_type=ssh-ed25519 from=203.0.113.5 host=maria session=api mode=read-only pid=101 duration_s=16200 reason=detached", rfc3164(m(30))),
        format!("{} devbox pairshell[106]: event=grant by=maria host=maria session=api guest=al mode=read-write", rfc3339(m(10))),
    ];
    let file = Scratch::new("auth.log", &(trail.join("\n") + "\n"));

    let run = pairshell_log(&["al", "--file", file.path()]);
    assert!(run.success(), "{run}");
    assert_eq!(lines(&run), [&trail[0], &trail[4], &trail[5]], "{run}");

    let run = pairshell_log(&["al", "--since", "2h", "--file", file.path()]);
    assert!(run.success(), "{run}");
    assert_eq!(lines(&run), [&trail[4], &trail[5]], "{run}");

    let run = pairshell_log(&["--file", file.path()]);
    assert!(run.success(), "{run}");
    assert_eq!(
        lines(&run),
        [&trail[0], &trail[1], &trail[2], &trail[4], &trail[5]],
        "{run}"
    );

    let run = pairshell_log(&["alice", "--since", "45m", "--file", file.path()]);
    assert!(run.success() && run.stdout.is_empty(), "{run}");

    let run = pairshell_log(&["al", "--since", "soon", "--file", file.path()]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("--since \"soon\""), "{run}");

    let run = pairshell_log(&["--file", "/nonexistent/auth.log"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("/nonexistent/auth.log"), "{run}");
}

/// The lab receiver's datagrams (`<PRI>Mmm dd hh:mm:ss pairshell[PID]: …`)
/// as rsyslog writes them to /var/log/auth.log: no PRI, its own reception
/// time in local time instead of the sender's stamp (the syslog crate
/// stamps UTC), then the host name.
fn as_rsyslog_file(datagrams: &[Vec<u8>]) -> String {
    let mut file = String::new();
    for d in datagrams {
        let text = String::from_utf8(d.clone()).expect("pairshell's lines are ASCII");
        let (_, rest) = text.split_once('>').expect("a <PRI>");
        // The sender's stamp is 15 characters: `Mmm dd hh:mm:ss`.
        let rest = &rest[15..];
        let now = rfc3164(SignedDuration::ZERO);
        file.push_str(&format!("{now} labhost{rest}\n"));
    }
    file
}

#[test]
fn log_reads_back_the_lines_pairshell_sends_to_syslog() {
    let mut lab = lab!();
    let al = lab.add_guest("al", None);
    let alice = lab.add_guest("alice", None);
    // Nothing is shared: each request is refused, and the refusal logged.
    assert!(!lab.login_as_pair(&al.public_line, Some("api")).success());
    assert!(!lab.login_as_pair(&alice.public_line, Some("api")).success());
    // A request that carries the text `guest=al`, logged quoted.
    assert!(!lab
        .login_as_pair(&alice.public_line, Some("api guest=al"))
        .success());
    lab.wait_audit(&[("guest", "alice"), ("reason", "bad-request")]);

    let records = lab.syslog().records();
    let of = |guest: &str| {
        records
            .iter()
            .filter(|r| r.get("guest") == Some(guest))
            .count()
    };
    assert!(of("al") >= 1 && of("alice") >= 2, "{records:#?}");
    let file = Scratch::new("real.log", &as_rsyslog_file(&lab.syslog().raw_bytes()));

    for guest in ["al", "alice"] {
        let run = pairshell_log(&[guest, "--since", "10m", "--file", file.path()]);
        assert!(run.success(), "{run}");
        let printed = lines(&run);
        assert_eq!(printed.len(), of(guest), "{guest}: {run}");
        for line in printed {
            let (_, message) = line.split_once("]: ").unwrap();
            let fields = parse_fields(message).unwrap();
            assert_eq!(
                fields.get("guest").map(String::as_str),
                Some(guest),
                "{line}"
            );
        }
    }
    let all = pairshell_log(&["--file", file.path()]);
    assert_eq!(lines(&all).len(), records.len(), "{all}");
}
