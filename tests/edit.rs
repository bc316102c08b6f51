//! `pairshell edit` (the visudo of pairshell), `check --config` on a
//! candidate file, the once-per-version `index-unused` line, and the
//! systemd units, on the real binary. The editor is a script (`EDITOR`);
//! the answers to edit's question come on stdin. Issue 18.

use pairshell_lab as support;
use pairshell_lab::lab;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::edit::{check_candidate, edit_as, edit_root, editor_script, located_in};
use support::*;

/// The file's bytes and identity: "left as it was" means all of them.
fn snapshot(path: &Path) -> (Vec<u8>, u64, u32, u32, u32) {
    let meta = fs::metadata(path).unwrap();
    (
        fs::read(path).unwrap(),
        meta.ino(),
        meta.uid(),
        meta.gid(),
        meta.mode(),
    )
}

/// An editor script that appends `text` to the copy.
fn appending(lab: &Lab, text: &str) -> std::path::PathBuf {
    editor_script(
        lab,
        &format!("cat >> \"$1\" <<'PAIRSHELL_EOF'\n{text}\nPAIRSHELL_EOF"),
    )
}

#[test]
fn a_good_edit_is_installed_with_the_same_owner_and_mode_and_indexed() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let before = fs::metadata(&lab.config).unwrap();
    let carol = lab.make_key("carol");
    let editor = appending(
        &lab,
        &format!(
            "\n[guests.carol]\nkeys = [{}]",
            toml_str(&carol.public_line)
        ),
    );

    let run = edit_root(&lab, &editor, "");
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("installed"), "{run}");
    assert!(lab.config_text().contains("[guests.carol]"));
    let after = fs::metadata(&lab.config).unwrap();
    assert_ne!(
        after.ino(),
        before.ino(),
        "replaced by rename, not rewritten"
    );
    assert_eq!(
        (after.uid(), after.gid(), after.mode()),
        (before.uid(), before.gid(), before.mode())
    );
    let check = lab.check();
    assert!(
        check.stdout.contains("lookup index matches the config"),
        "{check}"
    );
    // carol gets in through sshd, found in the index.
    let run = lab.ssh(&carol, Some("list"));
    assert!(run.success(), "{run}");
    assert!(lab
        .syslog()
        .records()
        .iter()
        .all(|r| r.get("event") != Some("index-unused")));
    lab.wait_audit(&[("event", "edit"), ("by", "root")]);

    // Saving without a change installs nothing.
    let before = snapshot(&lab.config);
    let run = edit_root(&lab, &editor_script(&lab, "true"), "");
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("no changes"), "{run}");
    assert_eq!(snapshot(&lab.config), before);
}

#[test]
fn a_broken_edit_is_refused_and_the_installed_config_is_left_byte_for_byte() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let _api = lab.share(&maria, "api", &["alice"], &[]);
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    let installed = snapshot(&lab.config);
    let index = lab.config.with_extension("toml.index");
    let index_before = fs::read(&index).unwrap();

    let cases: [(&str, std::path::PathBuf, &[&str]); 3] = [
        (
            "bad TOML",
            appending(&lab, "[guests.bob]\nkeys = [\"ssh-ed25519"),
            &[],
        ),
        (
            "a key two guests hold",
            appending(
                &lab,
                &format!(
                    "\n[guests.mallory]\nkeys = [{}]",
                    toml_str(&alice.public_line)
                ),
            ),
            &["guests alice and mallory share key"],
        ),
        (
            "a grant that names no guest (alice renamed)",
            editor_script(
                &lab,
                "sed -i 's/^\\[guests.alice\\]$/[guests.alicia]/' \"$1\"",
            ),
            &["session api grants alice, who is not a guest"],
        ),
    ];
    for (what, editor, needles) in cases {
        let run = edit_root(&lab, &editor, "");
        assert!(!run.success(), "{what}: {run}");
        assert!(
            located_in(&run.stderr, "pairshell.toml") || located_in(&run.stderr, ".toml"),
            "{what}: no FILE:LINE:COL: {run}"
        );
        for needle in needles {
            assert!(run.stderr.contains(needle), "{what}: {run}");
        }
        assert!(run.stderr.contains("(e)dit again"), "{what}: {run}");
        assert!(run.stderr.contains("left as it was"), "{what}: {run}");
        assert_eq!(
            snapshot(&lab.config),
            installed,
            "{what}: the config changed"
        );
        assert_eq!(fs::read(&index).unwrap(), index_before, "{what}");
    }
    // The grant's problem is located in the host file that makes it.
    let run = edit_root(&lab, &cases_rename(&lab), "");
    assert!(located_in(&run.stderr, &format!("{maria}.toml")), "{run}");
    // Logins never saw a broken config.
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
}

fn cases_rename(lab: &Lab) -> std::path::PathBuf {
    editor_script(
        lab,
        "sed -i 's/^\\[guests.alice\\]$/[guests.alicia]/' \"$1\"",
    )
}

#[test]
fn edit_again_after_a_mistake_installs_the_corrected_copy() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    let carol = lab.make_key("carol");
    let count = lab.scratch_file("count");
    // First save: a typo. Second: the right table.
    let editor = editor_script(
        &lab,
        &format!(
            "if [ -e {c} ]; then\n\
             sed -i 's/^\\[guests.carol$/[guests.carol]/' \"$1\"\n\
             else\n\
             touch {c}\n\
             printf '\\n[guests.carol\\nkeys = [%s]\\n' {key} >> \"$1\"\n\
             fi",
            c = shell_quote(&count.display().to_string()),
            key = shell_quote(&toml_str(&carol.public_line)),
        ),
    );
    let run = edit_root(&lab, &editor, "e\n");
    assert!(run.success(), "{run}");
    assert!(located_in(&run.stderr, "pairshell.toml"), "{run}");
    assert!(
        lab.config_text().contains("[guests.carol]\nkeys"),
        "{}",
        lab.config_text()
    );
}

/// Pins the `edit` row: `pairshell edit` run by a host widens nothing
/// beyond their own sessions. `check`'s judgement of the edited copy
/// refuses a session naming another host's running server (the socket's
/// owner) and one naming a new socket in a directory that is not the
/// host's own, as well as a grant naming no guest and a schema typo; the
/// installed file is left byte for byte.
///
/// Positive control: the same host's edit naming their own new socket is
/// installed in place, still theirs, and audited (`event=edit`); bob's
/// session is still listed for alice.
#[test]
fn a_host_edits_only_their_own_sessions() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let bob = lab.add_host();
    let _m = lab.share(&maria, "api", &["alice"], &[]);
    let b = lab.share(&bob, "api", &["alice"], &[]);
    let file = lab.host_file(&maria);
    let mine = lab.sockets_dir().join(&maria).join("web.sock");
    let bobs_new = lab.sockets_dir().join(&bob).join("web.sock");

    let refused: [(&str, String, &str); 4] = [
        (
            "another host's running server",
            format!(
                "\n[sessions.web]\nsocket = {}\nread_write = [\"alice\"]",
                toml_path_str(&b.socket)
            ),
            "session web",
        ),
        (
            "a socket in another host's directory",
            format!(
                "\n[sessions.web]\nsocket = {}\nread_write = [\"alice\"]",
                toml_path_str(&bobs_new)
            ),
            "not in a directory of",
        ),
        (
            "a grant that names no guest",
            format!(
                "\n[sessions.web]\nsocket = {}\nread_only = [\"zed\"]",
                toml_path_str(&mine)
            ),
            "grants zed, who is not a guest",
        ),
        (
            "a typo the schema refuses",
            format!(
                "\n[sessions.web]\nsocket = {}\nread_wirte = [\"alice\"]",
                toml_path_str(&mine)
            ),
            "read_wirte",
        ),
    ];
    let before = snapshot(&file);
    for (what, text, needle) in refused {
        let run = edit_as(&lab, &maria, &appending(&lab, &text), "q\n");
        assert!(!run.success(), "{what}: {run}");
        assert!(run.stderr.contains(needle), "{what}: {run}");
        assert!(
            located_in(&run.stderr, &format!("{maria}.toml")),
            "{what}: {run}"
        );
        assert_eq!(snapshot(&file), before, "{what}: maria's file changed");
    }

    // Her own socket, a real guest: saved in place, still hers.
    let text = format!(
        "\n[sessions.web]\nsocket = {}\nread_only = [\"alice\"]",
        toml_path_str(&mine)
    );
    let run = edit_as(&lab, &maria, &appending(&lab, &text), "");
    assert!(run.success(), "{run}");
    let after = fs::metadata(&file).unwrap();
    assert_eq!(
        (after.ino(), after.uid(), after.mode()),
        (before.1, before.2, before.4)
    );
    assert!(fs::read_to_string(&file)
        .unwrap()
        .contains("[sessions.web]"));
    lab.wait_audit(&[("event", "edit"), ("host", &maria)]);
    // Nothing of bob's moved, and alice still reaches his session.
    let run = lab.ssh(&alice, Some("list"));
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains(&b.label()), "{run}");
}

fn toml_path_str(p: &Path) -> String {
    toml_str(&p.display().to_string())
}

#[test]
fn check_config_validates_a_candidate_that_is_not_installed() {
    let mut lab = lab!();
    let alice = lab.add_guest("alice", None);
    let maria = lab.add_host();
    let _api = lab.share(&maria, "api", &["alice"], &[]);
    let installed = snapshot(&lab.config);
    let carol = lab.make_key("carol");

    // As Ansible leaves it: root's, 0600, in a directory of root's.
    let good = lab.scratch_file("candidate-good.toml");
    fs::write(
        &good,
        format!(
            "{}\n[guests.carol]\nkeys = [{}]\n",
            lab.config_text(),
            toml_str(&carol.public_line)
        ),
    )
    .unwrap();
    let run = check_candidate(&lab, &good);
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("checked as a candidate"), "{run}");

    let bad = lab.scratch_file("candidate-bad.toml");
    fs::write(
        &bad,
        format!(
            "{}\n[guests.mallory]\nkeys = [{}]\n",
            lab.config_text(),
            toml_str(&alice.public_line)
        ),
    )
    .unwrap();
    let run = check_candidate(&lab, &bad);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(
        run.stderr.contains("guests alice and mallory share key"),
        "{run}"
    );
    let name = bad.file_name().unwrap().to_str().unwrap();
    assert!(located_in(&run.stderr, name), "{run}");

    let broken = lab.scratch_file("candidate-broken.toml");
    fs::write(&broken, "pair_user = \n").unwrap();
    let run = check_candidate(&lab, &broken);
    assert_eq!(run.code(), Some(1), "{run}");
    let name = broken.file_name().unwrap().to_str().unwrap();
    assert!(located_in(&run.stderr, name), "{run}");

    assert_eq!(snapshot(&lab.config), installed);
    // The installed config itself is still checked as the one sshd reads.
    let run = lab.check();
    assert!(run.success(), "{run}");
    assert!(!run.stdout.contains("candidate"), "{run}");
}

#[test]
fn a_stale_index_is_noted_once_per_config_version() {
    let mut lab = lab!();
    let _alice = lab.add_guest("alice", None);
    // `host add` makes the pair account's roster directory, where a login
    // remembers what it noted (install.sh's tmpfiles entry, on a system).
    let _maria = lab.enable_host();
    let run = lab.pairshell_root(&["index"]);
    assert!(run.success(), "{run}");
    let stranger = lab.make_key("stranger");
    let unused = |lab: &Lab| {
        lab.syslog()
            .records()
            .iter()
            .filter(|r| r.get("event") == Some("index-unused"))
            .count()
    };
    let denies = |lab: &Lab, n: usize| {
        poll(WAIT, || {
            let d = lab
                .syslog()
                .records()
                .iter()
                .filter(|r| r.get("event") == Some("deny"))
                .count();
            (d >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("{n} deny lines never came"));
    };

    // A hand edit, then two logins: one line.
    let text = lab.config_text();
    lab.write_config_text(&format!("{text}# edited by hand\n"));
    for _ in 0..2 {
        let run = lab.login_as_pair(&stranger.public_line, Some("list"));
        assert!(!run.success(), "{run}");
    }
    denies(&lab, 2);
    assert_eq!(unused(&lab), 1, "{:?}", lab.syslog().raw());

    // Another hand edit is another version: one more line, once.
    std::thread::sleep(Duration::from_millis(20));
    lab.write_config_text(&format!("{text}# edited by hand, again\n"));
    for _ in 0..2 {
        let run = lab.login_as_pair(&stranger.public_line, Some("list"));
        assert!(!run.success(), "{run}");
    }
    denies(&lab, 4);
    assert_eq!(unused(&lab), 2, "{:?}", lab.syslog().raw());

    // `check` still reports it, every time.
    for _ in 0..2 {
        let check = lab.check();
        assert!(!check.success(), "{check}");
        assert!(check.stderr.contains("run `pairshell index`"), "{check}");
    }
}

/// The shipped units, with ExecStart pointed at a binary that exists (as
/// install.sh does), pass `systemd-analyze verify`. It needs no running
/// systemd (PID 1 here and in CI is not systemd); `--man=no` because the
/// man pages are not installed where the test runs.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing (apt-get install systemd)"
        );
        eprintln!("SKIPPED: no systemd-analyze (apt-get install systemd)");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let dir = std::env::temp_dir().join(format!("pairshell-units-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_pairshell");
    let mut units = Vec::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            path.extension().is_none_or(|e| e != "service")
                || text.contains("ExecStart=/usr/local/bin/pairshell "),
            "{}: install.sh rewrites ExecStart=/usr/local/bin/pairshell",
            path.display()
        );
        let to = dir.join(path.file_name().unwrap());
        fs::write(&to, text.replace("/usr/local/bin/pairshell", bin)).unwrap();
        units.push(to);
    }
    units.sort();
    let names: Vec<String> = units
        .iter()
        .map(|u| u.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "pairshell-index.path",
            "pairshell-index.service",
            "pairshell-sync.service",
            "pairshell-sync.timer"
        ]
    );
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .args(&units)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");

    // And it would catch a broken one.
    let timer = dir.join("pairshell-sync.timer");
    let text = fs::read_to_string(&timer).unwrap();
    fs::write(&timer, text.replace("OnCalendar=daily", "OnCalendar=dialy")).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .arg(&timer)
        .output()
        .unwrap();
    assert!(!out.status.success());
    fs::remove_dir_all(&dir).unwrap();
}
