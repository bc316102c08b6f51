//! `pairshell edit` driven the way a person drives it, with `EDITOR` set to
//! a script that makes the edit (`tests/edit.rs`), and the answers to its
//! question ("edit again, or leave the file as it was?") on stdin.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{clean_env, run_with_timeout, Lab, Run};

/// A shell script in the lab (root's, 0755, so hosts can run it too) that
/// `pairshell edit` runs as its editor: `$1` is the copy being edited.
pub fn editor_script(lab: &Lab, body: &str) -> PathBuf {
    let path = lab.scratch_file("editor");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn with_stdin(lab: &Lab, cmd: &mut Command, answers: &str) {
    let file = lab.scratch_file("answers");
    fs::write(&file, answers).unwrap();
    cmd.stdin(Stdio::from(File::open(&file).unwrap()));
}

/// `pairshell --config <lab config> edit` as root, with `EDITOR=editor`
/// and `answers` on stdin.
pub fn edit_root(lab: &Lab, editor: &Path, answers: &str) -> Run {
    let mut cmd = Command::new(&lab.bin);
    clean_env(&mut cmd, "root", "/");
    cmd.arg("--config").arg(&lab.config).arg("edit");
    cmd.env("EDITOR", editor);
    with_stdin(lab, &mut cmd, answers);
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// `pairshell --config <lab config> edit` as `host`, the same way.
pub fn edit_as(lab: &Lab, host: &str, editor: &Path, answers: &str) -> Run {
    let mut cmd = lab.command_as(host, &lab.bin);
    cmd.arg("--config").arg(&lab.config).arg("edit");
    cmd.env("EDITOR", editor);
    with_stdin(lab, &mut cmd, answers);
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// `pairshell check --config FILE --sshd-config <lab sshd>` as root: FILE
/// named after the subcommand, as Ansible's `validate:` line does.
pub fn check_candidate(lab: &Lab, file: &Path) -> Run {
    let mut cmd = Command::new(&lab.bin);
    clean_env(&mut cmd, "root", "/");
    cmd.arg("check")
        .arg("--config")
        .arg(file)
        .arg("--sshd-config")
        .arg(lab.sshd_config())
        .stdin(Stdio::null());
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// Whether `text` names `file` with a line and column (`FILE:LINE:COL:`).
pub fn located_in(text: &str, file_name: &str) -> bool {
    text.match_indices(&format!("{file_name}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let digits = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        digits(parts.next()) && digits(parts.next())
    })
}
