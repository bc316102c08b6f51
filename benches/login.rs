//! `cargo bench --bench login`, as root on a machine with sshd and tmux:
//! what a login costs, on the same lab as the integration tests.
//!
//! 1. Whole processes, timed over many runs after a warm-up, side by side
//!    with `tmux -V` (the floor: starting any small program), interleaved
//!    round by round so drift hits all of them alike, on generated configs
//!    of three sizes (valid ed25519 and rsa keys, so the real parsers run):
//!    - `pairshell authorized-keys` for the last guest's last key and for
//!      an unknown key (sshd's AuthorizedKeysCommand, run as nobody);
//!    - `pairshell login` with `SSH_ORIGINAL_COMMAND=list`, as the pair
//!      account with only `SSH_USER_AUTH` set: the guest's whole decision
//!      path up to where a join would start tmux;
//!    - the peak resident memory of each (this binary re-executes itself as
//!      a wrapper that runs the command once and reads
//!      `getrusage(RUSAGE_CHILDREN)`).
//!
//!    Every run's output is checked, so the figures are also a correctness
//!    test.
//! 2. End-to-end join latency through a real sshd on 127.0.0.1, from
//!    spawning `ssh -tt` to the host's pane showing in ssh's output:
//!    pairshell against the recipe it replaces (a plain account whose
//!    `ForceCommand` is `tmux -S SOCKET attach`), alternating, on the same
//!    sshd, key, tmux server, session and terminal.
//! 3. The terminal once joined, the same two ways, alternating round by
//!    round (the relay puts a hop between sshd's pty and the tmux client,
//!    and this is what it costs):
//!    - typing echo: one letter written to the guest's pty, until the pane
//!      shell's echo of it is back on that pty;
//!    - bulk output: `seq 1 200000` run in the host's pane, until its end
//!      marker reaches the guest's pty.
//!
//!    The guest's terminal is read straight from the pty master (poll, then
//!    read; `lab/src/bench_io.rs`), so the resolution is microseconds.
//!    The echoed letters, the pane's line and the end marker are checked.
//! 4. Load: 50 guests join one session at once and leave again
//!    (`lab/src/load.rs`, which `tests/load.rs` runs with 10).
//!
//! Targets are printed as PASS or FAIL; a missed target never aborts the
//! run. A full run writes `BENCHMARKS.md` at the repository root.
//!
//! Flags: `--quick` for a short run (fewer rounds and keystrokes, 10 load
//! guests, no `BENCHMARKS.md`); cargo's own `--bench` is accepted and
//! ignored. Run without `--bench` (`cargo test --benches`), it does a quick
//! run.

use pairshell_lab as support;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use nix::unistd::User;
use ssh_key::public::{Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{Mpint, PublicKey};

use support::bench_io::RawTty;
use support::load::{self, quantile};
use support::recording;
use support::{Lab, Shared, SshdExtra, UsersLock, WAIT};

const TMUX: &str = "/usr/bin/tmux";
const COMMAND: &str = "cargo bench --bench login";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--maxrss") {
        return maxrss_wrapper(&args[1..]);
    }
    if let Some(other) = args
        .iter()
        .find(|a| !["--bench", "--quick"].contains(&a.as_str()))
    {
        eprintln!("login bench: unknown argument {other:?} (flags: --quick)");
        return ExitCode::from(2);
    }
    // Without cargo bench's `--bench` (cargo test --benches), a quick run.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let plan = if quick { Plan::quick() } else { Plan::full() };
    run(&plan);
    ExitCode::SUCCESS
}

/// How much to run.
struct Plan {
    quick: bool,
    warmup: usize,
    /// Rounds per size: small, large, huge.
    rounds: [usize; 3],
    e2e_warmup: usize,
    e2e_rounds: usize,
    /// Typing and bulk rounds (each side attaches once per round).
    io_warmup: usize,
    io_rounds: usize,
    /// Keystrokes per side per round.
    keys_per_round: usize,
    /// Bulk runs per side per round.
    bulk_per_round: usize,
    load_guests: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            quick: false,
            warmup: 10,
            rounds: [300, 100, 100],
            e2e_warmup: 2,
            e2e_rounds: 40,
            io_warmup: 1,
            io_rounds: 20,
            keys_per_round: 20,
            bulk_per_round: 2,
            load_guests: 50,
        }
    }
    fn quick() -> Plan {
        Plan {
            quick: true,
            warmup: 3,
            rounds: [30, 10, 10],
            e2e_warmup: 1,
            e2e_rounds: 3,
            io_warmup: 0,
            io_rounds: 2,
            keys_per_round: 10,
            bulk_per_round: 1,
            load_guests: 10,
        }
    }
}

fn run(plan: &Plan) {
    let began = Instant::now();
    let machine = machine();
    println!(
        "login bench ({}): {}",
        if plan.quick { "quick" } else { "full" },
        machine.lines().collect::<Vec<_>>().join("; ")
    );

    let mut report = String::new();
    let mut failed = Vec::new();

    // -- 1. single processes on generated configs --------------------------
    {
        let Some(mut lab) = Lab::new() else { return };
        // The pair account's roster directory, as contrib/tmpfiles.d makes it:
        // a login remembers there which stale index it has noted already.
        let roster = lab.sockets_dir().join(".clients");
        if !roster.exists() {
            fs::create_dir(&roster).unwrap();
            chown(&roster, Some(lab.pair_uid), Some(lab.socket_gid)).unwrap();
            fs::set_permissions(&roster, fs::Permissions::from_mode(0o2750)).unwrap();
        }
        let hosts: Vec<String> = (0..SIZES.iter().map(|s| s.hosts).max().unwrap())
            .map(|_| lab.add_host())
            .collect();
        let mut rows = Vec::new();
        for (i, size) in SIZES.iter().enumerate() {
            let t = Instant::now();
            let generated = generate(&lab, size, &hosts);
            // The lookup index, as `guest add` would leave it: authorized-keys
            // and login read it instead of the whole config.
            index(&lab, &generated.config);
            // A copy whose index is stale: indexed, then saved again unchanged,
            // as an admin's hand edit leaves it (same size, new mtime and ctime).
            let stale = size.stale.map(|_| {
                let stale = generated.config.with_file_name("stale.toml");
                let text = fs::read_to_string(&generated.config).unwrap();
                write_owned(&stale, &text, 0o644, (0, 0));
                index(&lab, &stale);
                write_owned(&stale, &text, 0o644, (0, 0));
                stale
            });
            println!(
                "{}: {} guests, {} keys ({} rsa), {} hosts x {} sessions, {} config, written and indexed in {:.1?}",
                size.name,
                size.guests,
                size.guests * size.keys_per_guest,
                generated.rsa_keys,
                size.hosts,
                size.sessions_per_host,
                bytes(generated.config_bytes),
                t.elapsed(),
            );
            let logged = lab.syslog().raw().len();
            // The stale copy in rounds of its own, with its own tmux -V: its
            // 100 ms whole-config reads would otherwise slow the indexed
            // figures' rounds, and the floor with them.
            rows.extend(measure_size(
                &lab,
                size,
                &generated,
                None,
                plan.warmup,
                plan.rounds[i],
            ));
            if let Some(stale) = stale.as_deref() {
                rows.extend(measure_size(
                    &lab,
                    size,
                    &generated,
                    Some(stale),
                    plan.warmup,
                    plan.rounds[i],
                ));
            }
            // authorized-keys and list write nothing; the chooser and the join
            // are refused for want of a terminal, once their decision is made;
            // the stale index is noted once per config version.
            let lines = lab.syslog().raw()[logged..].to_vec();
            let expected = |l: &String| {
                (l.contains("event=deny") && l.contains("reason=no-terminal"))
                    || (stale.is_some() && l.contains("event=index-unused"))
            };
            assert!(
                lines.iter().all(expected),
                "unexpected audit lines:\n{}",
                lines.join("\n")
            );
            let unused = lines
                .iter()
                .filter(|l| l.contains("event=index-unused"))
                .count();
            assert!(
                unused <= 1,
                "index-unused must be written once per config version, not {unused} times"
            );
        }
        let table = micro_table(&rows, &mut failed);
        println!("\n{table}");
        writeln!(
            report,
            "## Single processes\n\n\
             Wall time of one whole process (spawn to exit, output read): {} rounds for \
             small and {} each for large and huge, after {} warm-up rounds; each round runs every \
             command once, in rotating order, `tmux -V` included. `ratio` is the median over \
             `tmux -V`'s median in the same run. `peak RSS` is the largest `ru_maxrss` of 3 \
             runs. authorized-keys runs as nobody (sshd's `AuthorizedKeysCommandUser`), login \
             and `tmux -V` as the pair account; the environment is empty but for \
             `SSH_USER_AUTH` and, for login, `SSH_ORIGINAL_COMMAND`: `list`; unset for the \
             chooser; the last guest's read-write `HOST/SESSION` for the join. With stdin \
             not a terminal, the chooser's and the join's login is refused (`no-terminal`, \
             checked, with its `deny` line, which is part of the time; past 20 a minute, \
             `audit.refusals_per_minute`'s default, the key's refusals are counted in the \
             roster directory rather than sent) at the first step that needs the guest's \
             terminal: for the chooser once every host file is judged and the guest's grants \
             found (before probing the sessions' servers and drawing the menu), for the join \
             once the request is resolved to one grant of that host's file (before the \
             connection cap, the socket's checks and tmux). That is the decision, timed as a \
             whole process. Each config was indexed with `pairshell index` first, as `guest \
             add` leaves it; the stale-index rows use a copy of the large config that was \
             indexed and then saved again unchanged (new mtime and ctime, as a hand edit \
             leaves it), so every login reads the whole config (and notes `index-unused` \
             once, checked); they run in rounds of their own, after the indexed ones, with \
             their own `tmux -V`.\n\n{table}",
            plan.rounds[0], plan.rounds[1], plan.warmup,
        )
        .unwrap();
        drop(lab);
    }

    // -- 2, 3 and 4: through sshd ------------------------------------------
    {
        let Some(mut lab) = Lab::new() else { return };
        let pair = Pairing::set_up(&mut lab);
        let e2e = end_to_end(&lab, &pair, plan.e2e_warmup, plan.e2e_rounds);
        let table = e2e_table(&e2e, &mut failed);
        println!("\n{table}");
        writeln!(
            report,
            "\n## End-to-end join\n\n\
             From spawning `ssh -tt` to the host's pane text in ssh's output (read straight \
             from the pty master, as below), through one sshd on 127.0.0.1, {} rounds each \
             after {} warm-up rounds, alternating (pairshell first in even rounds, the recipe \
             first in odd ones). Same guest ed25519 key, same tmux server and session, same \
             kind of pty (80x24); each round ends with C-b d. The recipe is a plain account \
             whose `Match User` block has `ForceCommand tmux -S SOCKET attach -t SESSION`, \
             with the guest's key in its authorized_keys and the socket opened to it with \
             `server-access -a -w` and the socket group. pairshell's path adds sshd's \
             AuthorizedKeysCommand (`pairshell authorized-keys`), the guest flow (identify, \
             load, decide, audit `join`) and the confinement of the tmux client before the \
             same `tmux attach`. {}\n\n{table}",
            plan.e2e_rounds,
            plan.e2e_warmup,
            if relayed(&lab, &pair) {
                "The tmux client runs on a pty of pairshell's, which relays bytes between it \
                 and sshd's pty (checked in this run: the client's tty is not the one its \
                 parent, pairshell, has as stdin)."
            } else {
                "This binary has no relay: the tmux client runs on sshd's pty (checked in this \
                 run: the client's tty is the one its parent, pairshell, has as stdin)."
            }
        )
        .unwrap();

        let t = Instant::now();
        let rec = Recording::set_up(&mut lab);
        let io = terminal_io(&lab, &pair, &rec, plan);
        recording::disable(&mut lab, RECORD_MODE, RECORD_EXTRA);
        println!(
            "typing and bulk: {:.1?}; {} recordings checked",
            t.elapsed(),
            io.recordings
        );
        let table = io_table(&io, &mut failed);
        println!(
            "typing echo: keystrokes typed again ({})",
            dropped_text(&io)
        );
        println!("\n{table}");
        writeln!(
            report,
            "\n## Typing echo and bulk output\n\n\
             The same sshd, guest key, tmux server, session and kind of pty as the join. \
             {} rounds after {} warm-up round{}; in each, pairshell, pairshell with recording \
             on and the recipe in turn (the order rotating round by round, so each goes \
             first, second and third alike) attach with `ssh -tt`, wait for the pane's \
             prompt and {} ms without output (pairshell draws its join banner after 300), run \
             both figures and leave with C-b d. The \
             guest's terminal is read straight from the pty master: poll(2), then read(2) of \
             up to 64 KiB, each read stamped (`Instant`) as it returns, so the resolution is \
             microseconds. Text is looked for in what the terminal printed (the bytes without \
             escape sequences and control characters), since tmux may move the cursor in the \
             middle of a line it redraws.\n\n\
             - **typing echo**: {} keystrokes per side per round ({} per side), one at a time, \
             each after 5 ms without output: from writing the letter to the guest's pty \
             master to the read in which it is printed. The pane's shell is /bin/sh on the \
             pane's pty, so the echo is the kernel's, drawn by tmux. A keystroke before whose \
             echo anything else was printed (the status line's clock, a redraw) is not counted \
             and another is typed ({}). Checked: the host's pane shows the prompt followed by \
             exactly the letters typed (C-u then clears the line).\n\
             - **bulk output**: the host types `seq 1 {BULK_LINES}; echo bulk-end-$((6*7))-N` \
             into the pane with `tmux send-keys -l`, then sends Enter with another \
             `tmux send-keys` (spawned, not waited for): from that spawn to the read in which \
             `bulk-end-42-N` is printed on the guest's terminal, {} run{} per side per round. \
             Checked: seq's last two lines were printed on the guest's terminal one after the \
             other, and the pane shows the marker line. tmux 3.3 gives up on a client with \
             more than 8 bytes a cell (15 KiB at 80x24) waiting for it: it discards that, \
             checks every 100 ms whether the client has drained, then redraws the whole \
             screen. So a guest receives some 100 KiB of seq's 1.3 MB, this figure moves in \
             steps of tmux's 100 ms timer, and how fast the guest's side drains decides how \
             often it blocks.\n\
             - **recording on**: the same figures with `record = \"{RECORD_MODE}\"` and \
             `{RECORD_EXTRA}` (no cap) in the main config, written before that side joins \
             (and taken out again before the others do); the guest is read-write, so the \
             recorder writes every byte the guest's terminal receives as an `o` event and \
             every keystroke as an `i` event. Its target is on bulk output (issue 16): its \
             median over pairshell's without recording, same rounds. Checked: each recorded \
             join left exactly one new recording, asciicast v2 line by line (read with \
             Python's json), whose output holds that join's bulk markers ({} recordings \
             this run); the joins without recording left none.\n\n{table}",
            plan.io_rounds,
            plan.io_warmup,
            if plan.io_warmup == 1 { "" } else { "s" },
            JOINED_QUIET.as_millis(),
            plan.keys_per_round,
            plan.keys_per_round * plan.io_rounds,
            dropped_text(&io),
            plan.bulk_per_round,
            if plan.bulk_per_round == 1 { "" } else { "s" },
            io.recordings,
        )
        .unwrap();

        let t = Instant::now();
        let outcome = load::run(&mut lab, plan.load_guests);
        println!("load: {} guests in {:.1?}", outcome.guests, t.elapsed());
        let table = load_table(&outcome);
        println!("\n{table}");
        writeln!(
            report,
            "\n## Load\n\n\
             {} guests with distinct keys join one shared session at once through the \
             lab's sshd (`MaxStartups`/`MaxSessions` {}), half read-write, half read-only; \
             while all are attached the host runs a command and every guest sees its \
             output; then all press C-b d. Checked: tmux lists {} clients of the pair \
             account (read-only exactly for the read-only guests), every ssh exits 0, and \
             the syslog receiver holds exactly {} `event=join` and {} `event=leave` lines, \
             one each per guest, each leave with its join's pid and `reason=detached`, \
             every datagram one whole RFC 3164 line, nothing else. Join latency is from \
             spawning that guest's `ssh -tt` to the pane's text in its output; the ssh \
             clients, sshd, pairshell and tmux all share this machine's cores, so joins \
             that start together also finish close together.\n\n{table}",
            outcome.guests,
            (4 * outcome.guests).max(100),
            outcome.guests,
            outcome.guests,
            outcome.guests,
        )
        .unwrap();
    }

    // One entry per case, however many of its figures missed.
    let mut seen = Vec::new();
    failed.retain(|f| {
        let new = !seen.contains(f);
        seen.push(f.clone());
        new
    });
    let total = began.elapsed();
    println!("\nlogin bench: done in {total:.0?}");
    if failed.is_empty() {
        println!("login bench: every target met");
    } else {
        println!("login bench: targets missed: {}", failed.join("; "));
    }
    if plan.quick {
        println!("login bench: quick run, BENCHMARKS.md left as it is");
        return;
    }
    let doc = format!(
        "# Benchmarks\n\n\
         Reproduce, as root on Debian 12 with openssh-server and tmux installed:\n\n\
         ```sh\n{COMMAND}\n```\n\n\
         (`{COMMAND} -- --quick` is a shorter run that leaves this file alone.) \
         The harness is `benches/login.rs`; it builds the same throwaway lab as the \
         integration tests (`lab/`) and removes it afterwards. This run took \
         {:.0} s.\n\n\
         ## Machine\n\n{}\n- load average (1, 5, 15 min) at the end: {} (the machine's 2 cores \
         were shared with other work during the run, so single figures are noisy: read \
         medians and ratios within this run)\n\n\
         ## Targets\n\n\
         | case | target | result |\n|---|---|---|\n{}\n\n{report}\n{WHERE_THE_TIME_GOES}",
        total.as_secs_f64(),
        machine
            .lines()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        load_average(),
        targets_summary(&failed),
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    fs::write(&path, doc).unwrap_or_else(|e| panic!("write BENCHMARKS.md: {e}"));
    println!("login bench: wrote BENCHMARKS.md");
}

/// What issue 18 asked to find out before changing anything: where a
/// login's time goes on the large config. Measured by hand, not by this
/// harness, so it is kept here as text and dated.
const WHERE_THE_TIME_GOES: &str = "\
## Where a login's time goes on the large config (issue 18)

Measured on 2026-12-01 around 21:00 UTC, on the large config above (10,000 guests, \
50,000 keys, 100 hosts x 100 sessions, real host accounts), with the load average \
between 2.4 and 6 on the 2 cores (other engineers' builds and tests): `strace -c -f` \
and `strace -f` of one login, `perf record` over 10 and 100 logins of the release \
binary, and a release build with timings printed from inside the guest flow behind \
an environment variable (since removed). Before the changes below:

- **Indexed `list`, about 2.1 ms of pairshell's own time** (the rest is starting the \
  process, as for `tmux -V`): clap building its whole command line to read \
  `--config PATH login`, 0.2 ms; opening the config and its index, 0.07 ms; the pair \
  account's passwd entry, 0.09 ms; identifying the guest from the index, 0.1 ms; \
  `load_hosts`, 1.9 ms, of which listing `hosts_dir` 0.09 ms, the look at the 98 host \
  files that cannot name the guest 1.07 ms (11 µs each: 10 system calls and 15 KB read \
  per file, 1.5 MB in all; in `perf`, the kernel's copy of the files and the \
  `memmem` over them are the largest items), and the 2 files that can, 0.66 ms (0.33 ms \
  each, nearly all TOML parsing and deserializing of 100 sessions per file); the \
  policy, 0.03 ms. The chooser's decision does the same work; a direct \
  `HOST/SESSION` reads one host file instead of 100.
- **Stale index: about 115 ms and 1.2 CPUs per login under that load**, all of it \
  reading the 6.9 MiB config whole. In `perf`: toml's string decoding 13%, \
  `KeyText::parse` 12% (a search of a small list for every byte of 50,000 keys' \
  base64), toml's lexer and parser some 15% more, allocation, copying and freeing \
  (including dropping the 10,000 guests at exit) about 25%, reading the file 5%, the \
  rest page faults for the memory it takes.

What was changed: the look at each host file takes 6 system calls instead of 10 (the \
shared lock on the file's own descriptor, released by closing it; one read of the \
file's size and one that finds the end); `KeyText::parse` tests bytes with a range \
match; and the exact login line `pairshell [--config PATH] login` is recognised \
before clap. Every check stays: the same lock, the same bytes judged for the skip, \
the same trust checks on every file that could name the guest, the same index \
freshness rules.

Then the hosts index (`CONFIG.hosts-index`, written by `pairshell index`; README's \
Architecture): a login lists `hosts_dir`, `lstat`s each host file (one system call, \
no open and no read) and, for each file still as indexed, takes only the sessions \
that name the guest from the index (one `pread`; a part of one or two sessions \
instead of a file of 100 to parse), or skips the file when the index says it names \
the guest nowhere; a file changed since is read as before. A direct `HOST/SESSION` \
uses it for its one host, so it no longer reads that file twice and parses 100 \
sessions. In `strace -f -ttt` of a login on a small lab (2026-12-02, 01:43 UTC), the \
chooser's decision costs more than `list` only in its refusal: from the terminal \
check to the exit, the `deny` line (building the event, the key's refusal count in \
the roster directory: open, lock, read, truncate, write; a syslog datagram) and the \
message on stderr, about 0.45 ms under `strace` against 0.1 ms for `list`'s output, \
of which some 0.16 ms is code run for the first time in the process. That line is \
part of the audit guarantee, not waste; the rest of the two paths is the same code.\n\n\
For a stale index (`config/index/stale.rs`): candidates timed on a generated 7.5 MiB \
config of the same shape (release build, shared machine; reading the file alone about \
6 ms): `toml::from_str` of the whole config 114-130 ms and 39.5 MiB; toml's borrowed \
`DeTable::parse` alone 93 ms; `toml_parser`'s lexer and parser with no tree 13-19 ms \
and 16 MiB; decoding every value with it 63-65 ms. So a login checks the whole \
file's syntax with `toml_parser` (the lexer and parser toml itself runs), checks each \
plain string's bytes in one pass instead of decoding it, cuts the file at its table \
headers, and deserializes only the settings and the guests' tables in which the \
presented key or principal occurs (or that hold a backslash), with the config's own \
types; anything it does not cut safely, and every syntax error, goes to the whole \
parse as before. In `perf` after that (2026-12-02, 02:10 UTC), `toml_parser`'s lexer \
was a third of the time, looking for each string's end a byte at a time: its `simd` \
feature (memchr, already a dependency) took a stale `authorized-keys` from 36-40 ms \
to 17-19 ms of CPU (`perf stat`, 30 runs each, alternating). What is left: cutting \
and checking tokens, reading and validating the file as UTF-8, and the key search.
";

// ---------------------------------------------------------------------------
// Generated configs
// ---------------------------------------------------------------------------

struct Size {
    name: &'static str,
    guests: usize,
    keys_per_guest: usize,
    hosts: usize,
    sessions_per_host: usize,
    /// authorized-keys' target.
    keys: Target,
    /// The login's `list` (the huge case is authorized-keys only).
    list: Option<Target>,
    /// The chooser's decision and a direct `HOST/SESSION` join's, each up
    /// to where it would need the guest's terminal.
    choose: Option<Target>,
    join: Option<Target>,
    /// Every figure again on a copy of the config whose index is stale (the
    /// config touched after `pairshell index`, as a hand edit leaves it).
    stale: Option<Target>,
}

/// A figure's target: its ratio to `tmux -V` at most `max_ratio`, and its
/// peak RSS under `max_rss_kib`. `case` is its row in the summary.
#[derive(Clone, Copy)]
struct Target {
    case: &'static str,
    max_ratio: f64,
    max_rss_kib: Option<u64>,
}

const fn target(case: &'static str, max_ratio: f64, max_rss_mib: Option<u64>) -> Target {
    Target {
        case,
        max_ratio,
        max_rss_kib: match max_rss_mib {
            Some(m) => Some(m * 1024),
            None => None,
        },
    }
}

/// The summary's rows for the single processes: case, what it asks.
const MICRO_CASES: [(&str, &str); 6] = [
    ("small", "authorized-keys and login (list) ≤ 1.5x tmux -V"),
    (
        "large authorized-keys",
        "authorized-keys ≤ 3x tmux -V, peak RSS < 10 MiB",
    ),
    (
        "large list and chooser",
        "login's `list` and the chooser's decision ≤ 1.5x tmux -V, peak RSS < 10 MiB (issue 18)",
    ),
    (
        "large join",
        "a direct HOST/SESSION join's decision ≤ 1.3x tmux -V, peak RSS < 10 MiB (issue 18)",
    ),
    (
        "large stale index",
        "stale index: authorized-keys, `list`, chooser and join decisions ≤ 10x tmux -V, peak RSS < 20 MiB (issue 18)",
    ),
    ("huge", "authorized-keys ≤ 3x tmux -V"),
];

const SIZES: [Size; 3] = [
    Size {
        name: "small",
        guests: 100,
        keys_per_guest: 2,
        hosts: 10,
        sessions_per_host: 5,
        keys: target("small", 1.5, None),
        list: Some(target("small", 1.5, None)),
        choose: None,
        join: None,
        stale: None,
    },
    Size {
        name: "large",
        guests: 10_000,
        keys_per_guest: 5,
        hosts: 100,
        sessions_per_host: 100,
        keys: target("large authorized-keys", 3.0, Some(10)),
        list: Some(target("large list and chooser", 1.5, Some(10))),
        choose: Some(target("large list and chooser", 1.5, Some(10))),
        join: Some(target("large join", 1.3, Some(10))),
        stale: Some(target("large stale index", 10.0, Some(20))),
    },
    Size {
        name: "huge",
        guests: 20_000,
        keys_per_guest: 5,
        hosts: 0,
        sessions_per_host: 0,
        keys: target("huge", 3.0, None),
        list: None,
        choose: None,
        join: None,
        stale: None,
    },
];

/// How many sessions each guest is granted (the first read-write, the
/// others read-only).
const GRANTS_PER_GUEST: usize = 3;

/// The sessions guest `g` may join, of `total`: `(7g + 13j) mod total`.
fn sessions_of(g: usize, total: usize) -> impl Iterator<Item = (usize, bool)> {
    (0..GRANTS_PER_GUEST).map(move |j| ((7 * g + 13 * j) % total, j == 0))
}

/// splitmix64: a small deterministic PRNG, so every run benches the same
/// configs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Key number `k`: ed25519 from 32 random bytes, except every 10th, which is
/// rsa (e = 65537, a random odd n with its top bit set, 2048 and 3072 bits
/// in turn). Returns the OpenSSH line `TYPE BASE64 COMMENT`.
fn key_line(rng: &mut Rng, k: usize, comment: &str) -> String {
    let data = if k % 10 == 9 {
        let bits = if (k / 10).is_multiple_of(2) {
            2048
        } else {
            3072
        };
        let mut n = vec![0u8; bits / 8];
        rng.fill(&mut n);
        n[0] |= 0x80;
        n[bits / 8 - 1] |= 1;
        KeyData::Rsa(RsaPublicKey {
            e: Mpint::from_positive_bytes(&[1, 0, 1]).unwrap(),
            n: Mpint::from_positive_bytes(&n).unwrap(),
        })
    } else {
        let mut b = [0u8; 32];
        rng.fill(&mut b);
        KeyData::Ed25519(Ed25519PublicKey(b))
    };
    PublicKey::new(data, comment).to_openssh().unwrap()
}

struct Generated {
    config: PathBuf,
    config_bytes: usize,
    rsa_keys: usize,
    /// The last guest's last key, `TYPE BASE64`.
    last_key: (String, String),
    /// A valid key in no guest's list.
    unknown_key: (String, String),
    /// What `list` prints for the last guest, sorted.
    last_guest_list: Vec<String>,
    /// The last guest's read-write session, `HOST/SESSION`.
    last_guest_join: Option<String>,
}

/// Writes `<lab>/bench-<size>/pairshell.toml` (root, 0644) and one host file
/// per host in its `hosts.d` (owned by the host, 0644).
fn generate(lab: &Lab, size: &Size, hosts: &[String]) -> Generated {
    let dir = lab.dir.join(format!("bench-{}", size.name));
    let hosts_dir = dir.join("hosts.d");
    fs::create_dir_all(&hosts_dir).unwrap();
    for d in [&dir, &hosts_dir] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut rng = Rng(0x7061_6972_7368_656c ^ size.guests as u64);
    let q = |p: &Path| support::toml_str(&p.display().to_string());

    let mut s = String::new();
    writeln!(
        s,
        "# Generated by benches/login.rs: {} guests x {} keys, {} hosts x {} sessions.",
        size.guests, size.keys_per_guest, size.hosts, size.sessions_per_host
    )
    .unwrap();
    writeln!(s, "pair_user = {}", support::toml_str(&lab.pair)).unwrap();
    writeln!(s, "tmux = {}", support::toml_str(TMUX)).unwrap();
    writeln!(s, "hosts_dir = {}", q(&hosts_dir)).unwrap();
    writeln!(s, "sockets_dir = {}", q(&lab.sockets_dir())).unwrap();
    writeln!(s, "socket_group = {}", support::toml_str(&lab.socket_group)).unwrap();
    writeln!(s, "tmpfiles = {}", q(&lab.tmpfiles())).unwrap();
    writeln!(s, "\n[audit]").unwrap();
    writeln!(s, "syslog_socket = {}", q(&lab.syslog().path)).unwrap();
    writeln!(s, "required = true").unwrap();
    let mut k = 0;
    let mut rsa_keys = 0;
    let mut last_key = String::new();
    for g in 0..size.guests {
        let name = guest_name(g);
        writeln!(s, "\n[guests.{name}]").unwrap();
        let keys: Vec<String> = (0..size.keys_per_guest)
            .map(|j| {
                let line = key_line(&mut rng, k, &format!("{name}-k{j}@bench"));
                rsa_keys += usize::from(line.starts_with("ssh-rsa "));
                k += 1;
                line
            })
            .collect();
        last_key = keys.last().unwrap().clone();
        let list: Vec<String> = keys.iter().map(|l| support::toml_str(l)).collect();
        writeln!(s, "keys = [{}]", list.join(", ")).unwrap();
    }
    let config = dir.join("pairshell.toml");
    write_owned(&config, &s, 0o644, (0, 0));

    // Host files: session t is host t / S's session t % S.
    let total = size.hosts * size.sessions_per_host;
    let mut rw = vec![Vec::new(); total];
    let mut ro = vec![Vec::new(); total];
    if total > 0 {
        for g in 0..size.guests {
            for (t, write) in sessions_of(g, total) {
                if write {
                    rw[t].push(g);
                } else {
                    ro[t].push(g);
                }
            }
        }
    }
    let session_of = |t: usize| {
        (
            &hosts[t / size.sessions_per_host],
            format!("s{:03}", t % size.sessions_per_host),
        )
    };
    for (h, host) in hosts.iter().enumerate().take(size.hosts) {
        let mut f = String::new();
        for t in h * size.sessions_per_host..(h + 1) * size.sessions_per_host {
            let (_, session) = session_of(t);
            let names = |v: &[usize]| {
                v.iter()
                    .map(|&g| support::toml_str(&guest_name(g)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(f, "[sessions.{session}]").unwrap();
            let socket = lab.sockets_dir().join(host).join(format!("{session}.sock"));
            writeln!(f, "socket = {}", q(&socket)).unwrap();
            writeln!(f, "read_write = [{}]", names(&rw[t])).unwrap();
            writeln!(f, "read_only = [{}]\n", names(&ro[t])).unwrap();
        }
        let user = User::from_name(host).unwrap().expect("host account");
        write_owned(
            &hosts_dir.join(format!("{host}.toml")),
            &f,
            0o644,
            (user.uid.as_raw(), user.gid.as_raw()),
        );
    }
    let mut last_guest_list: Vec<String> = if total > 0 {
        sessions_of(size.guests - 1, total)
            .map(|(t, write)| {
                let (host, session) = session_of(t);
                let mode = if write { "read-write" } else { "read-only" };
                format!("{host}/{session}\t{mode}")
            })
            .collect()
    } else {
        Vec::new()
    };
    last_guest_list.sort();
    let last_guest_join = (total > 0).then(|| {
        let (t, _) = sessions_of(size.guests - 1, total)
            .find(|&(_, write)| write)
            .unwrap();
        let (host, session) = session_of(t);
        format!("{host}/{session}")
    });

    let split = |line: &str| {
        let mut p = line.split_whitespace();
        (p.next().unwrap().to_string(), p.next().unwrap().to_string())
    };
    let unknown = key_line(&mut Rng(0xdead_beef), 0, "nobody@bench");
    Generated {
        config,
        config_bytes: s.len(),
        rsa_keys,
        last_key: split(&last_key),
        unknown_key: split(&unknown),
        last_guest_list,
        last_guest_join,
    }
}

/// `pairshell index` on `config`, as root.
fn index(lab: &Lab, config: &Path) {
    let mut index = Command::new(&lab.bin);
    index
        .arg("--config")
        .arg(config)
        .arg("index")
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null());
    let run = support::run_with_timeout(index, Duration::from_secs(300));
    assert!(run.success(), "pairshell index {}: {run}", config.display());
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn guest_name(g: usize) -> String {
    format!("g{g:06}")
}

fn write_owned(path: &Path, text: &str, mode: u32, (uid, gid): (u32, u32)) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    chown(path, Some(uid), Some(gid)).unwrap();
}

// ---------------------------------------------------------------------------
// Timing whole processes
// ---------------------------------------------------------------------------

type Check = Box<dyn Fn(&Output) -> Result<(), String>>;

/// One command to time: run as `uid:gid` in `/`, with only `env`.
struct Probe {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    uid: u32,
    gid: u32,
    check: Check,
    /// None for the floor, `tmux -V`.
    target: Option<Target>,
    /// What it exits with (checked again when its memory is measured).
    exit_code: i32,
}

impl Probe {
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null());
        c
    }

    /// Runs it once, checks the output, returns the wall time.
    fn time(&self) -> Duration {
        let mut c = self.command(&self.program);
        c.args(&self.args).uid(self.uid).gid(self.gid);
        let t = Instant::now();
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("{}: spawn: {e}", self.label));
        let d = t.elapsed();
        if let Err(e) = (self.check)(&out) {
            panic!(
                "{}: wrong result: {e}\nstatus: {}\nstdout: {}\nstderr: {}",
                self.label,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        d
    }

    /// Peak RSS in KiB: this binary as a wrapper (`--maxrss`) runs the
    /// command once and reports `ru_maxrss` of its waited-for children.
    fn peak_rss_kib(&self) -> u64 {
        let me = std::env::current_exe().expect("this binary's path");
        (0..3)
            .map(|_| {
                let mut c = self.command(&me);
                c.arg("--maxrss")
                    .arg(self.uid.to_string())
                    .arg(self.gid.to_string())
                    .arg("--")
                    .arg(&self.program)
                    .args(&self.args);
                let out = c.output().expect("run the maxrss wrapper");
                let text = String::from_utf8_lossy(&out.stdout);
                let (kib, code) = text.trim().split_once(' ').unwrap_or_default();
                assert!(
                    out.status.success() && code == self.exit_code.to_string(),
                    "{}: maxrss wrapper (expected exit code {}): {}{}",
                    self.label,
                    self.exit_code,
                    text,
                    String::from_utf8_lossy(&out.stderr)
                );
                kib.parse::<u64>().expect("a number of KiB")
            })
            .max()
            .unwrap()
    }
}

/// `--maxrss UID GID -- PROGRAM ARGS…`: run PROGRAM once as UID:GID (stdio
/// to /dev/null, the environment inherited), print its peak RSS in KiB and
/// its exit code (-1 for a signal).
fn maxrss_wrapper(args: &[String]) -> ExitCode {
    let [uid, gid, dashes, program, rest @ ..] = args else {
        eprintln!("usage: --maxrss UID GID -- PROGRAM ARGS…");
        return ExitCode::from(2);
    };
    assert_eq!(dashes, "--");
    let status = Command::new(program)
        .args(rest)
        .uid(uid.parse().unwrap())
        .gid(gid.parse().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    println!("{} {}", usage.max_rss(), status.code().unwrap_or(-1));
    ExitCode::SUCCESS
}

struct Row {
    size: String,
    label: String,
    times: Vec<Duration>,
    rss_kib: u64,
    /// None for the floor (`tmux -V`, the first row of its size).
    target: Option<Target>,
}

/// A login as the pair account with only `SSH_USER_AUTH` (and the request,
/// if any) set.
fn login_probe(
    lab: &Lab,
    label: String,
    config: &str,
    auth: &Path,
    request: Option<&str>,
    target: Target,
    check: Check,
) -> Probe {
    let mut env = vec![("SSH_USER_AUTH".to_string(), auth.display().to_string())];
    if let Some(r) = request {
        env.push(("SSH_ORIGINAL_COMMAND".into(), r.into()));
    }
    Probe {
        label,
        program: lab.bin.clone(),
        args: vec!["--config".into(), config.to_string(), "login".into()],
        env,
        uid: lab.pair_uid,
        gid: lab.pair_gid,
        check,
        target: Some(target),
        exit_code: 0,
    }
}

/// A refusal for want of a terminal: what the chooser and a join say, with
/// stdin not a terminal, once the guest's grants are judged and (for the
/// join) the session resolved to one the guest may join.
fn refused_for_terminal(o: &Output) -> Result<(), String> {
    let err = String::from_utf8_lossy(&o.stderr);
    (!o.status.success()
        && o.stdout.is_empty()
        && err.contains("joining a session needs a terminal"))
    .then_some(())
    .ok_or_else(|| "expected the refusal for want of a terminal".to_string())
}

fn measure_size(
    lab: &Lab,
    size: &'static Size,
    g: &Generated,
    stale: Option<&Path>,
    warmup: usize,
    rounds: usize,
) -> Vec<Row> {
    let nobody = User::from_name("nobody").unwrap().expect("user nobody");
    let (nobody_uid, nobody_gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    let mut probes = vec![Probe {
        label: "tmux -V".into(),
        program: TMUX.into(),
        args: vec!["-V".into()],
        env: Vec::new(),
        uid: lab.pair_uid,
        gid: lab.pair_gid,
        check: Box::new(|o| {
            (o.status.success() && o.stdout.starts_with(b"tmux "))
                .then_some(())
                .ok_or_else(|| "not a tmux version".to_string())
        }),
        target: None,
        exit_code: 0,
    }];
    let auth = lab.scratch_file(&format!("ssh-user-auth-{}", size.name));
    write_owned(
        &auth,
        &format!("publickey {} {}\n", g.last_key.0, g.last_key.1),
        0o600,
        (lab.pair_uid, lab.pair_gid),
    );
    let configs = match stale {
        None => (
            g.config.as_path(),
            "",
            size.keys,
            size.list,
            size.choose,
            size.join,
        ),
        Some(p) => {
            let t = size.stale.expect("a stale target");
            (
                p,
                ", stale index",
                t,
                size.list.map(|_| t),
                size.choose.map(|_| t),
                size.join.map(|_| t),
            )
        }
    };
    {
        let (config, suffix, keys, list, choose, join) = configs;
        let config = config.display().to_string();
        let ak = |label: &str, key: &(String, String), want: Option<String>| Probe {
            label: format!("{label}{suffix}"),
            program: lab.bin.clone(),
            args: vec![
                "--config".into(),
                config.clone(),
                "authorized-keys".into(),
                lab.pair.clone(),
                key.0.clone(),
                key.1.clone(),
            ],
            env: Vec::new(),
            uid: nobody_uid,
            gid: nobody_gid,
            check: Box::new(move |o| {
                let out = String::from_utf8_lossy(&o.stdout);
                let lines: Vec<&str> = out.lines().collect();
                let want: Vec<&str> = want.iter().map(String::as_str).collect();
                (o.status.success() && lines == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want:?}"))
            }),
            target: Some(keys),
            exit_code: 0,
        };
        let line = format!(
            "restrict,pty,command=\"{} --config {} login\" {} {}",
            lab.bin.display(),
            config,
            g.last_key.0,
            g.last_key.1
        );
        probes.push(ak("authorized-keys, last key", &g.last_key, Some(line)));
        // The unknown key's stale figure would only repeat the last key's.
        if suffix.is_empty() {
            probes.push(ak("authorized-keys, unknown key", &g.unknown_key, None));
        }
        if let Some(t) = list {
            let want = g.last_guest_list.clone();
            assert!(!want.is_empty(), "the last guest must have grants");
            probes.push(login_probe(
                lab,
                format!("login (list), last guest{suffix}"),
                &config,
                &auth,
                Some("list"),
                t,
                Box::new(move |o| {
                    let out = String::from_utf8_lossy(&o.stdout);
                    let mut lines: Vec<&str> = out.lines().collect();
                    lines.sort_unstable();
                    (o.status.success() && lines == want)
                        .then_some(())
                        .ok_or_else(|| format!("expected the lines {want:?}"))
                }),
            ));
        }
        if let Some(t) = choose {
            // Refused, so it exits 1 (also when its memory is measured).
            probes.push(Probe {
                exit_code: 1,
                ..login_probe(
                    lab,
                    format!("login (chooser's decision), last guest{suffix}"),
                    &config,
                    &auth,
                    None,
                    t,
                    Box::new(refused_for_terminal),
                )
            });
        }
        if let (Some(t), Some(target)) = (join, &g.last_guest_join) {
            // Refused, so it exits 1 (also when its memory is measured).
            probes.push(Probe {
                exit_code: 1,
                ..login_probe(
                    lab,
                    format!("login (HOST/SESSION join's decision), last guest{suffix}"),
                    &config,
                    &auth,
                    Some(target),
                    t,
                    Box::new(refused_for_terminal),
                )
            });
        }
    }

    for _ in 0..warmup {
        for p in &probes {
            p.time();
        }
    }
    let mut times = vec![Vec::with_capacity(rounds); probes.len()];
    for r in 0..rounds {
        for k in 0..probes.len() {
            let i = (r + k) % probes.len();
            times[i].push(probes[i].time());
        }
    }
    probes
        .iter()
        .zip(times)
        .map(|(p, times)| Row {
            size: match stale {
                None => size.name.to_string(),
                Some(_) => format!("{}, stale index", size.name),
            },
            label: p.label.clone(),
            rss_kib: p.peak_rss_kib(),
            times,
            target: p.target,
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn spread(v: &[Duration]) -> String {
    format!(
        "{:.2}–{:.2} ms",
        quantile(v, 0.1).as_secs_f64() * 1e3,
        quantile(v, 0.9).as_secs_f64() * 1e3
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn micro_table(rows: &[Row], failed: &mut Vec<String>) -> String {
    let mut t = String::from(
        "| config | command | median | p10–p90 | runs | ratio to tmux -V | peak RSS | target |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut floor_index = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.target.is_none() {
            floor_index = i;
        }
        let median = quantile(&r.times, 0.5);
        let (ratio, target) = match r.target {
            None => ("1.00 (floor)".to_string(), "".to_string()),
            Some(target) => {
                let floor = quantile(&rows[floor_index].times, 0.5);
                let ratio = median.as_secs_f64() / floor.as_secs_f64();
                let max = target.max_ratio;
                let mut ok = ratio <= max;
                let mut what = format!("≤ {max}x");
                if let Some(rss) = target.max_rss_kib {
                    ok &= r.rss_kib < rss;
                    what.push_str(&format!(", RSS < {} MiB", rss / 1024));
                }
                if !ok {
                    failed.push(target.case.to_string());
                }
                (format!("{ratio:.2}"), format!("{what}: {}", verdict(ok)))
            }
        };
        writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {:.1} MiB | {} |",
            r.size,
            r.label,
            ms(median),
            spread(&r.times),
            r.times.len(),
            ratio,
            r.rss_kib as f64 / 1024.0,
            target
        )
        .unwrap();
    }
    t
}

// ---------------------------------------------------------------------------
// End to end through sshd
// ---------------------------------------------------------------------------

const E2E_MARKER: &str = "e2e-marker-42";

/// The end-to-end join's target (issue 12), and the goal beyond it.
const JOIN_MAX_RATIO: f64 = 1.06;
const JOIN_GOAL_RATIO: f64 = 1.03;
/// Typing echo's and bulk output's target.
const IO_MAX_RATIO: f64 = 1.10;
/// Recording's target (issue 16): bulk output with recording on over
/// pairshell's without, in the same rounds.
const RECORD_MAX_RATIO: f64 = 1.05;
const RECORDING_CASE: &str = "bulk output, recording";

/// What `seq` prints in the host's pane for the bulk figure.
const BULK_LINES: u32 = 200_000;
/// Typed by the guest for the typing figure, one at a time: letters that
/// neither tmux's default status line (session, window `sh`, the pane
/// title, the clock and date), nor the prompt (`[e2e@pst…x…h1]$`), nor
/// pairshell's join banner show.
const KEYS: &[u8] = b"qzk";
/// How long the guest's terminal must be quiet after a join before the
/// figures start: longer than the pause after which pairshell draws its
/// join banner (300 ms), so the banner is drawn before, not during.
const JOINED_QUIET: Duration = Duration::from_millis(500);

/// The setup the join, typing and bulk figures share: one sshd, one guest
/// key, one host's tmux server and session, reached two ways.
struct Pairing {
    guest: support::Guest,
    shared: Shared,
    /// The recipe's plain account.
    recipe: String,
}

/// Which way the guest comes in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Recipe,
    Pairshell,
    /// pairshell with `record = "read-write"` (the terminal figures only).
    Recorded,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Recipe => "recipe",
            Side::Pairshell => "pairshell",
            Side::Recorded => "pairshell, recording",
        }
    }

    /// Both sides, pairshell first in even rounds and the recipe first in
    /// odd ones, so drift and warm caches favour neither.
    fn in_round(round: usize) -> [Side; 2] {
        if round.is_multiple_of(2) {
            [Side::Pairshell, Side::Recipe]
        } else {
            [Side::Recipe, Side::Pairshell]
        }
    }

    /// All three sides of the terminal figures, in an order that rotates
    /// round by round, so each goes first, second and third alike.
    fn in_io_round(round: usize) -> [Side; 3] {
        let mut sides = [Side::Pairshell, Side::Recorded, Side::Recipe];
        sides.rotate_left(round % 3);
        sides
    }
}

impl Pairing {
    fn set_up(lab: &mut Lab) -> Pairing {
        let host = lab.enable_host();
        let guest = lab.add_guest("e2e", None);
        let (_, shared) = lab.share_as(&host, "e2e", &["--rw", "e2e"]);
        lab.host_types_line(&shared, "echo e2e-marker-$((6*7))");
        assert!(
            lab.wait_pane_line(&shared, E2E_MARKER),
            "{}",
            lab.capture_pane(&shared)
        );

        // The recipe: a plain account, the same key in its authorized_keys, a
        // forced `tmux attach` on the same socket, in the socket group and
        // allowed by the server.
        let home = lab.dir.join("recipe-home");
        fs::create_dir_all(home.join(".ssh")).unwrap();
        for d in [&home, &home.join(".ssh")] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let authorized_keys = home.join(".ssh/authorized_keys");
        write_owned(
            &authorized_keys,
            &format!("{}\n", guest.public_line),
            0o644,
            (0, 0),
        );
        let recipe = lab.add_account("r", "/bin/sh", &home);
        {
            let _lock = UsersLock::take();
            let out = Command::new("usermod")
                .args(["-a", "-G", &lab.socket_group, &recipe])
                .output()
                .expect("run usermod");
            assert!(out.status.success(), "usermod -a -G: {out:?}");
        }
        let out = lab.tmux_as(
            &host,
            &shared.socket,
            &["server-access", "-a", "-w", &recipe],
        );
        assert!(out.status.success(), "server-access: {out:?}");
        lab.extend_sshd(SshdExtra {
            allow_users: vec![recipe.clone()],
            tail: format!(
                "# The recipe pairshell replaces.\n\
                 Match User {recipe}\n    \
                 AuthorizedKeysFile {}\n    \
                 ForceCommand {TMUX} -S {} attach -t {}\n",
                authorized_keys.display(),
                shared.socket.display(),
                shared.name
            ),
            ..SshdExtra::default()
        });
        Pairing {
            guest,
            shared,
            recipe,
        }
    }

    /// `ssh -tt` as the guest, not run yet: to the pair account asking for
    /// the session, or to the recipe's account.
    fn ssh(&self, lab: &Lab, side: Side) -> Command {
        match side {
            Side::Pairshell | Side::Recorded => {
                lab.ssh_with(&self.guest, &["-tt"], Some(&self.shared.name))
            }
            Side::Recipe => lab.ssh_to(&self.recipe, &self.guest.key, &["-tt"], None),
        }
    }

    /// The guest's ssh on a fresh pty, read directly.
    fn spawn(&self, lab: &Lab, side: Side) -> RawTty {
        RawTty::spawn(&format!("ssh -tt ({})", side.label()), self.ssh(lab, side))
    }

    /// `tmux -S SOCKET ARGS…` as the host, not run yet (the same command
    /// [`Lab::tmux_as`] runs to completion).
    fn host_tmux(&self, args: &[&str]) -> Command {
        let user = User::from_name(&self.shared.host)
            .unwrap()
            .expect("host account");
        let mut cmd = Command::new(TMUX);
        cmd.arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.shared.socket)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/")
            .env("TERM", "xterm-256color")
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Detaches (C-b d), checks that ssh exits 0, and waits until the server
    /// has no client left.
    fn leave(&self, lab: &Lab, mut tty: RawTty, side: Side) {
        tty.tmux_key(b"d");
        let code = tty.wait_exit(WAIT);
        assert_eq!(
            code,
            Some(0),
            "{}: ssh after C-b d:\n{}",
            side.label(),
            tty.text()
        );
        let gone = support::poll(WAIT, || {
            lab.list_clients(&self.shared).is_empty().then_some(())
        });
        assert!(gone.is_some(), "{}: a client stayed attached", side.label());
    }
}

struct E2e {
    pairshell: Vec<Duration>,
    recipe: Vec<Duration>,
}

fn end_to_end(lab: &Lab, pair: &Pairing, warmup: usize, rounds: usize) -> E2e {
    for _ in 0..warmup {
        join_once(lab, pair, Side::Pairshell);
        join_once(lab, pair, Side::Recipe);
    }
    let mut e2e = E2e {
        pairshell: Vec::with_capacity(rounds),
        recipe: Vec::with_capacity(rounds),
    };
    for r in 0..rounds {
        for side in Side::in_round(r) {
            let took = join_once(lab, pair, side);
            match side {
                Side::Pairshell => e2e.pairshell.push(took),
                Side::Recipe => e2e.recipe.push(took),
                Side::Recorded => unreachable!("the join figure has no recording side"),
            }
        }
    }
    e2e
}

/// Spawns `ssh`, times until the pane's marker shows in its output, then
/// leaves.
fn join_once(lab: &Lab, pair: &Pairing, side: Side) -> Duration {
    let start = Instant::now();
    let mut tty = pair.spawn(lab, side);
    let Some(at) = tty.wait_for(0, E2E_MARKER.as_bytes(), Duration::from_secs(30)) else {
        panic!(
            "{}: the pane never showed:\n{}\n{}",
            side.label(),
            tty.text(),
            lab.diagnostics()
        );
    };
    let took = at - start;
    pair.leave(lab, tty, side);
    took
}

/// Whether pairshell relays: attaches as the guest once and compares the
/// tmux client's tty with the terminal its parent (pairshell, which sshd
/// started on its pty) has as stdin.
fn relayed(lab: &Lab, pair: &Pairing) -> bool {
    let tty = attach_settled(lab, pair, Side::Pairshell);
    let out = lab.tmux_as(
        &pair.shared.host,
        &pair.shared.socket,
        &["list-clients", "-F", "#{client_pid} #{client_tty}"],
    );
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let (pid, client_tty) = listed
        .lines()
        .find_map(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("no client listed: {listed:?}"));
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no parent in /proc/{pid}/stat: {stat:?}"));
    let parent_tty = fs::read_link(format!("/proc/{ppid}/fd/0"))
        .unwrap_or_else(|e| panic!("/proc/{ppid}/fd/0: {e}"));
    let relayed = Path::new(client_tty) != parent_tty;
    println!(
        "pairshell's tmux client (pid {pid}) is on {client_tty}; its parent (pid {ppid}) has {} as stdin: {}",
        parent_tty.display(),
        if relayed { "relayed" } else { "no relay" }
    );
    pair.leave(lab, tty, Side::Pairshell);
    relayed
}

/// The typing and bulk figures, per side (see [`slot`]).
#[derive(Default)]
struct Io {
    /// Per keystroke: from writing it to the guest's pty to its echo.
    typing: [Vec<Duration>; 3],
    /// Bytes the guest's terminal received per keystroke, up to the echo.
    typing_bytes: [Vec<usize>; 3],
    /// Keystrokes not counted because something else was printed before
    /// their echo (a status line, a banner, a redraw); typed again.
    typing_dropped: [usize; 3],
    /// Per run: from the host's Enter to the end marker on the guest's
    /// terminal.
    bulk: [Vec<Duration>; 3],
    /// Bytes the guest's terminal received per run, up to the marker.
    bulk_bytes: [Vec<usize>; 3],
    /// Recordings checked (one per join with recording on).
    recordings: usize,
}

fn slot(side: Side) -> usize {
    match side {
        Side::Recipe => 0,
        Side::Pairshell => 1,
        Side::Recorded => 2,
    }
}

/// The main config's text with recording off and on, and where recordings
/// go: the terminal figures switch between the two before each join.
struct Recording {
    off: String,
    on: String,
    dir: PathBuf,
}

/// How [`Recording`] turns recording on: the README's mode, and no cap, so
/// the bulk runs are recorded whole.
const RECORD_MODE: &str = "read-write";
const RECORD_EXTRA: &str = "record_max_mb = 0";

impl Recording {
    fn set_up(lab: &mut Lab) -> Recording {
        let off = lab.config_text();
        let dir = recording::enable(lab, RECORD_MODE, RECORD_EXTRA);
        let on = lab.config_text();
        let rec = Recording { off, on, dir };
        rec.switch(lab, Side::Pairshell);
        rec
    }

    /// The config as `side` needs it, written before it joins: replaced
    /// by a rename, as the admin commands do, never rewritten in place (the
    /// server's hooks for the side that just left may still be reading it,
    /// and a half-written config makes them fail, which tmux shows in the
    /// pane).
    fn switch(&self, lab: &Lab, side: Side) {
        if side == Side::Recipe {
            return;
        }
        let text = if side == Side::Recorded {
            &self.on
        } else {
            &self.off
        };
        let next = lab.config.with_extension("toml.next");
        write_owned(&next, text, 0o644, (0, 0));
        fs::rename(&next, &lab.config).unwrap_or_else(|e| panic!("rename {}: {e}", next.display()));
    }

    /// After a recorded join has left: exactly one new recording, `before`
    /// being the ones there were, is asciicast v2 and its output holds
    /// every marker of `markers` (so a recorder that wrote nothing, or
    /// dropped the bulk output, fails the run rather than looking fast).
    fn check(&self, before: &[PathBuf], markers: &[String]) {
        let new: Vec<PathBuf> = recording::casts(&self.dir)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(
            new.len(),
            1,
            "a recorded join must leave exactly one new recording in {}: {new:?}",
            self.dir.display()
        );
        let printed = support::poll(WAIT, || {
            let out = support::bench_io::printed(recording::read(&new[0]).joined("o").as_bytes());
            markers
                .iter()
                .all(|m| memchr::memmem::find(&out, m.as_bytes()).is_some())
                .then_some(())
        });
        assert!(
            printed.is_some(),
            "{}: the recording's output lacks a bulk marker of {markers:?}",
            new[0].display()
        );
    }
}

/// Typing echo and bulk output: each round, each side in turn attaches,
/// types its keystrokes one at a time, has the host run the bulk command,
/// and leaves. The warm-up rounds are not kept.
fn terminal_io(lab: &Lab, pair: &Pairing, rec: &Recording, plan: &Plan) -> Io {
    let mut io = Io::default();
    let mut scratch = Io::default();
    let mut run = 0;
    let keys = plan.keys_per_round;
    for r in 0..plan.io_warmup + plan.io_rounds {
        let keep = if r < plan.io_warmup {
            &mut scratch
        } else {
            &mut io
        };
        for side in Side::in_io_round(r) {
            rec.switch(lab, side);
            let before = recording::casts(&rec.dir);
            let mut tty = attach_settled(lab, pair, side);
            type_keys(lab, pair, &mut tty, side, keys, r * keys, keep);
            let mut markers = Vec::new();
            for _ in 0..plan.bulk_per_round {
                bulk_once(lab, pair, &mut tty, side, run, keep);
                markers.push(format!("bulk-end-42-{run}"));
                run += 1;
            }
            pair.leave(lab, tty, side);
            if side == Side::Recorded {
                rec.check(&before, &markers);
                keep.recordings += 1;
            } else {
                assert_eq!(
                    recording::casts(&rec.dir),
                    before,
                    "{}: recorded with recording off",
                    side.label()
                );
            }
        }
    }
    rec.switch(lab, Side::Pairshell);
    io
}

/// Spawns the guest's ssh, waits for the pane's prompt on its terminal and
/// a client on the server, then until the terminal has been quiet for
/// [`JOINED_QUIET`] (the join's hooks, first redraws and banner are done).
fn attach_settled(lab: &Lab, pair: &Pairing, side: Side) -> RawTty {
    let mut tty = pair.spawn(lab, side);
    let prompt = support::prompt(&pair.shared.name, &pair.shared.host);
    if tty
        .wait_for(0, prompt.trim_end().as_bytes(), Duration::from_secs(30))
        .is_none()
    {
        panic!(
            "{}: the pane's prompt never showed:\n{}\n{}",
            side.label(),
            tty.text(),
            lab.diagnostics()
        );
    }
    let attached = support::poll(WAIT, || {
        (!lab.list_clients(&pair.shared).is_empty()).then_some(())
    });
    assert!(attached.is_some(), "{}: no client attached", side.label());
    tty.settle(JOINED_QUIET, Duration::from_secs(10));
    tty
}

/// Types `n` keys, one at a time, each once the terminal has been quiet
/// for 5 ms, timing each from the write to the read in which it is printed;
/// then checks the host's pane shows them all and clears the line (C-u).
/// A keystroke before whose echo anything else was printed (the status
/// line's clock, a redraw) is not counted, and another is typed.
fn type_keys(
    lab: &Lab,
    pair: &Pairing,
    tty: &mut RawTty,
    side: Side,
    n: usize,
    first: usize,
    io: &mut Io,
) {
    let mut typed = String::new();
    let mut counted = 0;
    while counted < n {
        assert!(
            typed.len() < 3 * n,
            "{}: {} of {} keystrokes had other output before their echo",
            side.label(),
            typed.len() - counted,
            typed.len()
        );
        let key = KEYS[(first + typed.len()) % KEYS.len()];
        tty.settle(Duration::from_millis(5), Duration::from_secs(1));
        let (mark, received) = (tty.mark(), tty.received());
        let start = Instant::now();
        tty.send(&[key]);
        let Some(at) = tty.wait_for(mark, &[key], Duration::from_secs(10)) else {
            panic!(
                "{}: the echo of {:?} never reached the guest's terminal; printed since the key: {:?}",
                side.label(),
                key as char,
                String::from_utf8_lossy(tty.printed_since(mark))
            );
        };
        typed.push(key as char);
        if tty.printed_since(mark) != [key] {
            io.typing_dropped[slot(side)] += 1;
            continue;
        }
        io.typing[slot(side)].push(at - start);
        io.typing_bytes[slot(side)].push(tty.received() - received);
        counted += 1;
    }
    // The keys reached the pane, in order, on the prompt's line.
    let line = format!(
        "{}{typed}",
        support::prompt(&pair.shared.name, &pair.shared.host)
    );
    let shown = support::poll(WAIT, || {
        lab.capture_pane(&pair.shared)
            .lines()
            .any(|l| l.trim_end() == line)
            .then_some(())
    });
    assert!(
        shown.is_some(),
        "{}: the pane does not show the typed line {line:?}:\n{}",
        side.label(),
        lab.capture_pane(&pair.shared)
    );
    tty.send(b"\x15");
    tty.settle(Duration::from_millis(50), Duration::from_secs(2));
}

/// The host types `seq 1 200000; echo bulk-end-$((6*7))-RUN` into the
/// pane, then sends Enter (a `tmux send-keys` of its own, spawned and not
/// waited for, so the terminal is read all along): timed from that spawn
/// to the read that brings `bulk-end-42-RUN` to the guest's terminal.
/// Checks that seq's last two lines reached the guest's terminal too, and
/// that the pane shows the marker.
fn bulk_once(lab: &Lab, pair: &Pairing, tty: &mut RawTty, side: Side, run: usize, io: &mut Io) {
    let target = format!("={}:", pair.shared.name);
    let line = format!("seq 1 {BULK_LINES}; echo bulk-end-$((6*7))-{run}");
    let marker = format!("bulk-end-42-{run}");
    let out = lab.tmux_as(
        &pair.shared.host,
        &pair.shared.socket,
        &["send-keys", "-t", &target, "-l", &line],
    );
    assert!(out.status.success(), "send-keys: {out:?}");
    tty.settle(Duration::from_millis(50), Duration::from_secs(2));

    let (mark, received) = (tty.mark(), tty.received());
    let mut enter = pair.host_tmux(&["send-keys", "-t", &target, "Enter"]);
    let start = Instant::now();
    let child = enter.spawn().expect("spawn tmux send-keys");
    let arrived = tty.wait_for(mark, marker.as_bytes(), Duration::from_secs(120));
    let enter_out = child.wait_with_output().expect("wait for tmux send-keys");
    assert!(enter_out.status.success(), "send-keys Enter: {enter_out:?}");
    let Some(at) = arrived else {
        panic!(
            "{}: {marker} never reached the guest's terminal; the pane:\n{}",
            side.label(),
            lab.capture_pane(&pair.shared)
        );
    };
    // seq's last two lines, drawn one after the other (printed text has no
    // line breaks; a redraw may pad lines with spaces).
    let last_two = format!("{}{BULK_LINES}", BULK_LINES - 1);
    let printed: Vec<u8> = tty
        .printed_since(mark)
        .iter()
        .copied()
        .filter(|&b| b != b' ')
        .collect();
    assert!(
        memchr::memmem::find(&printed, last_two.as_bytes()).is_some(),
        "{}: seq's last lines, {} and {BULK_LINES}, never reached the guest's terminal",
        side.label(),
        BULK_LINES - 1
    );
    io.bulk[slot(side)].push(at - start);
    io.bulk_bytes[slot(side)].push(tty.received() - received);
    assert!(
        lab.wait_pane_line(&pair.shared, &marker),
        "{}: the pane never showed {marker}:\n{}",
        side.label(),
        lab.capture_pane(&pair.shared)
    );
    tty.settle(Duration::from_millis(100), Duration::from_secs(10));
}

/// One figure's ratio (pairshell's median over the recipe's) and whether
/// it is within `max`.
fn ratio_verdict(pairshell: &[Duration], recipe: &[Duration], max: f64) -> (f64, bool) {
    let ratio = quantile(pairshell, 0.5).as_secs_f64() / quantile(recipe, 0.5).as_secs_f64();
    (ratio, ratio <= max)
}

fn e2e_table(e: &E2e, failed: &mut Vec<String>) -> String {
    let mut t = String::from(
        "| path | median | p10–p90 | min–max | rounds | ratio to recipe | target |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let (ratio, ok) = ratio_verdict(&e.pairshell, &e.recipe, JOIN_MAX_RATIO);
    if !ok {
        failed.push("end-to-end join".into());
    }
    let goal = if ratio <= JOIN_GOAL_RATIO {
        "met"
    } else {
        "not met"
    };
    println!(
        "end-to-end join: pairshell {} / recipe {} = {ratio:.3}x, target ≤ {JOIN_MAX_RATIO:.2}x: {} (goal {JOIN_GOAL_RATIO:.2}x: {goal})",
        ms(quantile(&e.pairshell, 0.5)),
        ms(quantile(&e.recipe, 0.5)),
        verdict(ok)
    );
    for (label, v, target) in [
        ("recipe: ForceCommand tmux attach", &e.recipe, String::new()),
        (
            "pairshell",
            &e.pairshell,
            format!(
                "≤ {JOIN_MAX_RATIO:.2}x: {} (goal {JOIN_GOAL_RATIO:.2}x: {goal})",
                verdict(ok)
            ),
        ),
    ] {
        let r = quantile(v, 0.5).as_secs_f64() / quantile(&e.recipe, 0.5).as_secs_f64();
        writeln!(
            t,
            "| {label} | {} | {} | {}–{} | {} | {r:.2} | {target} |",
            ms(quantile(v, 0.5)),
            spread(v),
            ms(quantile(v, 0.0)),
            ms(quantile(v, 1.0)),
            v.len(),
        )
        .unwrap();
    }
    t
}

fn io_table(io: &Io, failed: &mut Vec<String>) -> String {
    let mut t = String::from(
        "| figure | path | median | p10–p90 | min–max | samples | bytes to the guest (median) | ratio to recipe | ratio to pairshell without recording | target |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (figure, times, received) in [
        ("typing echo", &io.typing, &io.typing_bytes),
        ("bulk output", &io.bulk, &io.bulk_bytes),
    ] {
        let (recipe, pairshell, recorded) = (&times[0], &times[1], &times[2]);
        let (ratio, ok) = ratio_verdict(pairshell, recipe, IO_MAX_RATIO);
        if !ok {
            failed.push(figure.to_string());
        }
        println!(
            "{figure}: pairshell {} / recipe {} = {ratio:.3}x, target ≤ {IO_MAX_RATIO:.2}x: {}",
            ms3(quantile(pairshell, 0.5)),
            ms3(quantile(recipe, 0.5)),
            verdict(ok)
        );
        // Recording's own target is on bulk output (issue 16); its typing
        // echo is shown for what it is.
        let bulk = figure == "bulk output";
        let (rec_ratio, rec_ok) = ratio_verdict(recorded, pairshell, RECORD_MAX_RATIO);
        if bulk {
            if !rec_ok {
                failed.push(RECORDING_CASE.to_string());
            }
            println!(
                "{figure}: pairshell recording {} / pairshell {} = {rec_ratio:.3}x, target ≤ {RECORD_MAX_RATIO:.2}x: {}",
                ms3(quantile(recorded, 0.5)),
                ms3(quantile(pairshell, 0.5)),
                verdict(rec_ok)
            );
        }
        for (side, label) in [
            (Side::Recipe, "recipe: ForceCommand tmux attach"),
            (Side::Pairshell, "pairshell"),
            (Side::Recorded, "pairshell, recording on"),
        ] {
            let v = &times[slot(side)];
            let mut b = received[slot(side)].clone();
            b.sort_unstable();
            let median_bytes = b.get(b.len() / 2).copied().unwrap_or(0);
            let r = quantile(v, 0.5).as_secs_f64() / quantile(recipe, 0.5).as_secs_f64();
            let (to_pairshell, target) = match side {
                Side::Recipe => (String::new(), String::new()),
                Side::Pairshell => (
                    "1.00".to_string(),
                    format!("≤ {IO_MAX_RATIO:.2}x the recipe: {}", verdict(ok)),
                ),
                Side::Recorded => (
                    format!("{rec_ratio:.2}"),
                    if bulk {
                        format!(
                            "≤ {RECORD_MAX_RATIO:.2}x pairshell without recording: {}",
                            verdict(rec_ok)
                        )
                    } else {
                        String::new()
                    },
                ),
            };
            writeln!(
                t,
                "| {figure} | {label} | {} | {} | {}–{} | {} | {} | {r:.2} | {to_pairshell} | {target} |",
                ms3(quantile(v, 0.5)),
                spread3(v),
                ms3(quantile(v, 0.0)),
                ms3(quantile(v, 1.0)),
                v.len(),
                if median_bytes >= 10 * 1024 {
                    bytes(median_bytes)
                } else {
                    format!("{median_bytes} B")
                },
            )
            .unwrap();
        }
    }
    t
}

/// How many keystrokes each side had to type again.
fn dropped_text(io: &Io) -> String {
    format!(
        "this run: {} for the recipe, {} for pairshell, {} for pairshell recording",
        io.typing_dropped[slot(Side::Recipe)],
        io.typing_dropped[slot(Side::Pairshell)],
        io.typing_dropped[slot(Side::Recorded)]
    )
}

/// Milliseconds with three decimals, for figures of a millisecond or two.
fn ms3(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn spread3(v: &[Duration]) -> String {
    format!(
        "{:.3}–{:.3} ms",
        quantile(v, 0.1).as_secs_f64() * 1e3,
        quantile(v, 0.9).as_secs_f64() * 1e3
    )
}

fn load_table(o: &load::LoadOutcome) -> String {
    let v = &o.join_latencies;
    format!(
        "| guests | join p50 | join p95 | join max | all joined | host's output seen by all | all left (C-b d to last leave line) |\n\
         |---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {} | {} |\n",
        o.guests,
        ms(quantile(v, 0.5)),
        ms(quantile(v, 0.95)),
        ms(quantile(v, 1.0)),
        ms(o.all_joined),
        ms(o.live_echo),
        ms(o.all_left),
    )
}

fn targets_summary(failed: &[String]) -> String {
    let mut rows = MICRO_CASES
        .iter()
        .map(|(case, what)| {
            let ok = !failed.iter().any(|f| f == case);
            format!("| {case} | {what} | {} |", verdict(ok))
        })
        .collect::<Vec<_>>();
    for (case, what) in [
        (
            "end-to-end join",
            format!("pairshell ≤ {JOIN_MAX_RATIO:.2}x the recipe (goal {JOIN_GOAL_RATIO:.2}x)"),
        ),
        (
            "typing echo",
            format!("pairshell ≤ {IO_MAX_RATIO:.2}x the recipe"),
        ),
        (
            "bulk output",
            format!("pairshell ≤ {IO_MAX_RATIO:.2}x the recipe"),
        ),
        (
            RECORDING_CASE,
            format!(
                "pairshell recording (`record = \"{RECORD_MODE}\"`) ≤ {RECORD_MAX_RATIO:.2}x pairshell without"
            ),
        ),
    ] {
        let ok = !failed.iter().any(|f| f == case);
        rows.push(format!("| {case} | {what} | {} |", verdict(ok)));
    }
    rows.push("| load | behaviour (asserted; a failure aborts the run) | PASS |".to_string());
    rows.join("\n")
}

// ---------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------

fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let os = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_default();
    let debian = fs::read_to_string("/etc/debian_version").unwrap_or_default();
    let first_line = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                text.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default()
    };
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC");
    format!(
        "date: {date}\n\
         CPU: {cpu}, {cores} cores\n\
         RAM: {:.1} GiB\n\
         kernel: Linux {}\n\
         OS: {os} (debian_version {})\n\
         {}\n\
         {}\n\
         {}\n\
         load average (1, 5, 15 min) at the start: {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        debian.trim(),
        first_line(TMUX, &["-V"]),
        first_line("ssh", &["-V"]),
        first_line("rustc", &["-V"]),
        load_average(),
    )
}

/// `/proc/loadavg`'s first three fields: other work on the machine shows
/// up in every figure, so the report says how busy it was.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
