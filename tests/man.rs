//! The committed man pages and shell completions must be what the clap
//! definition generates, so `--help`, `man pairshell` and Tab never drift
//! apart. Regenerate both with: `UPDATE_MAN=1 cargo test --test man`.

use std::path::{Path, PathBuf};

/// (file name, page) for the top-level command and each visible subcommand.
fn generated() -> Vec<(String, String)> {
    let cmd = pairshell::cli_command();
    let mut pages = vec![("pairshell.1".to_string(), render(cmd.clone()))];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap names are &'static str; a test process may leak a few.
        let name: &'static str = format!("pairshell-{}", sub.get_name()).leak();
        let sub = sub.clone().name(name).display_name(name);
        pages.push((format!("{name}.1"), render(sub)));
    }
    pages
}

fn render(cmd: clap::Command) -> String {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .expect("render man page");
    String::from_utf8(out).expect("man page is UTF-8")
}

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

#[test]
fn committed_man_pages_match_cli_definition() {
    let update = std::env::var_os("UPDATE_MAN").is_some();
    for (file, want) in generated() {
        let path = man_dir().join(&file);
        if update {
            std::fs::write(&path, &want).expect("write man page");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "man/{file} is out of date with src/cli/mod.rs; run `UPDATE_MAN=1 cargo test --test man`"
        );
    }
}

/// (path under `contrib/completions/`, script) for each shell, from the
/// same definition as the man pages.
fn completions() -> Vec<(&'static str, String)> {
    use clap_complete::Shell;
    let mut cmd = for_people(pairshell::cli_command());
    [
        (Shell::Bash, "pairshell.bash"),
        (Shell::Zsh, "_pairshell"),
        (Shell::Fish, "pairshell.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "pairshell", &mut out);
        (
            file,
            String::from_utf8(out).expect("completion script is UTF-8"),
        )
    })
    .collect()
}

/// The command without its hidden subcommands. clap_complete offers hidden
/// subcommands too, and `hook` and `exec-client` are run by tmux and by
/// pairshell itself, never typed; clap has no way to remove a subcommand, so
/// the command is rebuilt from its visible parts.
fn for_people(cmd: clap::Command) -> clap::Command {
    let rebuilt = clap::Command::new("pairshell")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    match cmd.get_about() {
        Some(about) => rebuilt.about(about.clone()),
        None => rebuilt,
    }
}

#[test]
fn committed_completions_match_cli_definition() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/completions");
    let update = std::env::var_os("UPDATE_MAN").is_some();
    if update {
        std::fs::create_dir_all(&dir).expect("create contrib/completions");
    }
    for (file, want) in completions() {
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &want).expect("write completion script");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "contrib/completions/{file} is out of date with src/cli/mod.rs; run `UPDATE_MAN=1 cargo test --test man`"
        );
    }
}

#[test]
fn completions_offer_the_subcommands_people_type() {
    for (file, script) in completions() {
        for sub in ["share", "grant", "who", "check"] {
            assert!(script.contains(sub), "{file} does not complete {sub}");
        }
        // Internal subcommands are for sshd and tmux hooks, not for Tab.
        assert!(
            !script.contains("exec-client"),
            "{file} offers the internal exec-client"
        );
    }
}

#[test]
fn file_format_page_documents_every_field() {
    let page =
        std::fs::read_to_string(man_dir().join("pairshell.toml.5")).expect("man/pairshell.toml.5");
    for field in [
        "pair_user",
        "tmux",
        "hosts_dir",
        "syslog_socket",
        "required",
        "keys",
        "expires",
        "socket",
        "read_write",
        "read_only",
        "sockets_dir",
        "socket_group",
        "tmpfiles",
        "guest_expires",
        "allow_other_sessions",
        "github_keys_url",
        "github_timeout_s",
        "github",
        "github_keys",
        "allow_unconfined_read_write",
        "principals",
        "trusted_user_ca_keys",
        "invite_max",
        "ask",
        "presence",
        "on_host_leave",
    ] {
        assert!(
            page.contains(field),
            "pairshell.toml.5 does not mention {field}"
        );
    }
}
