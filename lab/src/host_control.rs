//! Lab helpers for the host-control tests (`tests/host_control.rs`): the
//! host's own tmux client reading a prompt and pressing a key, a guest's
//! client settled after its join, and an answer forged as the pair account.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::{ids, poll, Lab, Shared, Tty, WAIT};

/// Waits until the host's client shows a prompt holding `text`.
pub fn prompt_shown(host_tty: &mut Tty, text: &str) {
    host_tty
        .wait_until(WAIT, |t| t.contains(text))
        .unwrap_or_else(|t| panic!("the host never saw a prompt with {text:?}:\n{t}"));
}

/// Presses `key` at the prompt on the host's client until `done` holds
/// (a key can go missing under load; a second one after the prompt has
/// gone lands in the host's own pane, which no test reads for it).
pub fn key_at_prompt(host_tty: &mut Tty, key: &[u8], done: impl Fn() -> bool) {
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(150));
        host_tty.send(key);
        if poll(Duration::from_secs(3), || done().then_some(())).is_some() {
            return;
        }
    }
    panic!("the host's key {key:?} at the prompt was never acted on");
}

/// Waits until the guest's client has drawn and shown the join banner.
pub fn settle_client(tty: &mut Tty) {
    tty.wait_for("pairshell: you joined").unwrap();
}

/// The request the guest's pairshell `pid` wrote, as root reads it.
fn request_nonce(lab: &Lab, pid: &str) -> String {
    let path = lab
        .sockets_dir()
        .join(".clients")
        .join(format!("ask-{pid}"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no request at {}: {e}", path.display()));
    let table: toml::Table = text.parse().unwrap();
    table["nonce"].as_str().unwrap().to_string()
}

/// Writes a `yes` to the request of `pid` beside `api`'s socket, at the
/// request's own nonce, as the pair account would if any pair-account
/// process could write there; waits until the guest's pairshell has read
/// it twice (so it looked at it and went on waiting), then removes it.
pub fn forge_pair_answer(lab: &Lab, api: &Shared, pid: &str) {
    let nonce = request_nonce(lab, pid);
    let path: PathBuf = api
        .socket
        .with_file_name(format!(".pairshell-answer-{pid}-{nonce}"));
    fs::write(&path, "yes\njoin forged\n").unwrap();
    let (uid, gid) = ids(&lab.pair);
    chown(&path, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
    inotify
        .add_watch(&path, AddWatchFlags::IN_CLOSE_NOWRITE)
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut reads = 0;
    while reads < 2 && Instant::now() < deadline {
        match inotify.read_events() {
            Ok(events) => reads += events.len(),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    fs::remove_file(&path).unwrap();
    assert!(
        reads >= 2,
        "the guest's pairshell never read the forged answer ({reads} reads)"
    );
}

/// A stand-in for GitHub's `https://github.com/LOGIN.keys` on 127.0.0.1:
/// answers `GET /LOGIN.keys` with `body` for the one `login`, 404 else.
pub struct StandInGithub {
    pub port: u16,
}

impl StandInGithub {
    pub fn start(login: &str, body: &str) -> StandInGithub {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let path = format!("/{login}.keys");
        let body = format!("{body}\n");
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let (status, text) = if head.split_whitespace().nth(1) == Some(path.as_str()) {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        StandInGithub { port }
    }

    /// The main config's lines that point pairshell here.
    pub fn config_lines(&self) -> String {
        format!(
            "github_keys_url = \"http://127.0.0.1:{}/{{user}}.keys\"\ngithub_timeout_s = 2\n",
            self.port
        )
    }
}

/// The shipped `contrib/sudoers.d/pairshell-invite`, installed for the lab:
/// only its group, binary and config path changed to the lab's, checked
/// with `visudo -c`, removed on drop.
pub struct SudoRule(PathBuf);

impl SudoRule {
    pub fn install(lab: &Lab) -> SudoRule {
        // The lab is its own crate, in `lab/`: the drop-in is the
        // workspace's, compiled in as sshd.rs does with sshd's.
        let shipped = include_str!("../../contrib/sudoers.d/pairshell-invite");
        let text = shipped
            .replace("%pairshell ", &format!("%{} ", lab.socket_group))
            .replace("/usr/local/bin/pairshell", &lab.bin.to_string_lossy())
            .replace(
                "/etc/pairshell/pairshell.toml",
                &lab.config.to_string_lossy(),
            );
        assert_ne!(text, shipped, "the drop-in's line did not change");
        // No dot in the name: sudo skips such files in /etc/sudoers.d.
        let path = PathBuf::from(format!(
            "/etc/sudoers.d/pairshell-test-{}",
            lab.socket_group
        ));
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o440)).unwrap();
        let rule = SudoRule(path);
        let out = std::process::Command::new("visudo")
            .args(["-c", "-f"])
            .arg(&rule.0)
            .output()
            .expect("visudo (the sudo package)");
        assert!(out.status.success(), "visudo -c: {out:?}");
        rule
    }
}

impl Drop for SudoRule {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
