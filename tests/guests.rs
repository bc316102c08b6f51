//! The admin's guest commands, end to end: `pairshell guest add`, `remove`,
//! `list` and `sync` run as root against the lab's main config, GitHub
//! played by a tiny HTTP server on 127.0.0.1, and what they write proven by
//! `pairshell check`, `authorized-keys` and a real ssh login through the
//! lab's sshd. See `lab/src/lib.rs`.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;
use pairshell_lab::lab;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{Guest, Lab, Run};

// ---------------------------------------------------------------------------
// A stand-in for https://github.com/USER.keys
// ---------------------------------------------------------------------------

/// What the server answers for one path.
#[derive(Clone)]
enum Answer {
    /// 200 with this body.
    Body(String),
    /// This status, empty body.
    Status(u16),
    /// Accept, read the request, and never answer.
    Hang,
}

/// A plain-HTTP server on 127.0.0.1 answering `GET /USER.keys` from a table
/// the test changes as it goes. Unknown paths get 404, as on GitHub.
struct KeyServer {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
}

impl KeyServer {
    fn start() -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let table = Arc::clone(&routes);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let table = Arc::clone(&table);
                thread::spawn(move || serve(stream, &table));
            }
        });
        KeyServer { port, routes }
    }

    /// Answer `GET /{user}.keys` with `answer` from now on.
    fn set(&self, user: &str, answer: Answer) {
        self.routes
            .lock()
            .unwrap()
            .insert(format!("/{user}.keys"), answer);
    }

    /// The config line that points pairshell here, and a short timeout.
    fn config_lines(&self) -> String {
        format!(
            "# GitHub is played by the test\ngithub_keys_url = \"http://127.0.0.1:{}/{{user}}.keys\"\ngithub_timeout_s = 2\n",
            self.port
        )
    }
}

fn serve(mut stream: TcpStream, routes: &Mutex<HashMap<String, Answer>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let answer = routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Answer::Status(404));
    let (status, body) = match answer {
        Answer::Body(body) => (200, body),
        Answer::Status(code) => (code, String::new()),
        Answer::Hang => {
            // Longer than pairshell's timeout; the connection then closes.
            thread::sleep(Duration::from_secs(20));
            return;
        }
    };
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The main config, parsed.
fn config(lab: &Lab) -> toml::Table {
    let text = lab.config_text();
    text.parse()
        .unwrap_or_else(|e| panic!("the main config does not parse: {e}\n{text}"))
}

/// `guests.NAME.FIELD` as a list of strings (empty when missing).
fn strings(lab: &Lab, name: &str, field: &str) -> Vec<String> {
    config(lab)
        .get("guests")
        .and_then(|g| g.get(name))
        .and_then(|g| g.get(field))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().expect("a key is a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn has_guest(lab: &Lab, name: &str) -> bool {
    config(lab)
        .get("guests")
        .and_then(|g| g.get(name))
        .is_some()
}

/// `TYPE BASE64` of a lab key (GitHub gives no comments).
fn bare(g: &Guest) -> String {
    format!("{} {}", g.key_type, g.key_base64)
}

/// sshd would let this key log in: `authorized-keys` prints its line.
fn key_is_authorized(lab: &Lab, g: &Guest) -> bool {
    let run = lab.authorized_keys(&lab.pair, &g.key_type, &g.key_base64, None);
    assert!(run.success(), "authorized-keys: {run}");
    run.stdout.contains(&g.key_base64)
}

fn assert_check_passes(lab: &Lab) {
    let run = lab.check();
    assert!(run.success(), "pairshell check: {run}");
}

/// The admin's comments every edit must keep.
const COMMENTS: [&str; 3] = [
    "# the pairing box: ask ops before changing",
    "# who may log in",
    "# bob: until the project ends",
];

/// Puts the admin's comments into the lab's config, around a `[guests.bob]`
/// the lab wrote (bob must exist).
fn add_comments(lab: &Lab) {
    let text = lab.config_text();
    assert!(text.contains("[guests.bob]"), "{text}");
    let text = format!(
        "{}\n{}",
        COMMENTS[0],
        text.replace(
            "[guests.bob]",
            &format!(
                "{}\n\n{}\n[guests.bob] # the first guest",
                COMMENTS[1], COMMENTS[2]
            )
        )
    );
    lab.write_config_text(&text);
    assert_check_passes(lab);
}

fn assert_comments_kept(lab: &Lab, comments: &[&str]) {
    let text = lab.config_text();
    for c in comments {
        assert!(text.contains(c), "lost {c:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// guest add with keys
// ---------------------------------------------------------------------------

#[test]
fn guest_add_by_key_file_keeps_comments_and_the_guest_can_log_in() {
    let mut lab = lab!();
    let _bob = lab.add_guest("bob", None);
    add_comments(&lab);
    let carol = lab.make_key("carol");
    assert!(!key_is_authorized(&lab, &carol));

    let pub_file = carol.key.with_extension("pub");
    let run = lab.guest_cmd(&[
        "add",
        "carol",
        "--key-file",
        pub_file.to_str().unwrap(),
        "--expires",
        "30d",
    ]);
    assert!(run.success(), "{run}");
    assert!(
        run.stdout.contains("added guest carol: 1 key, until "),
        "{run}"
    );
    assert!(run.stdout.contains(&carol.fingerprint), "{run}");

    // Stored canonically, comment and all, with the expiry; nothing else lost.
    assert_eq!(strings(&lab, "carol", "keys"), [carol.public_line.as_str()]);
    let expires = config(&lab)["guests"]["carol"]["expires"].clone();
    assert!(expires.as_datetime().is_some(), "expires = {expires}");
    assert_comments_kept(&lab, &COMMENTS);
    assert!(lab.config_text().contains("[guests.bob] # the first guest"));
    assert!(has_guest(&lab, "bob"));
    assert_check_passes(&lab);

    // The file stays root's and not writable by others.
    let meta = std::fs::metadata(&lab.config).unwrap();
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.mode() & 0o7777, 0o644);

    // sshd's AuthorizedKeysCommand now accepts the key, with the expiry...
    let run = lab.authorized_keys(&lab.pair, &carol.key_type, &carol.key_base64, None);
    assert!(run.stdout.contains(&carol.key_base64), "{run}");
    assert!(run.stdout.contains("expiry-time=\""), "{run}");
    // ...and carol really logs in through sshd and sees what she is granted.
    let host = lab.add_host();
    let api = lab.share(&host, "api", &["carol"], &[]);
    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert_eq!(
        run.stdout,
        format!("{}\tread-write\n", api.label()),
        "{run}"
    );

    let rec = lab.wait_audit(&[("event", "guest-add"), ("guest", "carol")]);
    assert!(rec.has(&[
        ("by", "root"),
        ("added", "1"),
        ("fingerprints", &carol.fingerprint)
    ]));
}

#[test]
fn guest_add_to_an_existing_guest_adds_keys_and_says_so() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let laptop = lab.make_key("bob-laptop");
    let run = lab.guest_cmd(&["add", "bob", "--key", &laptop.public_line]);
    assert!(run.success(), "{run}");
    assert!(
        run.stdout.contains("bob already existed: added 1 key")
            && run.stdout.contains("2 keys in all"),
        "{run}"
    );
    assert_eq!(
        strings(&lab, "bob", "keys"),
        [bob.public_line.clone(), laptop.public_line.clone()]
    );
    assert!(key_is_authorized(&lab, &laptop) && key_is_authorized(&lab, &bob));

    // The same again: nothing to do, nothing written.
    let before = lab.config_text();
    let run = lab.guest_cmd(&["add", "bob", "--key", &laptop.public_line]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("nothing changed"), "{run}");
    assert_eq!(lab.config_text(), before);
}

#[test]
fn guest_add_refuses_a_key_another_guest_holds_naming_both() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let before = lab.config_text();
    let run = lab.guest_cmd(&["add", "mallory", "--key", &bob.public_line]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(
        run.stderr.contains("guest bob") && run.stderr.contains("mallory"),
        "{run}"
    );
    assert!(run.stderr.contains(&bob.fingerprint), "{run}");
    assert_eq!(lab.config_text(), before, "nothing may be written");
}

#[test]
fn guest_add_refuses_garbage_and_private_keys_and_writes_nothing() {
    let mut lab = lab!();
    let _bob = lab.add_guest("bob", None);
    let carol = lab.make_key("carol");
    let before = lab.config_text();

    let run = lab.guest_cmd(&["add", "carol", "--key", "ssh-ed25519 AAAAnotakey carol"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("not an SSH public key"), "{run}");

    let private = carol.key.to_str().unwrap();
    let run = lab.guest_cmd(&["add", "carol", "--key-file", private]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("is a private key"), "{run}");

    // One good key and one bad: all or nothing.
    let run = lab.guest_cmd(&[
        "add",
        "carol",
        "--key",
        &carol.public_line,
        "--key",
        "garbage",
    ]);
    assert_eq!(run.code(), Some(1), "{run}");

    let run = lab.guest_cmd(&["add", "carol;id", "--key", &carol.public_line]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("not a guest name"), "{run}");

    assert_eq!(lab.config_text(), before, "nothing may be written");
}

// ---------------------------------------------------------------------------
// guest add --github
// ---------------------------------------------------------------------------

/// A lab whose config points `github_keys_url` at a fresh [`KeyServer`].
fn github_lab() -> Option<(Lab, KeyServer)> {
    let mut lab = Lab::new()?;
    let server = KeyServer::start();
    lab.add_config_lines(&server.config_lines());
    Some((lab, server))
}

macro_rules! github_lab {
    () => {
        match github_lab() {
            Some(pair) => pair,
            None => return,
        }
    };
}

#[test]
fn guest_add_github_takes_the_users_keys() {
    let (lab, server) = github_lab!();
    let k1 = lab.make_key("dave1");
    let k2 = lab.make_key("dave2");
    server.set(
        "dave-gh",
        Answer::Body(format!("{}\n{}\n", bare(&k1), bare(&k2))),
    );

    let run = lab.guest_cmd(&["add", "dave", "--github", "dave-gh"]);
    assert!(run.success(), "{run}");
    assert!(
        run.stdout.contains("2 keys from GitHub user dave-gh"),
        "{run}"
    );
    let guest = &config(&lab)["guests"]["dave"];
    assert_eq!(guest["github"].as_str(), Some("dave-gh"));
    assert_eq!(strings(&lab, "dave", "github_keys"), [bare(&k1), bare(&k2)]);
    assert!(strings(&lab, "dave", "keys").is_empty());
    assert!(key_is_authorized(&lab, &k1) && key_is_authorized(&lab, &k2));
    assert_comments_kept(&lab, &["# GitHub is played by the test"]);
    assert_check_passes(&lab);
    lab.wait_audit(&[
        ("event", "guest-add"),
        ("guest", "dave"),
        ("github", "dave-gh"),
        ("added", "2"),
    ]);
}

/// `guest add NAME --github USER` must fail, say `why`, and write nothing.
fn assert_github_add_fails(lab: &Lab, user: &str, why: &str) -> Run {
    let before = lab.config_text();
    let run = lab.guest_cmd(&["add", "erin", "--github", user]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains(why), "expected {why:?}:\n{run}");
    assert!(run.stderr.contains("nothing changed"), "{run}");
    assert_eq!(lab.config_text(), before, "nothing may be written");
    run
}

#[test]
fn guest_add_github_404_changes_nothing() {
    let (lab, _server) = github_lab!();
    assert_github_add_fails(&lab, "nobody-here", "HTTP 404");
}

#[test]
fn guest_add_github_garbage_changes_nothing() {
    let (lab, server) = github_lab!();
    let k = lab.make_key("erin");
    server.set(
        "erin-gh",
        Answer::Body(format!("{}\n<html>rate limited</html>\n", bare(&k))),
    );
    assert_github_add_fails(&lab, "erin-gh", "malformed answer: line 2");
    server.set("empty", Answer::Body(String::new()));
    assert_github_add_fails(&lab, "empty", "empty has no keys on GitHub");
    server.set("broken", Answer::Status(500));
    assert_github_add_fails(&lab, "broken", "HTTP 500");
    assert!(!key_is_authorized(&lab, &k));
}

#[test]
fn guest_add_github_timeout_changes_nothing() {
    let (lab, server) = github_lab!();
    server.set("slow", Answer::Hang);
    let started = Instant::now();
    assert_github_add_fails(&lab, "slow", "no answer within 2 s");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the fetch must give up after github_timeout_s, took {took:?}"
    );
}

#[test]
fn guest_add_github_refuses_a_bad_login_and_plain_http_elsewhere() {
    let mut lab = lab!();
    let run = lab.guest_cmd(&["add", "erin", "--github", "../etc/passwd"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("not a GitHub login"), "{run}");

    // A config that would fetch keys over plain http from the network is
    // refused as a whole, with its line.
    lab.add_config_lines("github_keys_url = \"http://example.com/{user}.keys\"");
    let run = lab.pairshell_root(&["check"]);
    assert!(!run.success(), "{run}");
    assert!(run.stderr.contains("plain http"), "{run}");
    let n = lab
        .config_text()
        .lines()
        .position(|l| l.starts_with("github_keys_url"))
        .unwrap()
        + 1;
    let line = format!("{}:{n}:", lab.config.display());
    assert!(run.stderr.contains(&line), "expected {line}:\n{run}");
}

// ---------------------------------------------------------------------------
// guest sync
// ---------------------------------------------------------------------------

#[test]
fn guest_sync_refreshes_keys_and_a_failure_keeps_the_old_ones() {
    let (mut lab, server) = github_lab!();
    let bob = lab.add_guest("bob", None);
    let k1 = lab.make_key("dave1");
    let k2 = lab.make_key("dave2");
    let k3 = lab.make_key("dave3");
    let own = lab.make_key("dave-own");
    server.set(
        "dave-gh",
        Answer::Body(format!("{}\n{}\n", bare(&k1), bare(&k2))),
    );
    let run = lab.guest_cmd(&[
        "add",
        "dave",
        "--github",
        "dave-gh",
        "--key",
        &own.public_line,
    ]);
    assert!(run.success(), "{run}");

    // Nothing new on GitHub.
    let run = lab.guest_cmd(&["sync"]);
    assert!(run.success(), "{run}");
    assert_eq!(
        run.stdout, "dave (github:dave-gh): unchanged (3 keys in all)\n",
        "{run}"
    );

    // dave replaced a key on GitHub.
    server.set(
        "dave-gh",
        Answer::Body(format!("{}\n{}\n", bare(&k2), bare(&k3))),
    );
    let run = lab.guest_cmd(&["sync", "dave"]);
    assert!(run.success(), "{run}");
    assert_eq!(
        run.stdout, "dave (github:dave-gh): 1 added, 1 removed (3 keys in all)\n",
        "{run}"
    );
    assert_eq!(strings(&lab, "dave", "github_keys"), [bare(&k2), bare(&k3)]);
    assert_eq!(
        strings(&lab, "dave", "keys"),
        [own.public_line.as_str()],
        "the admin's key stays"
    );
    assert!(!key_is_authorized(&lab, &k1));
    assert!(key_is_authorized(&lab, &k3) && key_is_authorized(&lab, &own));
    lab.wait_audit(&[
        ("event", "guest-sync"),
        ("guest", "dave"),
        ("result", "changed"),
        ("added", "1"),
        ("removed", "1"),
    ]);

    // Failures of every kind keep the old keys and exit 1.
    let kept = lab.config_text();
    for (answer, why) in [
        (Answer::Status(404), "HTTP 404"),
        (Answer::Body("not a key\n".into()), "malformed answer"),
        (Answer::Body(String::new()), "dave-gh has no keys on GitHub"),
        (
            Answer::Body(format!("{}\n", bare(&bob))),
            "already belongs to guest bob",
        ),
        (Answer::Hang, "no answer within 2 s"),
    ] {
        server.set("dave-gh", answer);
        let run = lab.guest_cmd(&["sync"]);
        assert_eq!(run.code(), Some(1), "{run}");
        assert!(
            run.stdout.starts_with("dave (github:dave-gh): failed: ")
                && run.stdout.contains(why)
                && run.stdout.contains("(kept the old 2 keys)"),
            "expected {why:?}:\n{run}"
        );
        assert!(run.stderr.contains("1 of 1 GitHub fetches failed"), "{run}");
        assert_eq!(lab.config_text(), kept, "the old keys must stay");
    }
    assert!(key_is_authorized(&lab, &k2) && key_is_authorized(&lab, &bob));
    lab.wait_audit(&[
        ("event", "guest-sync"),
        ("guest", "dave"),
        ("result", "failed"),
    ]);

    // A guest not added from GitHub has nothing to sync.
    let run = lab.guest_cmd(&["sync", "bob"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("not added with --github"), "{run}");
}

// ---------------------------------------------------------------------------
// guest list, guest remove, root only
// ---------------------------------------------------------------------------

#[test]
fn guest_list_shows_keys_sources_expiry_and_fingerprints() {
    let (mut lab, server) = github_lab!();
    let bob = lab.add_guest("bob", Some("2020-01-01T00:00:00Z"));
    let k1 = lab.make_key("dave1");
    let own = lab.make_key("dave-own");
    server.set("dave-gh", Answer::Body(format!("{}\n", bare(&k1))));
    let run = lab.guest_cmd(&[
        "add",
        "dave",
        "--github",
        "dave-gh",
        "--key",
        &own.public_line,
        "--expires",
        "2999-01-01T00:00:00Z",
    ]);
    assert!(run.success(), "{run}");

    let run = lab.guest_cmd(&["list"]);
    assert!(run.success(), "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run}");
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[0]),
        ["GUEST", "KEYS", "SOURCE", "EXPIRES", "FINGERPRINTS"]
    );
    assert_eq!(
        cells(lines[1]),
        [
            "bob",
            "1",
            "inline",
            "2020-01-01T00:00:00Z",
            "(expired)",
            &bob.fingerprint
        ]
    );
    assert_eq!(
        cells(lines[2]),
        [
            "dave",
            "2",
            "inline,github:dave-gh",
            "2999-01-01T00:00:00Z",
            &own.fingerprint,
            &k1.fingerprint
        ]
    );
    // Anyone who may read the config may list it.
    let host = lab.add_host_account();
    let run = lab.pairshell_as(&host, &["guest", "list"]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains(&bob.fingerprint), "{run}");
}

#[test]
fn guest_remove_keeps_comments_and_the_key_stops_working() {
    let mut lab = lab!();
    let bob = lab.add_guest("bob", None);
    let carol = lab.add_guest("carol", None);
    add_comments(&lab);
    let text = lab
        .config_text()
        .replace("[guests.carol]", "# carol: visiting\n[guests.carol]");
    lab.write_config_text(&text);

    let run = lab.guest_cmd(&["remove", "carol"]);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("removed guest carol (1 key)"), "{run}");
    assert!(!has_guest(&lab, "carol"));
    assert!(!key_is_authorized(&lab, &carol));
    assert!(key_is_authorized(&lab, &bob));
    assert_comments_kept(&lab, &COMMENTS);
    assert!(
        !lab.config_text().contains("# carol: visiting"),
        "the comment right above carol goes with her:\n{}",
        lab.config_text()
    );
    assert_check_passes(&lab);
    lab.wait_audit(&[
        ("event", "guest-remove"),
        ("guest", "carol"),
        ("by", "root"),
    ]);

    // bob's table carries the comment paragraphs above it; they stay.
    let run = lab.guest_cmd(&["remove", "bob"]);
    assert!(run.success(), "{run}");
    assert_comments_kept(&lab, &COMMENTS[..2]);

    let run = lab.guest_cmd(&["remove", "carol"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("there is no guest carol"), "{run}");
}

#[test]
fn guest_commands_that_edit_need_root() {
    let mut lab = lab!();
    let _bob = lab.add_guest("bob", None);
    let carol = lab.make_key("carol");
    let user = lab.add_host_account();
    let before = lab.config_text();
    for args in [
        vec!["guest", "add", "carol", "--key", carol.public_line.as_str()],
        vec!["guest", "remove", "bob"],
        vec!["guest", "sync"],
    ] {
        let run = lab.pairshell_as(&user, &args);
        assert_eq!(run.code(), Some(1), "{args:?}: {run}");
        assert!(run.stderr.contains("needs root"), "{args:?}: {run}");
    }
    assert_eq!(lab.config_text(), before);
}
