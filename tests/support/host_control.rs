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
    tty.wait_for("to leave").unwrap();
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
