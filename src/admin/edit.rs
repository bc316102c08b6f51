//! `pairshell edit`: the visudo of pairshell. Root edits the main config,
//! a host their own file, in a checked copy that is installed only when it
//! would refuse no login and widen nothing (README's "Editing the config").

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::admin::check;
use crate::audit::{Audit, Event};
use crate::config::{self, host_file::replace_whole, main_file::LockedMain, MAX_HOST};
use crate::core::error::{failure, Failure};
use crate::sys::trust::{self, Owner};

/// `pairshell edit`: the main config as root, the host's own file otherwise.
///
/// A typo in a hand edit of the main config refuses every guest's login, and
/// a hand edit leaves the lookup index stale. So root edits the config the
/// way visudo edits sudoers: the admin commands' lock is taken (and held
/// while the editor is open), a copy is opened in `$VISUAL`, `$EDITOR` or
/// `sensible-editor`, and on save the copy is checked with `check`'s rules
/// ([`check::main_text_problems`]). Each problem is shown with
/// `FILE:LINE:COLUMN`, and the admin chooses: edit again, or leave the
/// installed file as it was. Only a copy the checks pass is installed,
/// atomically, with the old file's owner and mode; then the index is
/// rebuilt.
///
/// A problem the file had before the edit is shown but not held against it
/// ([`check::problem_key`]): the edit must not make things worse, and an
/// admin cannot be kept from fixing one thing because a host's file has
/// another.
pub(crate) fn run(config_path: Option<&Path>) -> Result<(), Failure> {
    let path = config::main_path(config_path);
    if nix::unistd::geteuid().is_root() {
        edit_main(&path)
    } else {
        edit_host(&path)
    }
}

/// What the checks said of one edited text.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdict {
    /// Brought in by the edit: it is not installed while there are any.
    new: Vec<String>,
    /// There before the edit too: shown, not held against it.
    old: Vec<String>,
}

/// Split the edited text's problems into those the edit brought in and
/// those the file already had. A text that does not parse is all new.
fn judge(edited: Result<Vec<String>, String>, before: &Result<Vec<String>, String>) -> Verdict {
    let problems = match edited {
        Ok(p) => p,
        Err(e) => {
            return Verdict {
                new: vec![e],
                old: Vec::new(),
            }
        }
    };
    let had: Vec<String> = match before {
        Ok(p) => p.iter().map(|p| check::problem_key(p)).collect(),
        Err(_) => Vec::new(),
    };
    let (old, new) = problems
        .into_iter()
        .partition(|p| had.contains(&check::problem_key(p)));
    Verdict { new, old }
}

/// What the person chose after seeing the problems.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    EditAgain,
    Leave,
}

/// `e`/`edit` (or just Enter) edits again; `q`/`x`/`quit`/`exit`, end of
/// input or anything unreadable leaves the installed file as it was.
fn parse_choice(answer: Option<&str>) -> Option<Choice> {
    match answer.map(|a| a.trim().to_ascii_lowercase()) {
        None => Some(Choice::Leave),
        Some(a) => match a.as_str() {
            "" | "e" | "edit" => Some(Choice::EditAgain),
            "q" | "x" | "quit" | "exit" => Some(Choice::Leave),
            _ => None,
        },
    }
}

/// Ask until the answer is one of the choices.
fn ask(installed: &Path) -> Choice {
    let stdin = std::io::stdin();
    loop {
        eprint!(
            "What now? (e)dit again, or (q)uit and leave {} as it was [e]: ",
            installed.display()
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let answer = match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.as_str()),
        };
        if answer.is_none() {
            eprintln!();
        }
        if let Some(choice) = parse_choice(answer) {
            return choice;
        }
    }
}

/// The editor to run: `$VISUAL`, `$EDITOR`, else `sensible-editor`
/// (Debian's choice of the user's editor), else `vi`.
fn editor(visual: Option<String>, editor: Option<String>, sensible: bool) -> String {
    [visual, editor]
        .into_iter()
        .flatten()
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| if sensible { "sensible-editor" } else { "vi" }.to_string())
}

/// Run the editor on `file`, as git does: through `sh`, so `EDITOR="code
/// -w"` works, with the file as `"$@"` (never pasted into the command).
fn run_editor(file: &Path) -> Result<(), Failure> {
    let var = |name: &str| std::env::var(name).ok();
    let sensible = Path::new("/usr/bin/sensible-editor").exists();
    let editor = editor(var("VISUAL"), var("EDITOR"), sensible);
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(file)
        .status()
        .map_err(|e| format!("cannot run the editor ({editor}): {e}"))?;
    if !status.success() {
        return Err(failure!("the editor ({editor}) failed: {status}"));
    }
    Ok(())
}

/// A private copy of `text` named like `name`, in a fresh directory only
/// this user can enter (`mkdtemp` under `$TMPDIR`, else `/tmp`). Removed
/// when dropped, unless kept. Guards against: someone else swapping the
/// copy between the editor and the check.
struct Copy {
    dir: PathBuf,
    file: PathBuf,
    keep: bool,
}

impl Copy {
    fn new(name: &str, text: &str) -> Result<Copy, Failure> {
        let tmp = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let dir = nix::unistd::mkdtemp(&tmp.join("pairshell-edit.XXXXXX"))
            .map_err(|e| format!("cannot make a directory in {}: {e}", tmp.display()))?;
        let file = dir.join(name);
        let copy = Copy {
            dir,
            file,
            keep: false,
        };
        let mut f = crate::sys::fs::no_follow()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy.file)
            .map_err(|e| format!("{}: {e}", copy.file.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", copy.file.display()))?;
        Ok(copy)
    }

    /// The copy as the editor left it (editors often write a new file and
    /// rename it over the old one, so it is opened by name again).
    fn read(&self) -> Result<String, Failure> {
        let shown = self.file.display();
        let f = crate::sys::fs::no_follow()
            .read(true)
            .open(&self.file)
            .map_err(|e| format!("{shown}: {e}"))?;
        let meta = f.metadata().map_err(|e| format!("{shown}: {e}"))?;
        if !meta.is_file() || meta.len() > 64 << 20 {
            return Err(failure!("{shown}: not a regular file of a config's size"));
        }
        let mut text = String::new();
        (&f).read_to_string(&mut text)
            .map_err(|e| format!("{shown}: {e}"))?;
        Ok(text)
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.file);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// How an editing session ended.
enum Outcome {
    /// Nothing changed.
    Unchanged,
    /// The checks passed on this text.
    Checked(String),
}

/// Edit `copy` until its text passes `check`, or the person gives up.
fn edit_until_clean(
    copy: &mut Copy,
    original: &str,
    installed: &Path,
    check: impl Fn(&str) -> Result<Vec<String>, String>,
) -> Result<Outcome, Failure> {
    let before = check(original);
    loop {
        run_editor(&copy.file)?;
        let text = copy.read()?;
        if text == original {
            return Ok(Outcome::Unchanged);
        }
        let verdict = judge(check(&text), &before);
        for p in &verdict.old {
            println!("pairshell: note: already so before this edit: {p}");
        }
        if verdict.new.is_empty() {
            return Ok(Outcome::Checked(text));
        }
        for p in &verdict.new {
            eprintln!("pairshell: {p}");
        }
        if ask(installed) == Choice::Leave {
            copy.keep = true;
            return Err(failure!(
                "{} left as it was ({} in the edit, which is kept in {})",
                installed.display(),
                count(verdict.new.len(), "problem"),
                copy.file.display()
            ));
        }
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Root: the main config, like visudo.
fn edit_main(path: &Path) -> Result<(), Failure> {
    let locked = LockedMain::open(path).map_err(Failure::from)?;
    let installed = locked.path().to_path_buf();
    let original = locked.text().to_string();
    let name = installed
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pairshell.toml".into());
    let mut copy = Copy::new(&name, &original)?;
    let shown = copy.file.clone();
    let outcome = edit_until_clean(&mut copy, &original, &installed, |text| {
        check::main_text_problems(&shown, text, &installed)
    })?;
    let text = match outcome {
        Outcome::Unchanged => {
            println!(
                "pairshell: no changes; {} left as it was",
                installed.display()
            );
            return Ok(());
        }
        Outcome::Checked(text) => text,
    };
    let config = locked.install(&text).map_err(|e| {
        copy.keep = true;
        format!("{e}; your edit is kept in {}", copy.file.display())
    })?;
    println!("pairshell: installed {}", installed.display());
    crate::admin::hosts::reindex(&installed);
    let mut audit = Audit::new(&config.audit.syslog_socket, config.audit.required);
    audit.write_best_effort(
        Event::new("edit")
            .field("file", installed.display().to_string())
            .field("by", "root"),
    );
    Ok(())
}

/// A host: their own file in `hosts_dir`, under `share`'s lock, checked
/// with [`check::host_text_problems`] and written in place only if nobody
/// changed it meanwhile. Nothing here is privileged: a host runs it as
/// themselves and could edit the file by hand; what the checks add is that
/// the result never widens anything beyond the host's own sessions and
/// never breaks a login.
fn edit_host(path: &Path) -> Result<(), Failure> {
    let uid = nix::unistd::getuid();
    let login = crate::sys::accounts::user_by_uid(uid)
        .map(|u| u.name)
        .ok_or_else(|| format!("uid {uid} has no name on this system"))?;
    let (main_path, config) = config::load_main(path).map_err(Failure::from)?;
    let file = config::host_path(&config.hosts_dir, &login);
    let original = match trust::read_trusted(&file, Owner::UserOrRoot(uid), MAX_HOST) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => {
            return Err(failure!(
                "{login} is not set up as a pairshell host (there is no {}); ask an admin to \
                 run `sudo pairshell host add {login}`; as root, `pairshell edit` edits the \
                 main config",
                file.display()
            ))
        }
        Err(e) => return Err(Failure::from(e.to_string())),
    };
    let mut copy = Copy::new(&format!("{login}.toml"), &original)?;
    let shown = copy.file.clone();
    let outcome = edit_until_clean(&mut copy, &original, &file, |text| {
        check::host_text_problems(&config, &main_path, &login, uid, &shown, text)
    })?;
    let text = match outcome {
        Outcome::Unchanged => {
            println!("pairshell: no changes; {} left as it was", file.display());
            return Ok(());
        }
        Outcome::Checked(text) => text,
    };
    replace_whole(&file, uid, &original, &text).map_err(|e| {
        copy.keep = true;
        format!("{e}; your edit is kept in {}", copy.file.display())
    })?;
    println!("pairshell: saved {}", file.display());
    let mut audit = Audit::new(&config.audit.syslog_socket, config.audit.required);
    audit.write_best_effort(
        Event::new("edit")
            .field("file", file.display().to_string())
            .field("host", login),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_is_visual_then_editor_then_sensible_editor() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(editor(s("code -w"), s("vim"), true), "code -w");
        assert_eq!(editor(None, s("vim"), true), "vim");
        assert_eq!(editor(s("  "), s("nano"), true), "nano");
        assert_eq!(editor(None, None, true), "sensible-editor");
        assert_eq!(editor(None, s(""), false), "vi");
    }

    #[test]
    fn answers() {
        assert_eq!(parse_choice(Some("e\n")), Some(Choice::EditAgain));
        assert_eq!(parse_choice(Some("\n")), Some(Choice::EditAgain));
        assert_eq!(parse_choice(Some(" Edit ")), Some(Choice::EditAgain));
        assert_eq!(parse_choice(Some("q\n")), Some(Choice::Leave));
        assert_eq!(parse_choice(Some("exit")), Some(Choice::Leave));
        // End of input (no terminal, a script): never installs, never loops.
        assert_eq!(parse_choice(None), Some(Choice::Leave));
        assert_eq!(parse_choice(Some("yes")), None);
    }

    #[test]
    fn only_problems_the_edit_brought_in_hold_it_back() {
        let before = Ok(vec![
            "/h/maria.toml:4:21: session api grants carol, who is not a guest".to_string(),
            "/tmp/x/pairshell.toml:9:1: guest bob expired on 2020-01-01T00:00:00Z".to_string(),
        ]);
        // Lines moved (bob's table is two lines lower), carol is still
        // granted, and the edit brought in a shared key.
        let after = Ok(vec![
            "/h/maria.toml:4:21: session api grants carol, who is not a guest".to_string(),
            "/tmp/x/pairshell.toml:11:1: guest bob expired on 2020-01-01T00:00:00Z".to_string(),
            "/tmp/x/pairshell.toml:3:9: guests alice and bob share key SHA256:x".to_string(),
        ]);
        let v = judge(after, &before);
        assert_eq!(
            v.new,
            ["/tmp/x/pairshell.toml:3:9: guests alice and bob share key SHA256:x"]
        );
        assert_eq!(v.old.len(), 2);
        // A text that does not parse is held back whatever came before.
        let v = judge(Err("/tmp/x/p.toml:1:5: expected `=`".into()), &before);
        assert_eq!(v.new.len(), 1);
        // Nothing is "old" when the installed file did not parse either.
        let v = judge(Ok(vec!["/f:1:1: x".into()]), &Err("/f:1:1: y".into()));
        assert_eq!(v.new.len(), 1);
    }
}
