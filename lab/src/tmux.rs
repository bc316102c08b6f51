//! Host tmux servers and shares, and what their panes and clients show.

use super::*;

impl Lab {
    /// Starts `session` in a new tmux server owned by `host`, on
    /// `<lab>/sockets/<host>/<session>.sock`, and shares it in the host's
    /// file. One server per shared session, as DESIGN.md asks.
    pub fn share(&mut self, host: &str, session: &str, rw: &[&str], ro: &[&str]) -> Shared {
        let socket = self.start_tmux(host, &format!("{session}.sock"), session);
        self.share_socket(host, session, &socket, rw, ro, None)
    }

    /// Adds a `[sessions.NAME]` entry to `hosts.d/<host>.toml` without starting
    /// anything (the socket may hold other sessions, or none).
    pub fn share_socket(
        &mut self,
        host: &str,
        session: &str,
        socket: &Path,
        rw: &[&str],
        ro: &[&str],
        expires: Option<&str>,
    ) -> Shared {
        let shared = Shared {
            host: host.to_string(),
            name: session.to_string(),
            socket: socket.to_path_buf(),
            read_write: rw.iter().map(|s| s.to_string()).collect(),
            read_only: ro.iter().map(|s| s.to_string()).collect(),
            expires: expires.map(str::to_string),
        };
        self.shares.push(shared.clone());
        self.write_host_file(host);
        shared
    }

    /// Starts tmux session `session` as `host` on `<lab>/sockets/<host>/<socket_name>`,
    /// starting the server if needed, and returns the socket path. The pane
    /// runs /bin/sh with the prompt [`prompt`]`(session, host)`.
    pub fn start_tmux(&mut self, host: &str, socket_name: &str, session: &str) -> PathBuf {
        let socket = self.dir.join("sockets").join(host).join(socket_name);
        let fresh = !self.servers.iter().any(|s| s.socket == socket);
        let ps1 = format!("PS1={}", prompt(session, host));
        let out = self.tmux_as(
            host,
            &socket,
            &[
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "120",
                "-y",
                "30",
                "-c",
                "/",
                "-e",
                &ps1,
                "/bin/sh",
            ],
        );
        assert!(out.status.success(), "tmux new-session {session}: {out:?}");
        if fresh {
            fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
            let out = self.tmux_as(host, &socket, &["server-access", "-a", "-w", &self.pair]);
            assert!(out.status.success(), "tmux server-access: {out:?}");
            let out = self.tmux_as(host, &socket, &["display-message", "-p", "#{pid}"]);
            let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
            self.servers.push(TmuxServer {
                host: host.to_string(),
                socket: socket.clone(),
                pid,
            });
        }
        let want = prompt(session, host);
        let shown = poll(WAIT, || {
            self.capture_pane_at(&socket, session)
                .contains(want.trim_end())
                .then_some(())
        });
        assert!(
            shown.is_some(),
            "the prompt of tmux session {session} never showed"
        );
        socket
    }

    /// The host whose tmux server listens on `socket`: the one the lab
    /// started or adopted it for, else the socket file's owner when that is
    /// one of the lab's accounts (a server `pairshell share` started).
    pub(crate) fn owner_of(&self, socket: &Path) -> String {
        if let Some(s) = self.servers.iter().find(|s| s.socket == socket) {
            return s.host.clone();
        }
        self.lab_user_owning(socket)
            .unwrap_or_else(|| panic!("no lab tmux server on {}", socket.display()))
    }

    /// The lab account that owns `path`, if any.
    pub(crate) fn lab_user_owning(&self, path: &Path) -> Option<String> {
        let uid = fs::symlink_metadata(path).ok()?.uid();
        let user = User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
        self.users.contains(&user.name).then_some(user.name)
    }

    /// Registers the tmux server on `socket` (started by someone else, e.g.
    /// `pairshell share` run as `host`) as a lab server: [`Lab::owner_of`]
    /// and the helpers built on it know it, and Drop kills it by its pid.
    pub fn adopt_server(&mut self, host: &str, socket: &Path) {
        if self.servers.iter().any(|s| s.socket == socket) {
            return;
        }
        let out = self.tmux_as(host, socket, &["display-message", "-p", "#{pid}"]);
        assert!(
            out.status.success(),
            "no tmux server of {host} on {}: {out:?}",
            socket.display()
        );
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
        self.servers.push(TmuxServer {
            host: host.to_string(),
            socket: socket.to_path_buf(),
            pid,
        });
    }

    /// The session `pairshell share SESSION` runs for `host`, on
    /// `sockets_dir/HOST/SESSION.sock`, with its server adopted. Its
    /// `read_write`/`read_only` lists are left empty: the host file is the
    /// truth, and tests read it.
    pub fn adopt_share(&mut self, host: &str, session: &str) -> Shared {
        let socket = self.host_socket(host, session);
        self.adopt_server(host, &socket);
        Shared {
            host: host.to_string(),
            name: session.to_string(),
            socket,
            read_write: Vec::new(),
            read_only: Vec::new(),
            expires: None,
        }
    }

    /// A throwaway host account set up the supported way: `pairshell host
    /// add`, run by root.
    pub fn enable_host(&mut self) -> String {
        let host = self.add_host_account();
        let run = self.pairshell_root(&["host", "add", &host]);
        assert!(run.success(), "host add {host}: {run}");
        host
    }

    /// `pairshell share SESSION ARGS… --detach` as `host`, which must
    /// succeed; returns its output and the session (server adopted by the
    /// lab, prompt set so [`Lab::attach`] can see it).
    pub fn share_as(&mut self, host: &str, session: &str, args: &[&str]) -> (Run, Shared) {
        let run = self.share_run(host, session, args);
        assert!(run.success(), "share {session} {args:?}: {run}");
        let shared = self.adopt_share(host, session);
        self.set_prompt(&shared);
        (run, shared)
    }

    /// `pairshell share SESSION ARGS… --detach` as `host`, whatever it returns.
    pub fn share_run(&self, host: &str, session: &str, args: &[&str]) -> Run {
        let mut argv = vec!["share", session];
        argv.extend_from_slice(args);
        argv.push("--detach");
        self.pairshell_as(host, &argv)
    }

    /// Adds `allow_other_sessions = true` to `[sessions.SESSION]` of the
    /// host's file, by hand (no command writes it).
    pub fn allow_other_sessions(&self, host: &str, session: &str) {
        let path = self.host_file(host);
        let text = fs::read_to_string(&path).unwrap();
        let mut edited = String::new();
        let mut found = false;
        for line in text.lines() {
            edited.push_str(line);
            edited.push('\n');
            let header = line.split('#').next().unwrap_or("").trim();
            if !found && header.starts_with("[sessions.") && header.contains(session) {
                edited.push_str("allow_other_sessions = true\n");
                found = true;
            }
        }
        assert!(found, "no [sessions.{session}] in:\n{text}");
        fs::write(&path, edited).unwrap();
    }

    /// The host starts a second session, `other`, on the shared server, with
    /// a line of output ([`OTHER_MARKER`]) no guest may ever see.
    pub fn start_other_session(&self, api: &Shared) {
        let out = self.tmux_as(
            &api.host,
            &api.socket,
            &["new-session", "-d", "-s", "other", "-x", "80", "-y", "24"],
        );
        assert!(out.status.success(), "new-session other: {out:?}");
        // Type only once the shell is up, so its output is a line of its own.
        let ready = poll(WAIT, || {
            self.capture_pane_at(&api.socket, "other")
                .contains('$')
                .then_some(())
        });
        assert!(ready.is_some(), "the shell in `other` never prompted");
        for keys in [&["-l", "echo other-marker-$((6*7))"][..], &["Enter"][..]] {
            let mut args = vec!["send-keys", "-t", "=other:"];
            args.extend_from_slice(keys);
            let out = self.tmux_as(&api.host, &api.socket, &args);
            assert!(out.status.success(), "{out:?}");
        }
        let shown = poll(WAIT, || {
            self.capture_pane_at(&api.socket, "other")
                .lines()
                .any(|l| l.trim_end() == OTHER_MARKER)
                .then_some(())
        });
        assert!(
            shown.is_some(),
            "{}",
            self.capture_pane_at(&api.socket, "other")
        );
    }

    /// Makes the pane of `s` (a shell the lab did not start) show the lab's
    /// [`prompt`], typed by the host, so [`Lab::attach`] can tell when a
    /// guest sees it.
    pub fn set_prompt(&self, s: &Shared) {
        let p = prompt(&s.name, &s.host);
        self.host_types_line(s, &format!("PS1='{p}'"));
        assert!(
            self.wait_pane_line(s, p.trim_end()),
            "the prompt {p:?} never showed in {}:\n{}",
            s.label(),
            self.capture_pane(s)
        );
    }

    /// The host's own tmux client, `tmux -S SOCKET attach -t =SESSION` run as
    /// `host` (with its groups) in a pty, returned once the server lists it.
    /// Its [`Tty`] keeps everything tmux drew, status-line messages included.
    pub fn host_tty(&self, host: &str, socket: &Path, session: &str) -> Tty {
        let host_clients = || {
            self.list_clients_at(socket)
                .into_iter()
                .filter(|c| c.user == host)
                .map(|c| c.pid)
                .collect::<Vec<_>>()
        };
        let before = host_clients();
        let mut cmd = self.command_as(host, Path::new(TMUX));
        cmd.arg("-S")
            .arg(socket)
            .args(["attach", "-t", &format!("={session}")]);
        let mut tty = Tty::spawn(&format!("tmux attach as {host} to {session}"), cmd);
        let attached = poll(WAIT, || {
            host_clients()
                .into_iter()
                .any(|pid| !before.contains(&pid))
                .then_some(())
        });
        if attached.is_none() {
            tty.wait_exit(Duration::from_secs(1));
            panic!(
                "{host}'s tmux client never attached to {session} on {}:\n{}",
                socket.display(),
                tty.text()
            );
        }
        tty
    }

    /// Runs tmux as `host` against `socket`, with a clean environment.
    pub fn tmux_as(&self, host: &str, socket: &Path, args: &[&str]) -> Output {
        let (uid, gid) = ids(host);
        Command::new(TMUX)
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(socket)
            .args(args)
            .env_clear()
            .env("PATH", PATH_ENV)
            .env("HOME", "/")
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// The visible pane plus its history, as the host sees it.
    pub fn capture_pane(&self, s: &Shared) -> String {
        self.capture_pane_at(&s.socket, &s.name)
    }

    pub fn capture_pane_at(&self, socket: &Path, session: &str) -> String {
        let host = self.owner_of(socket);
        let target = format!("={session}:");
        let out = self.tmux_as(
            &host,
            socket,
            &["capture-pane", "-p", "-J", "-S", "-", "-t", &target],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The clients attached to the server on `socket`.
    pub fn list_clients_at(&self, socket: &Path) -> Vec<Client> {
        let host = self.owner_of(socket);
        let out = self.tmux_as(
            &host,
            socket,
            &[
                "list-clients",
                "-F",
                "#{client_user}\t#{client_readonly}\t#{client_session}\t#{client_pid}\t#{client_name}",
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 5).then(|| Client {
                    user: f[0].to_string(),
                    readonly: f[1] == "1",
                    session: f[2].to_string(),
                    pid: f[3].parse().unwrap_or(0),
                    name: f[4].to_string(),
                })
            })
            .collect()
    }

    pub fn list_clients(&self, s: &Shared) -> Vec<Client> {
        self.list_clients_at(&s.socket)
    }

    /// The pair account's clients on the server of `s`.
    pub fn pair_clients(&self, s: &Shared) -> Vec<Client> {
        self.list_clients(s)
            .into_iter()
            .filter(|c| c.user == self.pair)
            .collect()
    }

    /// Waits until the pair account has a client on `s`'s server and returns it.
    pub fn wait_pair_client(&self, s: &Shared) -> Option<Client> {
        poll(WAIT, || self.pair_clients(s).into_iter().next())
    }

    /// Waits until the pair account has no client left on `s`'s server.
    pub fn wait_no_pair_client(&self, s: &Shared) -> bool {
        poll(WAIT, || self.pair_clients(s).is_empty().then_some(())).is_some()
    }

    /// Types into the pane as its host (`send-keys`), then presses Enter.
    pub fn host_types_line(&self, s: &Shared, line: &str) {
        let target = format!("={}:", s.name);
        let out = self.tmux_as(
            &s.host,
            &s.socket,
            &["send-keys", "-t", &target, "-l", line],
        );
        assert!(out.status.success(), "send-keys: {out:?}");
        let out = self.tmux_as(&s.host, &s.socket, &["send-keys", "-t", &target, "Enter"]);
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Moves a pair-account client to `session` as the host would
    /// (`switch-client`): what the server's hooks must undo.
    pub fn host_moves_client(&self, s: &Shared, client: &Client, session: &str) {
        let target = format!("={session}");
        let out = self.tmux_as(
            &s.host,
            &s.socket,
            &["switch-client", "-c", &client.name, "-t", &target],
        );
        assert!(out.status.success(), "switch-client: {out:?}");
    }

    /// Asserts that `line` never reaches the pane of `s`: first the host
    /// types a sentinel and waits for its output, so everything typed
    /// before has been through the shell by then.
    pub fn pane_never_shows(&self, s: &Shared, line: &str) {
        let sentinel = format!("sentinel-{}", std::process::id());
        self.host_types_line(s, &format!("echo {sentinel}"));
        assert!(
            self.wait_pane_line(s, &sentinel),
            "the host's own sentinel never reached the pane:\n{}",
            self.capture_pane(s)
        );
        let pane = self.capture_pane(s);
        assert!(
            !pane.lines().any(|l| l.trim_end() == line),
            "{line:?} reached the host's pane:\n{pane}"
        );
    }

    /// Waits until some line of the pane equals `line` exactly (an output line,
    /// not the command line that typed it).
    pub fn wait_pane_line(&self, s: &Shared, line: &str) -> bool {
        poll(WAIT, || {
            self.capture_pane(s)
                .lines()
                .any(|l| l.trim_end() == line)
                .then_some(())
        })
        .is_some()
    }

    // -- sshd ------------------------------------------------------------------
}
