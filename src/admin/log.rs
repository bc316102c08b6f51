//! `pairshell log`: the audit trail read back, one event per line.
//!
//! `journalctl -t pairshell | grep guest=alice` is one guest's trail, but grep
//! also finds `guest=alicia`, and a request a guest typed (`request="x
//! guest=alice"`, quoted by audit.rs). So this reads each line's fields the
//! way audit.rs wrote them ([`audit::parse_fields`]) and compares `guest`
//! exactly.
//!
//! Where the lines come from: the journal (`journalctl -t pairshell`) when
//! journald runs on this machine; otherwise a syslog file, `--file` or
//! `/var/log/auth.log` (authpriv's file on Debian). A file is read in the
//! formats rsyslog writes: RFC 3164 (`Nov 21 18:00:00`, no year, local time)
//! and its high-precision RFC 3339 default since Debian 12.
//!
//! Lines are printed as read, except that control characters become `\xNN`:
//! any local user can write a line tagged `pairshell`, and must not be able
//! to put terminal escapes in front of the admin this way.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::audit;
use crate::core::error::{failure, Failure};

/// The syslog file read when there is no journal and no `--file`.
pub(crate) const DEFAULT_FILE: &str = "/var/log/auth.log";

const JOURNALCTL: [&str; 2] = ["/usr/bin/journalctl", "/bin/journalctl"];
/// Exists while journald runs (it is on the tmpfs `/run`).
const JOURNALD_RUNTIME: &str = "/run/systemd/journal";

/// Which lines to keep.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// Only lines whose `guest` field is exactly this.
    pub(crate) guest: Option<String>,
    /// Only lines stamped at or after this. Applied to files; journalctl
    /// applies it to the journal itself.
    pub(crate) since: Option<Timestamp>,
}

/// One of pairshell's lines: when it was written (if the stamp could be
/// read) and its `key=value` message.
#[derive(Debug, PartialEq)]
struct Entry<'a> {
    time: Option<Timestamp>,
    message: &'a str,
}

/// What one pass over the lines found, beyond the lines themselves.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    /// pairshell lines kept despite `--since`, because their stamp could
    /// not be read.
    undated: usize,
}

/// `pairshell log [GUEST] [--since TIME] [--file PATH]`
pub(crate) fn run(
    guest: Option<String>,
    since: Option<&str>,
    file: Option<&Path>,
) -> Result<(), Failure> {
    let now = Timestamp::now();
    let since = since
        .map(|text| crate::core::time::parse_since(text, now))
        .transpose()?;
    let tz = TimeZone::system();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let tally = match source(file) {
        Source::Journal(journalctl) => {
            let filter = Filter { guest, since: None };
            from_journal(&journalctl, since, &filter, &mut out, now, &tz)?
        }
        Source::File(path) => {
            let filter = Filter { guest, since };
            let f = File::open(&path).map_err(|e| match file {
                Some(_) => format!("{}: {e}", path.display()),
                None => format!(
                    "there is no journal here (journald is not running), and {}: {e}; \
                     name the file your syslog daemon writes facility authpriv to with --file",
                    path.display()
                ),
            })?;
            finish(
                copy(BufReader::new(f), &mut out, &filter, now, &tz),
                &path.display().to_string(),
            )?
        }
    };
    if tally.undated > 0 {
        eprintln!(
            "pairshell: {} line(s) are shown although --since was given: their timestamp is in a format pairshell does not read",
            tally.undated
        );
    }
    Ok(())
}

enum Source {
    Journal(PathBuf),
    File(PathBuf),
}

fn source(file: Option<&Path>) -> Source {
    if let Some(path) = file {
        return Source::File(path.to_path_buf());
    }
    let journalctl = JOURNALCTL.iter().map(Path::new).find(|p| p.exists());
    match journalctl {
        Some(j) if Path::new(JOURNALD_RUNTIME).is_dir() => Source::Journal(j.to_path_buf()),
        _ => Source::File(PathBuf::from(DEFAULT_FILE)),
    }
}

fn from_journal(
    journalctl: &Path,
    since: Option<Timestamp>,
    filter: &Filter,
    out: &mut impl Write,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<Tally, Failure> {
    let mut cmd = Command::new(journalctl);
    cmd.args(["-t", "pairshell", "-o", "short-iso", "--no-pager", "-q"]);
    if let Some(t) = since {
        // journalctl's own form for an instant: seconds since the epoch.
        cmd.arg(format!("--since=@{}", t.as_second()));
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", journalctl.display()))?;
    let lines = BufReader::new(child.stdout.take().expect("piped stdout"));
    // `copy` owns the pipe and closes it when it returns, so a journalctl
    // still writing when nobody reads our output any more stops too.
    let copied = copy(lines, out, filter, now, tz);
    let reader_gone = matches!(&copied, Err(e) if e.kind() == io::ErrorKind::BrokenPipe);
    let status = child
        .wait()
        .map_err(|e| format!("{}: {e}", journalctl.display()))?;
    let tally = finish(copied, "the journal")?;
    if !status.success() && !reader_gone {
        return Err(failure!("{} failed ({status})", journalctl.display()));
    }
    Ok(tally)
}

/// A pass's result, where a reader that went away (`pairshell log | head`)
/// is not an error.
fn finish(copied: io::Result<Tally>, what: &str) -> Result<Tally, Failure> {
    match copied {
        Ok(tally) => Ok(tally),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Tally::default()),
        Err(e) => Err(failure!("reading {what}: {e}")),
    }
}

/// Copies the pairshell lines of `input` that `filter` keeps to `out`, one
/// per line, control characters escaped.
fn copy(
    mut input: impl BufRead,
    out: &mut impl Write,
    filter: &Filter,
    now: Timestamp,
    tz: &TimeZone,
) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        let Some(entry) = parse_line(line, now, tz) else {
            continue;
        };
        if !filter.keeps(&entry) {
            continue;
        }
        if filter.since.is_some() && entry.time.is_none() {
            tally.undated += 1;
        }
        writeln!(out, "{}", crate::audit::printable(line))?;
    }
    out.flush()?;
    Ok(tally)
}

impl Filter {
    fn keeps(&self, entry: &Entry) -> bool {
        if let (Some(since), Some(time)) = (self.since, entry.time) {
            if time < since {
                return false;
            }
        }
        match &self.guest {
            None => true,
            Some(guest) => audit::parse_fields(entry.message).is_some_and(|fields| {
                fields
                    .iter()
                    .any(|(k, v)| *k == "guest" && v == guest.as_bytes())
            }),
        }
    }
}

/// Reads `STAMP [HOST] pairshell[PID]: MESSAGE`, where STAMP is RFC 3164's
/// `Mmm dd hh:mm:ss` or an RFC 3339 instant (rsyslog's high-precision format,
/// `journalctl -o short-iso`). `None` for any other program's line.
///
/// The tag is the first word that ends in `:` (no stamp or host name does),
/// so a pairshell-looking tag further along another program's message is
/// never taken for ours.
fn parse_line<'a>(line: &'a str, now: Timestamp, tz: &TimeZone) -> Option<Entry<'a>> {
    let mut start = 0;
    let tag = line.split(' ').find_map(|word| {
        let at = start;
        start += word.len() + 1;
        word.ends_with(':').then_some((at, word))
    });
    let (at, tag) = tag?;
    let pid = tag.strip_prefix("pairshell[")?.strip_suffix("]:")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &line[at + tag.len()..];
    Some(Entry {
        time: parse_stamp(&line[..at], now, tz),
        message: after.strip_prefix(' ').unwrap_or(after),
    })
}

/// The instant at the start of a syslog header.
fn parse_stamp(header: &str, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let mut words = header.split_whitespace();
    let first = words.next()?;
    if let Some(t) = parse_iso(first) {
        return Some(t);
    }
    let (day, time) = (words.next()?, words.next()?);
    rfc3164(first, day, time, now, tz)
}

/// An RFC 3339 instant; also `+0000` offsets, which journalctl's short-iso
/// writes.
fn parse_iso(word: &str) -> Option<Timestamp> {
    if let Ok(t) = word.parse::<Timestamp>() {
        return Some(t);
    }
    let split = word.len().checked_sub(5)?;
    let (head, offset) = (word.get(..split)?, word.get(split..)?);
    if !offset.starts_with(['+', '-']) || !offset[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{head}{}:{}", &offset[..3], &offset[3..])
        .parse()
        .ok()
}

/// `Mmm dd hh:mm:ss` in local time. RFC 3164 has no year: it is this year,
/// unless that is more than a day ahead of now (a December line read in
/// January), then last year.
fn rfc3164(month: &str, day: &str, time: &str, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i8 + 1;
    let day: i8 = day.parse().ok()?;
    let time: jiff::civil::Time = time.parse().ok()?;
    let year = now.to_zoned(tz.clone()).year();
    let at = |year: i16| {
        let date = jiff::civil::Date::new(year, month, day).ok()?;
        let dt: DateTime = date.to_datetime(time);
        dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
    };
    let this_year = at(year);
    let ahead = |t: Timestamp| t.duration_since(now) > jiff::SignedDuration::from_hours(24);
    match this_year {
        Some(t) if !ahead(t) => Some(t),
        // Also 29 Feb, which only last year (or one before) can have had.
        _ => at(year - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn now() -> Timestamp {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn parse(line: &str) -> Option<Entry<'_>> {
        parse_line(line, now(), &utc())
    }

    /// The lines of `input` that `filter` keeps, as printed.
    fn run_copy(input: &str, filter: &Filter) -> (Vec<String>, Tally) {
        let mut out = Vec::new();
        let tally = copy(input.as_bytes(), &mut out, filter, now(), &utc()).unwrap();
        let text = String::from_utf8(out).unwrap();
        (text.lines().map(str::to_string).collect(), tally)
    }

    #[test]
    fn reads_the_formats_rsyslog_and_journalctl_write() {
        let message = "event=join guest=alice";
        for (line, time) in [
            // rsyslog's traditional format (RFC 3164), day space-padded.
            (
                "Nov  5 09:07:01 devbox pairshell[4242]: event=join guest=alice",
                "2026-11-05T09:07:01Z",
            ),
            // The syslog crate's own datagram stamp is zero-padded.
            (
                "Nov 05 09:07:01 devbox pairshell[4242]: event=join guest=alice",
                "2026-11-05T09:07:01Z",
            ),
            // rsyslog's high-precision format, Debian 12's default.
            (
                "2026-11-05T10:07:01.123456+01:00 devbox pairshell[4242]: event=join guest=alice",
                "2026-11-05T09:07:01.123456Z",
            ),
            // journalctl -o short-iso.
            (
                "2026-11-05T10:07:01+0100 devbox pairshell[4242]: event=join guest=alice",
                "2026-11-05T09:07:01Z",
            ),
            // No host name (a receiver that keeps none).
            (
                "Nov  5 09:07:01 pairshell[4242]: event=join guest=alice",
                "2026-11-05T09:07:01Z",
            ),
        ] {
            assert_eq!(
                parse(line),
                Some(Entry {
                    time: Some(ts(time)),
                    message
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn only_pairshell_lines_with_a_pid_are_read() {
        for line in [
            "Nov 21 09:07:01 devbox sshd[77]: Accepted publickey for pair: guest=alice",
            "Nov 21 09:07:01 devbox sshd[77]: x pairshell[4242]: event=join guest=alice",
            "Nov 21 09:07:01 devbox pairshell: event=join guest=alice",
            "Nov 21 09:07:01 devbox pairshell[]: event=join guest=alice",
            "Nov 21 09:07:01 devbox pairshell[42x]: event=join guest=alice",
            "Nov 21 09:07:01 devbox notpairshell[42]: event=join guest=alice",
            "-- No entries --",
            "",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn an_unknown_stamp_is_no_stamp() {
        let e = parse("yesterday devbox pairshell[1]: event=join").unwrap();
        assert_eq!(e.time, None);
        assert_eq!(e.message, "event=join");
    }

    #[test]
    fn rfc3164_lines_from_december_read_in_january_are_last_year() {
        let jan: Timestamp = "2027-01-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            rfc3164("Dec", "31", "23:59:59", jan, &utc()),
            Some(ts("2026-12-31T23:59:59Z"))
        );
        assert_eq!(
            rfc3164("Jan", "2", "00:00:00", jan, &utc()),
            Some(ts("2027-01-02T00:00:00Z"))
        );
        // A clock a few hours apart is not a year apart.
        assert_eq!(
            rfc3164("Jan", "2", "20:00:00", jan, &utc()),
            Some(ts("2027-01-02T20:00:00Z"))
        );
        assert_eq!(rfc3164("Foo", "2", "20:00:00", jan, &utc()), None);
        assert_eq!(rfc3164("Jan", "32", "20:00:00", jan, &utc()), None);
    }

    #[test]
    fn rfc3164_stamps_are_local_time() {
        // A fixed offset: tests must not depend on the machine's tzdata.
        let tz = TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(
            rfc3164("Nov", "21", "13:00:00", now(), &tz),
            Some(ts("2026-11-21T12:00:00Z"))
        );
    }

    const TRAIL: &str = "\
Nov 21 09:00:00 devbox pairshell[10]: event=join guest=al fingerprint=SHA256:a from=203.0.113.5 host=maria session=api mode=read-only request=api pid=11
Nov 21 09:01:00 devbox pairshell[12]: event=join guest=alice fingerprint=SHA256:b from=203.0.113.6 host=maria session=api mode=read-write request=api pid=13
Nov 21 09:02:00 devbox pairshell[14]: event=deny guest=bob fingerprint=SHA256:c request=\"x guest=al\" reason=bad-request
Nov 21 09:03:00 devbox sshd[15]: Accepted publickey for pair from 203.0.113.5 guest=al
Nov 21 11:00:00 devbox pairshell[16]: event=grant by=maria host=maria session=api guest=al mode=read-write
Nov 21 11:30:00 devbox pairshell[10]: event=leave guest=al fingerprint=SHA256:a host=maria session=api pid=11 duration_s=9000 reason=detached
";

    #[test]
    fn guest_matches_the_field_exactly() {
        let filter = Filter {
            guest: Some("al".into()),
            since: None,
        };
        let (lines, _) = run_copy(TRAIL, &filter);
        // Not alice's join, not bob's request that merely says guest=al,
        // not sshd's line.
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].contains("event=join guest=al "));
        assert!(lines[1].contains("event=grant"));
        assert!(lines[2].contains("event=leave"));
    }

    #[test]
    fn no_guest_means_every_pairshell_line() {
        let (lines, _) = run_copy(TRAIL, &Filter::default());
        assert_eq!(lines.len(), 5);
        assert!(lines.iter().all(|l| l.contains(" pairshell[")));
    }

    #[test]
    fn since_drops_older_lines_and_keeps_undated_ones() {
        let input = format!("{TRAIL}someday devbox pairshell[20]: event=kick guest=al by=maria\n");
        let filter = Filter {
            guest: Some("al".into()),
            since: Some(ts("2026-11-21T10:00:00Z")),
        };
        let (lines, tally) = run_copy(&input, &filter);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].contains("event=grant"));
        assert!(lines[1].contains("event=leave"));
        assert!(lines[2].contains("event=kick"));
        assert_eq!(tally, Tally { undated: 1 });
    }

    #[test]
    fn a_forged_line_cannot_reach_the_terminal_raw() {
        let input = "Nov 21 09:00:00 devbox pairshell[1]: event=join guest=al \x1b]0;owned\x07\u{9b}31m\r\n";
        let (lines, _) = run_copy(input, &Filter::default());
        assert_eq!(
            lines,
            ["Nov 21 09:00:00 devbox pairshell[1]: event=join guest=al \\x1b]0;owned\\x07\\xc2\\x9b31m"]
        );
        // And it is not al's: its last field is not in audit.rs's shape.
        let filter = Filter {
            guest: Some("al".into()),
            since: None,
        };
        assert!(run_copy(input, &filter).0.is_empty());
    }

    #[test]
    fn the_journal_is_asked_for_pairshell_lines_since_then() {
        // A stand-in journalctl that shows the arguments it was given.
        let dir = std::env::temp_dir().join(format!("pairshell-trail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("journalctl");
        std::fs::write(
            &fake,
            "#!/bin/sh\n\
             echo '2026-11-21T10:00:00+0000 devbox sshd[1]: event=join guest=al'\n\
             echo \"2026-11-21T11:00:00+0000 devbox pairshell[2]: event=join guest=al args=\\\"$*\\\"\"\n\
             echo '2026-11-21T11:30:00+0000 devbox pairshell[3]: event=join guest=alice'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let filter = Filter {
            guest: Some("al".into()),
            since: None,
        };
        let since = ts("2026-11-21T09:00:00Z");
        let mut out = Vec::new();
        // Another test thread's fork can briefly hold the script open for
        // writing (ETXTBSY): try again.
        let mut tally = from_journal(&fake, Some(since), &filter, &mut out, now(), &utc());
        for _ in 0..20 {
            match &tally {
                Err(e) if e.to_string().contains("busy") => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                _ => break,
            }
            tally = from_journal(&fake, Some(since), &filter, &mut out, now(), &utc());
        }
        let tally = tally.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(tally, Tally::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "2026-11-21T11:00:00+0000 devbox pairshell[2]: event=join guest=al \
                 args=\"-t pairshell -o short-iso --no-pager -q --since=@{}\"\n",
                since.as_second()
            )
        );
    }

    #[test]
    fn invalid_utf8_does_not_stop_the_reading() {
        let mut input = b"Nov 21 09:00:00 devbox other[1]: \xff\xfe\n".to_vec();
        input.extend_from_slice(TRAIL.as_bytes());
        let mut out = Vec::new();
        copy(
            input.as_slice(),
            &mut out,
            &Filter::default(),
            now(),
            &utc(),
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 5);
    }
}
