//! Helpers for the recording tests (`tests/recording.rs`): a recordings
//! directory the pair account owns (or a small tmpfs mounted there), the
//! recordings found in it, and a reading of one through Python's `json`
//! module, so the file is judged by a JSON parser that is not pairshell's.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{poll, Lab, WAIT};

/// Turns recording on (`record = MODE`, plus `extra` lines) with
/// `recordings_dir` = `<lab>/recordings`, made as `install.sh` makes it:
/// the pair account's, mode 0700, in root's directories.
pub fn enable(lab: &mut Lab, mode: &str, extra: &str) -> PathBuf {
    let dir = lab.dir.join("recordings");
    fs::create_dir_all(&dir).unwrap();
    chown(&dir, Some(lab.pair_uid), Some(lab.pair_gid)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    lab.add_config_lines(&config_lines(&dir, mode, extra));
    dir
}

/// Turns recording off again: takes out exactly the lines [`enable`] put
/// in (with the same `mode` and `extra`), so the config is as before.
pub fn disable(lab: &mut Lab, mode: &str, extra: &str) {
    let dir = lab.dir.join("recordings");
    lab.remove_config_lines(&config_lines(&dir, mode, extra));
}

fn config_lines(dir: &Path, mode: &str, extra: &str) -> String {
    format!(
        "record = \"{mode}\"\nrecordings_dir = \"{}\"\n{extra}",
        dir.display()
    )
}

/// A small tmpfs mounted on a directory until dropped (drop it before the
/// lab: declare it after).
pub struct SmallFs(PathBuf);

impl SmallFs {
    /// `size` as mount(8) takes it (`96k`), owned by `uid`, mode 0700.
    pub fn mount(dir: &Path, size: &str, uid: u32, gid: u32) -> SmallFs {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700,uid={uid},gid={gid}"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount tmpfs: {out:?}");
        SmallFs(dir.to_path_buf())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every `.cast` file under `dir` (HOST/SESSION/*.cast), sorted.
pub fn casts(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for host in fs::read_dir(dir).into_iter().flatten().flatten() {
        for session in fs::read_dir(host.path()).into_iter().flatten().flatten() {
            for f in fs::read_dir(session.path()).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|x| x == "cast") {
                    found.push(f.path());
                }
            }
        }
    }
    found.sort();
    found
}

/// A recording as Python's `json` reads it.
#[derive(Debug)]
pub struct Reading {
    /// The header's fields that matter here: width, height, title, TERM.
    pub width: u64,
    pub height: u64,
    pub title: String,
    pub term: String,
    /// `(code, data)` of every event, in order.
    pub events: Vec<(String, String)>,
}

impl Reading {
    pub fn count(&self, code: &str) -> usize {
        self.events.iter().filter(|(c, _)| c == code).count()
    }

    /// All the data of one kind of event, joined.
    pub fn joined(&self, code: &str) -> String {
        self.events
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, d)| d.as_str())
            .collect()
    }
}

/// Checks `path` line by line against asciicast v2 (a header object with
/// version 2, width, height, timestamp; then `[time, code, data]` events
/// with non-decreasing times and codes o/i/r/m) with Python's json module,
/// and reads it. Panics with Python's complaint when a line is wrong.
pub fn read(path: &Path) -> Reading {
    const CHECK: &str = r#"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the file does not end in a newline"
h = json.loads(lines[0])
assert type(h) is dict and h["version"] == 2, h
for k in ("width", "height", "timestamp"):
    assert type(h[k]) is int, (k, h)
print(json.dumps([h["width"], h["height"], h.get("title", ""), h.get("env", {}).get("TERM", "")]))
last = 0.0
for n, line in enumerate(lines[1:-1], 2):
    e = json.loads(line)
    assert type(e) is list and len(e) == 3, (n, line)
    t, code, data = e
    assert type(t) in (int, float) and t >= last, (n, line)
    assert code in ("o", "i", "r", "m") and type(data) is str, (n, line)
    last = t
    print(json.dumps([code, data]))
"#;
    let out = Command::new("python3")
        .args(["-c", CHECK])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not asciicast v2: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header = split_json_array(lines.next().unwrap());
    let events = lines
        .map(|l| {
            let v = split_json_array(l);
            (v[0].clone(), v[1].clone())
        })
        .collect();
    Reading {
        width: header[0].parse().unwrap(),
        height: header[1].parse().unwrap(),
        title: header[2].clone(),
        term: header[3].clone(),
        events,
    }
}

/// The items of a flat JSON array Python printed (numbers and ASCII-only
/// strings, as `json.dumps` escapes everything else).
fn split_json_array(line: &str) -> Vec<String> {
    let b = line
        .trim()
        .strip_prefix('[')
        .unwrap()
        .strip_suffix(']')
        .unwrap();
    let mut items = Vec::new();
    let mut chars = b.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&',') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().unwrap() {
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap()).collect();
                            let code = u32::from_str_radix(&hex, 16).unwrap();
                            s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        other => s.push(other),
                    },
                    c => s.push(c),
                }
            }
            items.push(s);
        } else {
            let mut s = String::new();
            while chars.peek().is_some_and(|&c| c != ',') {
                s.push(chars.next().unwrap());
            }
            items.push(s.trim().to_string());
        }
    }
    items
}

/// Waits until `path`'s events satisfy `pred` (the recorder writes at
/// least once a second).
pub fn wait_for(path: &Path, pred: impl Fn(&Reading) -> bool) -> Reading {
    poll(WAIT, || {
        let r = read(path);
        pred(&r).then_some(r)
    })
    .unwrap_or_else(|| {
        panic!(
            "{} never showed what was expected: {:?}",
            path.display(),
            read(path)
        )
    })
}
