//! Issue 15 end to end: every guest's terminal just works, every message is
//! seen after tmux has drawn, and the demo shows the whole product.
//!
//! Each person's terminal is a screen of its own ([`Screen`], an outer tmux
//! whose pane runs ssh or the host's `pairshell share`), so these tests read
//! what that person sees once tmux has finished drawing, and what their
//! terminal was asked to put on the clipboard (OSC 52). Every guest goes
//! through the lab's real sshd.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::terminal::{Screen, ROWS};
use support::{poll, prompt, run_with_timeout, Lab, Tty, WAIT};

/// What the host prints in the pane: a check mark and an umlaut, typed as
/// octal escapes so that only the output line holds them.
const UTF8_PRINTF: &str = r"printf '\342\234\223 \303\274n\303\257code\n'";
const UTF8_LINE: &str = "✓ ünïcode";

/// Longer than the guest's banner stays (6 s), with room for a loaded
/// machine.
const BANNER_GONE: Duration = Duration::from_secs(20);

/// The guest's banner, as the relay draws it on a UTF-8 terminal.
fn banner(label: &str, mode: &str) -> String {
    format!("pairshell: you joined {label} {mode} — Ctrl-b d to leave")
}

/// The host's message, inside tmux, with the guests' line.
fn line_message(line: &str) -> String {
    format!("pairshell: give your guests this line: {line}")
}

/// The bottom row of a screen's text.
fn bottom(text: &str) -> String {
    let rows: Vec<&str> = text.lines().collect();
    rows.get(usize::from(ROWS) - 1)
        .map(|r| r.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// UTF-8 and TERM
// ---------------------------------------------------------------------------

/// Guards against: a guest whose ssh client sends no `LANG` (PuTTY, Windows
/// OpenSSH, `-F none`) seeing `_ _n_code` for what the host printed.
#[test]
fn guest_whose_ssh_sends_no_locale_sees_utf8_the_host_printed() {
    let mut lab = lab!();
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let api = lab.share(&host, "api", &["alice"], &[]);
    lab.host_types_line(&api, UTF8_PRINTF);
    assert!(
        lab.wait_pane_line(&api, UTF8_LINE),
        "{}",
        lab.capture_pane(&api)
    );

    let screen = lab.guest_screen(&alice, Some("api"), "xterm-256color", &[]);
    screen.wait_line(UTF8_LINE);
    assert_eq!(lab.pair_client_utf8(&api.socket), Some(true));
    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    assert_eq!(join.get("term"), Some("xterm-256color"), "{join:?}");
    assert_eq!(join.get("term_used"), Some("xterm-256color"), "{join:?}");
}

/// A guest whose own locale names another character set keeps it: tmux
/// then draws ASCII for them, as they asked.
#[test]
fn guest_whose_locale_names_another_charset_keeps_it() {
    let mut lab = lab!();
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let api = lab.share(&host, "api", &["alice"], &[]);
    lab.host_types_line(&api, UTF8_PRINTF);
    assert!(
        lab.wait_pane_line(&api, UTF8_LINE),
        "{}",
        lab.capture_pane(&api)
    );

    let screen = lab.guest_screen(
        &alice,
        Some("api"),
        "xterm-256color",
        &[("LANG", "en_US.ISO-8859-1")],
    );
    screen.wait_line("_ _n_code");
    assert_eq!(lab.pair_client_utf8(&api.socket), Some(false));
}

/// Guards against: a guest on Ghostty, kitty, WezTerm, foot … refused with
/// `missing or unsuitable terminal` because the host has no terminfo entry
/// for their TERM.
#[test]
fn guest_with_a_term_the_host_has_no_terminfo_for_joins() {
    let mut lab = lab!();
    for dir in [
        "/etc/terminfo",
        "/lib/terminfo",
        "/usr/share/terminfo",
        "/usr/lib/terminfo",
    ] {
        for leaf in ["x", "78"] {
            let entry = Path::new(dir).join(leaf).join("xterm-ghostty");
            assert!(
                !entry.exists(),
                "{} exists, so this machine cannot show the fallback",
                entry.display()
            );
        }
    }
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let api = lab.share(&host, "api", &["alice"], &[]);

    let screen = lab.guest_screen(&alice, Some("api"), "xterm-ghostty", &[]);
    let want = prompt("api", &host);
    screen.wait_until("the pane's prompt", WAIT, |t| t.contains(want.trim_end()));
    assert!(lab.wait_pair_client(&api).is_some());
    let join = lab.wait_audit(&[("event", "join"), ("guest", "alice")]);
    assert_eq!(join.get("term"), Some("xterm-ghostty"), "{join:?}");
    assert_eq!(join.get("term_used"), Some("xterm-256color"), "{join:?}");
    // What the guest types still reaches the pane.
    screen.keys(&["-l", "echo typed-on-ghostty", "Enter"]);
    assert!(
        lab.wait_pane_line(&api, "typed-on-ghostty"),
        "{}",
        lab.capture_pane(&api)
    );
}

/// `ssh -t` with TERM=dumb, or with no TERM at all, in a pty, as `guest`.
fn ssh_with_term(lab: &Lab, guest: &support::Guest, term: Option<&str>) -> Tty {
    let mut cmd = lab.ssh_with(guest, &["-t"], Some("api"));
    match term {
        Some(t) => cmd.env("TERM", t),
        None => cmd.env_remove("TERM"),
    };
    Tty::spawn(&format!("ssh -t with TERM={term:?}"), cmd)
}

/// A terminal that cannot show a session gets a message that says what to
/// do, not tmux's `missing or unsuitable terminal` or a garbled screen.
#[test]
fn dumb_or_empty_term_is_refused_with_a_clear_message() {
    let mut lab = lab!();
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let api = lab.share(&host, "api", &["alice"], &[]);

    let mut dumb = ssh_with_term(&lab, &alice, Some("dumb"));
    assert_ne!(support::wait_gone(&mut dumb, WAIT, "TERM=dumb"), 0);
    let text = dumb.text();
    assert!(
        text.contains("TERM=dumb") && text.contains("TERM=xterm-256color ssh -t"),
        "{text}"
    );
    let deny = lab.wait_audit(&[("event", "deny"), ("reason", "unsuitable-terminal")]);
    assert_eq!(deny.get("guest"), Some("alice"), "{deny:?}");
    assert!(deny.field("detail").contains("TERM=dumb"), "{deny:?}");

    let mut empty = ssh_with_term(&lab, &alice, None);
    assert_ne!(support::wait_gone(&mut empty, WAIT, "no TERM"), 0);
    let text = empty.text();
    assert!(text.contains("sent no terminal type"), "{text}");
    assert!(lab.pair_clients(&api).is_empty());
}

// ---------------------------------------------------------------------------
// The guest's banner
// ---------------------------------------------------------------------------

/// Guards against: the banner printed before tmux takes the screen, where
/// nobody can read it. It is drawn over the guest's bottom line once tmux
/// has drawn, on that guest's terminal only, and goes after a few seconds.
/// The server is opened read-only (`server-access -r`), where a tmux message
/// for the guest's client would be refused.
#[test]
fn banner_is_on_the_guests_screen_after_attach() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--ro", "bob"]);
    let mut host_tty = lab.host_tty(&host, &api.socket, "api");

    let screen = lab.guest_screen(&bob, Some("api"), "xterm-256color", &[]);
    let want = banner(&api.label(), "read-only");
    let shown_prompt = prompt("api", &host);
    // Both at once: the session drawn, and the banner over its bottom line.
    screen.wait_until("the banner over the drawn session", WAIT, |t| {
        t.contains(shown_prompt.trim_end()) && bottom(t).starts_with(&want)
    });
    // Then tmux's own status line again.
    screen.wait_until("the banner going away", BANNER_GONE, |t| {
        let b = bottom(t);
        !b.contains("you joined") && b.contains("[api]")
    });
    // Never on the host's screen (which did see bob join).
    host_tty
        .wait_for("bob joined (read-only)")
        .unwrap_or_else(|e| panic!("{e}"));
    let host_saw = host_tty.text();
    assert!(!host_saw.contains("you joined"), "{host_saw}");
}

/// The read-write guest's banner says so, and sits on their screen with the
/// pane (a UTF-8 guest sees the em dash).
#[test]
fn read_write_guest_banner_names_the_mode_and_the_way_out() {
    let mut lab = lab!();
    let host = lab.add_host();
    let alice = lab.add_guest("alice", None);
    let api = lab.share(&host, "api", &["alice"], &[]);
    let screen = lab.guest_screen(&alice, Some("api"), "xterm-256color", &[]);
    let want = banner(&api.label(), "read-write");
    screen.wait_until("the read-write banner", WAIT, |t| {
        bottom(t).starts_with(&want)
    });
    // Not in the host's pane: only on the guest's terminal.
    assert!(!lab.capture_pane(&api).contains("you joined"));
}

// ---------------------------------------------------------------------------
// The host's guest line
// ---------------------------------------------------------------------------

/// `pairshell share api --rw alice` on the host's own screen: the host is
/// attached, and the line to give guests is on the status line once tmux
/// has drawn. Returns the host, its screen and the line.
fn host_shares_on_a_screen(lab: &mut Lab) -> (String, Screen, String) {
    lab.add_guest("alice", None);
    let host = lab.enable_host();
    let screen = lab.host_screen(&host, &["share", "api", "--rw", "alice"]);
    let line = lab.guests_line("api");
    let want = line_message(&line);
    screen.wait_until("the guests' line inside tmux", WAIT, |t| {
        bottom(t).starts_with(&want)
    });
    lab.adopt_share(&host, "api");
    (host, screen, line)
}

/// Guards against: the host losing the line to give guests the moment
/// `share` attaches them. It stays on the status line until a key is
/// pressed, and is printed again when tmux exits.
#[test]
fn share_line_is_inside_the_hosts_tmux() {
    let mut lab = lab!();
    let (_host, screen, line) = host_shares_on_a_screen(&mut lab);
    // Still there a while later (tmux's own messages last 0.75 s).
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        bottom(&screen.text()).starts_with(&line_message(&line)),
        "{}",
        screen.text()
    );
    // Detach: the line again, below tmux's goodbye.
    screen.keys(&["C-b", "d"]);
    screen.wait_until("the line after tmux exits", WAIT, |t| {
        let rows: Vec<&str> = t.lines().collect();
        let detached = rows.iter().position(|r| r.contains("[detached"));
        detached.is_some_and(|d| rows[d..].iter().any(|r| *r == line))
    });
}

/// The line reaches the host's terminal as OSC 52, i.e. their clipboard
/// (the outer tmux, with `set-clipboard on`, keeps it as a paste buffer).
#[test]
fn share_line_reaches_the_hosts_clipboard_with_osc52() {
    let mut lab = lab!();
    let (_host, screen, line) = host_shares_on_a_screen(&mut lab);
    let copied = poll(WAIT, || {
        screen
            .clipboard()
            .into_iter()
            .find(|b| b.trim_end() == line)
    });
    assert!(
        copied.is_some(),
        "the clipboard holds {:?}, not {line:?}",
        screen.clipboard()
    );
}

/// `pairshell share SESSION` with no grant flags changes nothing and shows
/// the line again: printed, on the host's attached clients, and on their
/// clipboard.
#[test]
fn share_again_without_grants_shows_the_line_again() {
    let mut lab = lab!();
    lab.add_guest("alice", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice"]);
    let screen = lab.host_tmux_screen(&host, &api.socket, "api");
    let shown_prompt = prompt("api", &host);
    screen.wait_until("the host's pane", WAIT, |t| {
        t.contains(shown_prompt.trim_end())
    });
    let file_before = std::fs::read_to_string(lab.host_file(&host)).unwrap();

    let again = lab.share_run(&host, "api", &[]);
    assert!(again.success(), "{again}");
    let line = lab.guests_line("api");
    assert!(again.stdout.lines().any(|l| l == line), "{again}");
    assert!(again.stdout.contains("alice read-write"), "{again}");
    let want = line_message(&line);
    screen.wait_until("the line on the host's client", WAIT, |t| {
        bottom(t).starts_with(&want)
    });
    assert!(
        poll(WAIT, || screen
            .clipboard()
            .iter()
            .any(|b| b.trim_end() == line)
            .then_some(()))
        .is_some(),
        "{:?}",
        screen.clipboard()
    );
    assert_eq!(
        std::fs::read_to_string(lab.host_file(&host)).unwrap(),
        file_before,
        "the grants changed"
    );
}

// ---------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------

/// The demo, running: its output so far, and a way to stop it (Ctrl-C, as a
/// person would) that also runs when the test fails.
struct Demo {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    fn start(binary: &Path) -> Demo {
        // The test's own environment (cargo and rustc on PATH), as the
        // person who ran `cargo run --example demo` has.
        let mut child = Command::new(binary)
            .env("CARGO", env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo");
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Demo { child, output }
    }

    fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `pred`.
    fn wait_line(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let found = poll(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the demo exited ({status}):\n{}", self.lines().join("\n"));
            }
            self.lines().iter().any(|l| pred(l)).then_some(())
        });
        assert!(
            found.is_some(),
            "the demo never printed {what}:\n{}",
            self.lines().join("\n")
        );
    }

    /// The command printed on the line after the one that is `title`.
    fn command_after(&self, title: &str) -> String {
        let lines = self.lines();
        let at = lines
            .iter()
            .position(|l| l.trim() == title)
            .unwrap_or_else(|| panic!("no {title:?} in:\n{}", lines.join("\n")));
        lines[at + 1].trim().to_string()
    }

    /// Ctrl-C, then wait for its clean-up; its exit status.
    fn stop(&mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let status = poll(Duration::from_secs(60), || {
            self.child.try_wait().ok().flatten()
        });
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status.and_then(|s| s.code())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
        if std::thread::panicking() {
            eprintln!("----- the demo's output -----\n{}", self.lines().join("\n"));
        }
    }
}

/// `cargo build --example demo`, as the test binary was built; the
/// example's path.
fn build_demo() -> PathBuf {
    // target/<profile>/deps/terminal-HASH → target/<profile>/examples/demo
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--example", "demo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = run_with_timeout(cmd, Duration::from_secs(600));
    assert!(out.success(), "cargo build --example demo: {out}");
    profile.join("examples/demo")
}

/// The README's first command works: the demo's host shares with `pairshell
/// share` (after `host add`), a guest joins with the line it prints and
/// sees the host's colour and UTF-8, and `who` run as its host, with the
/// command it prints, lists that guest.
#[test]
fn demo_joins_a_guest_and_its_host_sees_them_in_who() {
    if support::missing_prerequisite().is_some() {
        // Let the lab print its SKIPPED line (or fail under CI).
        let _ = lab!();
        return;
    }
    let binary = build_demo();
    let started = Instant::now();
    let mut demo = Demo::start(&binary);
    demo.wait_line("its audit trail heading", Duration::from_secs(180), |l| {
        l.starts_with("Audit trail")
    });
    let alice_joins = demo.command_after("alice joins read-write:");
    let who = demo.command_after("who is connected, as the host:");
    assert!(alice_joins.starts_with("ssh "), "{alice_joins}");
    assert!(
        who.starts_with("runuser -u ") && who.ends_with(" who"),
        "{who}"
    );

    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&alice_joins)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("TERM", "xterm-256color");
    let mut alice = Tty::spawn("the demo's alice", cmd);
    alice.wait_for("hello from the host").unwrap();
    let raw = String::from_utf8_lossy(&alice.raw_bytes()).into_owned();
    assert!(
        raw.contains('✓') && raw.contains("grüße"),
        "no UTF-8 on alice's screen"
    );
    assert!(
        raw.contains("\x1b[") && raw.contains("32m"),
        "no colour on alice's screen"
    );

    let listed = poll(WAIT, || {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(&who)
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
        let run = run_with_timeout(cmd, Duration::from_secs(30));
        run.stdout
            .lines()
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1) == Some(&"alice") && f.get(2) == Some(&"read-write")
            })
            .then_some(run)
    });
    assert!(listed.is_some(), "`{who}` never listed alice");
    demo.wait_line("alice's join line", WAIT, |l| {
        l.contains("event=join") && l.contains("guest=alice")
    });
    let join = demo
        .lines()
        .into_iter()
        .find(|l| l.contains("event=join") && l.contains("guest=alice"))
        .unwrap();
    assert!(
        !join.contains("roster="),
        "the roster was not written: {join}"
    );

    drop(alice);
    assert_eq!(demo.stop(), Some(0), "the demo did not end cleanly");
    assert!(
        demo.lines().iter().any(|l| l.starts_with("demo: done")),
        "{}",
        demo.lines().join("\n")
    );
    assert!(started.elapsed() < Duration::from_secs(300));
}
