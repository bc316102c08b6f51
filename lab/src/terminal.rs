//! Lab helpers for the terminal tests (`tests/terminal.rs`): a person's
//! screen, played by an *outer* tmux server that runs ssh (or a host's
//! `pairshell share`) in its pane, so a test reads what that person's
//! terminal shows after tmux has drawn (`capture-pane`), and what it was
//! asked to put on the clipboard (OSC 52 lands in the outer server's paste
//! buffers with `set-clipboard on`).
//!
//! The outer server is root's, on a socket in the lab directory, started
//! with `-f /dev/null` and `-u` (it reads every screen as UTF-8); Drop kills
//! it. Its pane command starts from an empty environment plus what the test
//! names, so TERM and the locale are exactly what a test says a guest's
//! terminal has.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ids, poll, shell_quote, Guest, Lab, LAB_COUNTER, PATH_ENV, SETPRIV, TMUX, WAIT};

/// The size of every screen: wide enough for the longest message.
pub const COLS: u16 = 160;
pub const ROWS: u16 = 30;

/// One person's terminal: the only pane of an outer tmux server.
pub struct Screen {
    name: String,
    socket: PathBuf,
}

impl Screen {
    /// Runs `argv` in a new outer tmux server's pane, `COLS`x`ROWS`, with
    /// only `env` (and `PATH`) in its environment. The pane stays after the
    /// program exits, so what it printed last can still be read.
    pub fn start(lab: &Lab, name: &str, env: &[(&str, &str)], argv: &[String]) -> Screen {
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let socket = lab.dir.join(format!("screen-{n}.sock"));
        let screen = Screen {
            name: name.to_string(),
            socket,
        };
        let mut command = vec![
            "/usr/bin/env".to_string(),
            "-i".to_string(),
            format!("PATH={PATH_ENV}"),
        ];
        command.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        command.extend(argv.iter().cloned());
        let (cols, rows) = (COLS.to_string(), ROWS.to_string());
        let mut args: Vec<&str> = vec![
            "start-server",
            ";",
            "set-option",
            "-s",
            "set-clipboard",
            "on",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "status",
            "off",
            ";",
            "new-session",
            "-d",
            "-s",
            "screen",
            "-x",
            &cols,
            "-y",
            &rows,
            "--",
        ];
        args.extend(command.iter().map(String::as_str));
        let out = screen.tmux(&args);
        assert!(
            out.status.success(),
            "{name}: outer tmux did not start: {out:?}"
        );
        screen
    }

    /// tmux (UTF-8, no config) on this screen's server, as root.
    fn tmux(&self, args: &[&str]) -> Output {
        Command::new(TMUX)
            .arg("-u")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .expect("run the outer tmux")
    }

    /// What the screen shows now, one line per row, trailing blanks cut.
    pub fn text(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "=screen:"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The screen's bottom row (tmux's status line, for a tmux client).
    pub fn bottom_line(&self) -> String {
        let text = self.text();
        let rows: Vec<&str> = text.lines().collect();
        // capture-pane drops trailing empty rows; pad back to ROWS.
        if rows.len() < usize::from(ROWS) {
            String::new()
        } else {
            rows[usize::from(ROWS) - 1].to_string()
        }
    }

    /// Waits until `pred` holds of the screen; panics with it otherwise.
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let shown = poll(timeout, || pred(&self.text()).then_some(()));
        assert!(
            shown.is_some(),
            "{}: {what} never showed; the screen:\n{}",
            self.name,
            self.text()
        );
    }

    /// Waits until some row of the screen equals `line` (trailing blanks
    /// aside).
    pub fn wait_line(&self, line: &str) {
        self.wait_until(&format!("{line:?}"), WAIT, |t| t.lines().any(|l| l == line));
    }

    /// The contents of every paste buffer of the outer server: what
    /// programs in the pane put on "the clipboard" with OSC 52.
    pub fn clipboard(&self) -> Vec<String> {
        let out = self.tmux(&["list-buffers", "-F", "#{buffer_name}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|name| {
                let out = self.tmux(&["show-buffer", "-b", name]);
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect()
    }

    /// Types `keys` (tmux key names, e.g. `C-b`, `d`) into the pane.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.tmux(&["send-keys", "-t", "=screen:", key]);
            assert!(out.status.success(), "send-keys {key}: {out:?}");
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Whether the program in the pane has exited.
    pub fn exited(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "-t", "=screen:", "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- screen of {} -----\n{}\n----------",
                self.name,
                self.text()
            );
        }
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Lab {
    /// `ssh -t` as `guest` asking for `request`, on a screen whose terminal
    /// says it is `term`. The ssh client sends no locale (as PuTTY and
    /// `ssh -F none` send none) unless `send` names one: each `(NAME,
    /// VALUE)` goes as `-o SetEnv=NAME=VALUE`.
    pub fn guest_screen(
        &self,
        guest: &Guest,
        request: Option<&str>,
        term: &str,
        send: &[(&str, &str)],
    ) -> Screen {
        let set_env: Vec<String> = send
            .iter()
            .flat_map(|(k, v)| ["-o".to_string(), format!("SetEnv={k}={v}")])
            .collect();
        let mut extra: Vec<&str> = set_env.iter().map(String::as_str).collect();
        extra.push("-t");
        let mut argv = vec!["/usr/bin/ssh".to_string()];
        argv.extend(self.ssh_args(&guest.key, &extra, request));
        let env = [("TERM", term), ("HOME", "/root")];
        Screen::start(self, &format!("ssh -t as {}", guest.name), &env, &argv)
    }

    /// `pairshell --config <lab config> ARGS…` as `host` (with the host's
    /// groups, as a login gives them) on a screen of its own, an
    /// xterm-256color terminal in a UTF-8 locale.
    pub fn host_screen(&self, host: &str, args: &[&str]) -> Screen {
        let mut argv = vec![
            self.bin.display().to_string(),
            "--config".to_string(),
            self.config.display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.user_screen(host, &argv)
    }

    /// The host's own tmux client on `socket`, attached to `session`, on a
    /// screen of its own.
    pub fn host_tmux_screen(&self, host: &str, socket: &Path, session: &str) -> Screen {
        let argv = [
            TMUX.to_string(),
            "-S".to_string(),
            socket.display().to_string(),
            "attach-session".to_string(),
            "-t".to_string(),
            format!("={session}"),
        ];
        self.user_screen(host, &argv)
    }

    /// `argv` as `user` (with the user's groups) on a screen of its own.
    fn user_screen(&self, host: &str, program: &[String]) -> Screen {
        let (uid, gid) = ids(host);
        let mut argv = vec![
            SETPRIV.to_string(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--init-groups".to_string(),
            "--".to_string(),
        ];
        argv.extend(program.iter().cloned());
        let args: Vec<&str> = program.iter().skip(1).map(String::as_str).collect();
        let env = [
            ("TERM", "xterm-256color"),
            ("LANG", "C.UTF-8"),
            ("HOME", "/"),
            ("USER", host),
            ("LOGNAME", host),
        ];
        Screen::start(self, &format!("{} as {host}", args.join(" ")), &env, &argv)
    }

    /// A shell command line that runs `pairshell ARGS…` as `host`, for the
    /// demo's printed instructions (what a person pastes as root).
    pub fn host_command_line(&self, host: &str, args: &[&str]) -> String {
        let mut words = vec![
            "runuser".to_string(),
            "-u".to_string(),
            host.to_string(),
            "--".to_string(),
            self.bin.display().to_string(),
            "--config".to_string(),
            self.config.display().to_string(),
        ];
        words.extend(args.iter().map(|a| a.to_string()));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What a guest types to join `session`, as `pairshell share` prints
    /// it: `ssh -t PAIR@HOSTNAME SESSION`.
    pub fn guests_line(&self, session: &str) -> String {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "HOST".into());
        format!("ssh -t {}@{hostname} {session}", self.pair)
    }

    /// `#{client_utf8}` of the pair account's client on `socket`.
    pub fn pair_client_utf8(&self, socket: &Path) -> Option<bool> {
        let host = self.owner_of(socket);
        let out = self.tmux_as(
            &host,
            socket,
            &["list-clients", "-F", "#{client_user} #{client_utf8}"],
        );
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let (user, utf8) = l.split_once(' ')?;
            (user == self.pair).then(|| utf8 == "1")
        })
    }
}
