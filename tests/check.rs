//! `pairshell check` on the lab: a setup made the supported way (`host add`,
//! `share`, the shipped sshd drop-in) passes with exit status 0, and each
//! way of breaking it gives exit status 1 and exactly one problem line,
//! naming the file and saying how to fix it. Every case is undone before the
//! next, and check must pass again, so each line is pinned to its cause.
//!
//! check is pointed at the lab's sshd config (`--sshd-config`); sshd cases
//! use a copy of it whose drop-in was changed. See `lab/src/lib.rs`.
//!
//! These tests need root; without it they print `SKIPPED:` and pass (unless
//! `CI` is set, where they fail).

use pairshell_lab as support;

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};

use support::{Lab, Run, Shared};

/// A lab with guests alice and bob, a host set up with `host add`, and
/// `api` shared (alice read-write, bob read-only) by `pairshell share`.
fn good_lab() -> Option<(Lab, String, Shared)> {
    let mut lab = Lab::new()?;
    lab.add_guest("alice", None);
    lab.add_guest("bob", None);
    let host = lab.enable_host();
    let (_, api) = lab.share_as(&host, "api", &["--rw", "alice", "--ro", "bob"]);
    assert_passes(&lab);
    Some((lab, host, api))
}

macro_rules! good_lab {
    () => {
        match good_lab() {
            Some(setup) => setup,
            None => return,
        }
    };
}

/// The problem lines of a check (`pairshell: …` on stderr).
fn problems(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("pairshell: "))
        .collect()
}

fn assert_passes(lab: &Lab) -> Run {
    let run = lab.check();
    assert_eq!(run.code(), Some(0), "check should pass:\n{run}");
    assert!(problems(&run).is_empty(), "{run}");
    run
}

/// check fails with exactly one problem line, which starts with `start`,
/// contains every one of `parts` and says how to fix it. Returns the line.
fn assert_one_problem(run: &Run, start: &str, parts: &[&str]) -> String {
    assert_eq!(run.code(), Some(1), "check should fail:\n{run}");
    let found = problems(run);
    assert_eq!(found.len(), 1, "want exactly one problem:\n{run}");
    let line = found[0];
    assert!(
        line.starts_with(start),
        "want a line starting {start:?}:\n{run}"
    );
    for part in parts {
        assert!(line.contains(part), "want {part:?} in the line:\n{run}");
    }
    assert!(line.contains("; fix: "), "the line says no fix:\n{run}");
    line.to_string()
}

/// `FILE:LINE:COLUMN` of the first occurrence of `needle` in `file`.
fn located(file: &Path, needle: &str) -> String {
    let text = fs::read_to_string(file).unwrap();
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return format!(
                "{}:{}:{}",
                file.display(),
                i + 1,
                line[..col].chars().count() + 1
            );
        }
    }
    panic!("{needle:?} is not in {}:\n{text}", file.display());
}

/// Inserts `line` after the `[sessions.SESSION]` header of a host file.
fn add_to_session(file: &Path, session: &str, line: &str) {
    let text = fs::read_to_string(file).unwrap();
    let header = format!("[sessions.{session}]");
    let mut out = String::new();
    let mut found = false;
    for l in text.lines() {
        out.push_str(l);
        out.push('\n');
        if l.trim() == header {
            out.push_str(line);
            out.push('\n');
            found = true;
        }
    }
    assert!(found, "no {header} in {}:\n{text}", file.display());
    fs::write(file, out).unwrap();
}

/// A copy of the lab's sshd config whose drop-in is the shipped one as the
/// lab uses it, changed by `edit`. Returns the copy's path.
fn sshd_variant(lab: &Lab, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let drop_in = fs::read_to_string(lab.sshd_drop_in()).unwrap();
    let changed = edit(&drop_in);
    assert_ne!(changed, drop_in, "{name}: the edit changed nothing");
    let dir = lab.dir.join("sshd");
    let variant_drop_in = dir.join(format!("{name}.conf"));
    fs::write(&variant_drop_in, changed).unwrap();
    let main = fs::read_to_string(lab.sshd_config()).unwrap();
    let from = format!("Include {}", lab.sshd_drop_in().display());
    assert!(
        main.contains(&from),
        "{}:\n{main}",
        lab.sshd_config().display()
    );
    let variant = dir.join(format!("{name}_sshd_config"));
    fs::write(
        &variant,
        main.replace(&from, &format!("Include {}", variant_drop_in.display())),
    )
    .unwrap();
    variant
}

/// `text` without the lines whose trimmed form starts with `directive`.
fn without(text: &str, directive: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(directive))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn check_passes_on_a_setup_made_the_supported_way() {
    let (lab, host, _api) = good_lab!();
    let run = assert_passes(&lab);
    assert!(run.stdout.contains("Landlock ABI "), "{run}");
    assert!(
        run.stdout.contains("every tmux client runs confined"),
        "{run}"
    );
    assert!(run.stdout.contains("tmux 3."), "{run}");
    assert!(
        run.stdout.contains(&format!(
            "sshd ({}): for {}",
            lab.sshd_config().display(),
            lab.pair
        )),
        "{run}"
    );
    let ok = format!(
        "{}: ok (2 guests, 2 keys, 1 host file)",
        lab.config.display()
    );
    assert!(run.stdout.contains(&ok), "want {ok:?}:\n{run}");
    assert!(lab.host_file(&host).exists());
}

#[test]
fn check_reports_host_files_others_could_write_or_own() {
    let (lab, host, _api) = good_lab!();
    let file = lab.host_file(&host);
    let f = file.display().to_string();

    fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
    assert_one_problem(
        &lab.check(),
        &format!("{f}: not trusted: is writable by group or other"),
        &[&format!("fix: chmod go-w {f}")],
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    assert_passes(&lab);

    // Owned by another account (the pair account, say): it could grant
    // itself anything.
    chown(&file, Some(lab.pair_uid), None).unwrap();
    assert_one_problem(
        &lab.check(),
        &format!("{f}: not trusted: is owned by uid {}", lab.pair_uid),
        &[&format!("fix: chown {host} {f}")],
    );
    let host_uid = nix::unistd::User::from_name(&host)
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    chown(&file, Some(host_uid), None).unwrap();
    assert_passes(&lab);
}

#[test]
fn check_reports_grants_to_unknown_guests_expired_entries_and_bad_sockets() {
    let (mut lab, host, api) = good_lab!();
    let file = lab.host_file(&host);
    let c = lab.config.display().to_string();

    // A guest removed from the main config whose grant stayed behind.
    lab.add_guest("carol", None);
    let run = lab.pairshell_as(&host, &["grant", "api", "carol", "--ro"]);
    assert!(run.success(), "grant: {run}");
    assert_passes(&lab);
    lab.remove_guest("carol");
    assert_one_problem(
        &lab.check(),
        &located(&file, "\"carol\""),
        &[
            &format!("session api grants carol, who is not a guest in {c}"),
            &format!("fix: pairshell revoke api carol (as {host})"),
        ],
    );
    // The fix it gives works.
    let run = lab.pairshell_as(&host, &["revoke", "api", "carol"]);
    assert!(run.success(), "revoke: {run}");
    assert_passes(&lab);

    // A share whose `expires` has passed.
    let original = fs::read_to_string(&file).unwrap();
    add_to_session(&file, "api", "expires = 2020-01-01T00:00:00Z");
    assert_one_problem(
        &lab.check(),
        &located(&file, "2020-01-01T00:00:00Z"),
        &[
            "session api expired on 2020-01-01T00:00:00Z",
            &format!("fix: pairshell unshare api (as {host})"),
        ],
    );
    fs::write(&file, &original).unwrap();
    assert_passes(&lab);

    // A per-guest grant whose time has passed.
    add_to_session(
        &file,
        "api",
        "guest_expires = { bob = 2020-01-01T00:00:00Z }",
    );
    assert_one_problem(
        &lab.check(),
        &located(&file, "2020-01-01T00:00:00Z"),
        &[
            "bob's grant on session api expired on 2020-01-01T00:00:00Z",
            &format!("fix: pairshell revoke api bob (as {host})"),
        ],
    );
    fs::write(&file, &original).unwrap();
    assert_passes(&lab);

    // A second session whose socket path holds a regular file, in the
    // host's own socket directory.
    let notes = api.socket.with_file_name("notes.sock");
    fs::write(&notes, "not a socket").unwrap();
    let host_ids = nix::unistd::User::from_name(&host).unwrap().unwrap();
    chown(
        &notes,
        Some(host_ids.uid.as_raw()),
        Some(host_ids.gid.as_raw()),
    )
    .unwrap();
    fs::write(
        &file,
        format!(
            "{original}\n[sessions.notes]\nsocket = \"{}\"\nread_only = [\"bob\"]\n",
            notes.display()
        ),
    )
    .unwrap();
    let n = notes.display().to_string();
    assert_one_problem(
        &lab.check(),
        &located(&file, &format!("\"{n}\"")),
        &[
            &format!("session notes: {n}: not trusted: is not a socket"),
            &format!("fix: remove it (rm {n})"),
        ],
    );
    // Not there at all is a session that is not running: fine.
    fs::remove_file(&notes).unwrap();
    assert_passes(&lab);
    fs::write(&file, &original).unwrap();
    assert_passes(&lab);
}

#[test]
fn check_reports_shared_keys_and_expired_guests_in_the_main_config() {
    let (mut lab, _host, _api) = good_lab!();
    let c = lab.config.display().to_string();
    let original = lab.config_text();
    // alice's key, declared again for another guest.
    let alice_key = original
        .lines()
        .skip_while(|l| l.trim() != "[guests.alice]")
        .find_map(|l| l.trim().strip_prefix("keys = "))
        .expect("alice's keys line")
        .to_string();
    lab.write_config_text(&format!(
        "{original}\n[guests.mallory]\nkeys = {alice_key}\n"
    ));
    // The line just written; its first element is at column 9.
    let keys_line = lab.config_text().lines().count();
    assert_one_problem(
        &lab.check(),
        &format!("{c}:{keys_line}:9"),
        &[
            "guests alice and mallory share key SHA256:",
            "remove it from one of them",
        ],
    );
    lab.write_config_text(&original);
    assert_passes(&lab);

    // A guest whose `expires` has passed.
    lab.add_guest("dave", Some("2020-01-01T00:00:00Z"));
    assert_one_problem(
        &lab.check(),
        &located(&lab.config, "2020-01-01T00:00:00Z"),
        &[
            "guest dave expired on 2020-01-01T00:00:00Z",
            "fix: pairshell guest remove dave",
        ],
    );
    lab.remove_guest("dave");
    assert_passes(&lab);
}

#[test]
fn check_reports_the_pair_accounts_sshd_settings() {
    let (lab, _host, _api) = good_lab!();
    let bin = lab.bin.display().to_string();
    let head = |variant: &Path| format!("{} (sshd -T for user {}): ", variant.display(), lab.pair);

    let no_auth_info = sshd_variant(&lab, "no-auth-info", |d| {
        d.replace("ExposeAuthInfo yes", "ExposeAuthInfo no")
    });
    assert_one_problem(
        &lab.check_with_sshd_config(&no_auth_info),
        &head(&no_auth_info),
        &["ExposeAuthInfo is no", "fix: `ExposeAuthInfo yes`"],
    );

    let elsewhere = sshd_variant(&lab, "akc-elsewhere", |d| {
        d.lines()
            .map(|l| {
                if l.trim_start().starts_with("AuthorizedKeysCommand ") {
                    l.replace(&bin, "/usr/bin/true")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect()
    });
    assert_one_problem(
        &lab.check_with_sshd_config(&elsewhere),
        &head(&elsewhere),
        &[
            "AuthorizedKeysCommand runs /usr/bin/true, not this pairshell",
            &format!("fix: `AuthorizedKeysCommand {bin} --config"),
        ],
    );

    let forwarding = sshd_variant(&lab, "forwarding", |d| without(d, "DisableForwarding"));
    assert_one_problem(
        &lab.check_with_sshd_config(&forwarding),
        &head(&forwarding),
        &[
            "forwarding is on (allowtcpforwarding yes",
            "DisableForwarding yes",
        ],
    );

    // And the lab's own config still passes.
    assert_passes(&lab);
}

#[test]
fn check_reports_a_real_shell_for_the_pair_account_and_an_old_tmux() {
    let (lab, _host, _api) = good_lab!();
    let bin = lab.bin.display().to_string();

    lab.set_shell(&lab.pair, "/bin/bash");
    assert_one_problem(
        &lab.check(),
        &format!(
            "pair account {}: its login shell is /bin/bash, not this pairshell",
            lab.pair
        ),
        &[&format!("fix: usermod -s {bin} {}", lab.pair)],
    );
    lab.set_shell(&lab.pair, &bin);
    assert_passes(&lab);

    // A tmux without server-access (a root-owned script standing in).
    let old = lab.dir.join("bin/tmux-3.2a");
    fs::write(&old, "#!/bin/sh\necho 'tmux 3.2a'\n").unwrap();
    fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
    let original = lab.config_text();
    let tmux_line = original
        .lines()
        .find(|l| l.starts_with("tmux = "))
        .expect("a tmux line")
        .to_string();
    lab.write_config_text(&original.replace(&tmux_line, &format!("tmux = \"{}\"", old.display())));
    let o = old.display().to_string();
    assert_one_problem(
        &lab.check(),
        &located(&lab.config, &format!("\"{o}\"")),
        &[&format!(
            "{o} is tmux 3.2a; pairshell needs tmux 3.3 or later"
        )],
    );

    // check runs it as root: not before it is root's alone.
    fs::set_permissions(&old, fs::Permissions::from_mode(0o775)).unwrap();
    assert_one_problem(
        &lab.check(),
        &located(&lab.config, &format!("\"{o}\"")),
        &[
            &format!("tmux is not safe to run: {o}: not trusted: is writable by group or other"),
            &format!("fix: chmod go-w {o}"),
        ],
    );
    lab.write_config_text(&original);
    assert_passes(&lab);
}
