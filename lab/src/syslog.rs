//! The syslog receiver: records, and waiting for them.

use super::*;

// ---------------------------------------------------------------------------
// The syslog receiver
// ---------------------------------------------------------------------------

/// One audit line, parsed.
#[derive(Clone, Debug)]
pub struct Record {
    pub pri: u32,
    pub tag: String,
    pub pid: Option<u32>,
    pub fields: BTreeMap<String, String>,
    pub raw: String,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// True when every (key, value) pair is present with that exact value.
    pub fn has(&self, fields: &[(&str, &str)]) -> bool {
        fields.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    /// The field, or a panic that shows the record.
    pub fn field(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("audit record has no {key}: {}", self.raw))
    }
}

/// Collects syslog datagrams sent to `<lab>/log.sock`.
pub struct Syslog {
    pub path: PathBuf,
    pub(crate) lines: Arc<Mutex<Vec<Vec<u8>>>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl Syslog {
    /// Binds a receiver at `path` (mode 0666, as `/dev/log` is).
    pub fn bind(path: &Path) -> Syslog {
        let mut syslog = Syslog {
            path: path.to_path_buf(),
            lines: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        syslog.listen();
        syslog
    }

    /// Binds the socket and starts collecting (again, after [`Syslog::stop`]).
    pub(crate) fn listen(&mut self) {
        let sock = UnixDatagram::bind(&self.path).expect("bind the syslog socket");
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o666)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        self.stop = Arc::new(AtomicBool::new(false));
        let lines = self.lines.clone();
        let stop = self.stop.clone();
        self.thread = Some(thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::SeqCst) {
                match sock.recv(&mut buf) {
                    Ok(n) => lines.lock().unwrap().push(buf[..n].to_vec()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
        }));
    }

    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// The datagrams as received (lossy UTF-8, control characters shown
    /// escaped).
    pub fn raw(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| String::from_utf8_lossy(l).escape_debug().to_string())
            .collect()
    }

    /// The datagrams as received, as bytes.
    pub fn raw_bytes(&self) -> Vec<Vec<u8>> {
        self.lines.lock().unwrap().clone()
    }

    /// Every record so far. Panics on a datagram that is not an RFC 3164
    /// line with facility authpriv and tag pairshell.
    pub fn records(&self) -> Vec<Record> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| match parse_rfc3164(l) {
                Ok(r) => {
                    assert_eq!(r.pri / 8, 10, "facility is not authpriv: {}", r.raw);
                    assert_eq!(r.tag, "pairshell", "tag is not pairshell: {}", r.raw);
                    r
                }
                Err(e) => panic!(
                    "malformed syslog datagram ({e}): {}",
                    String::from_utf8_lossy(l).escape_debug()
                ),
            })
            .collect()
    }

    /// Waits until a record satisfies `pred`.
    pub fn wait_for(&self, pred: impl Fn(&Record) -> bool, timeout: Duration) -> Option<Record> {
        poll(timeout, || self.records().into_iter().find(|r| pred(r)))
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses `<PRI>Mmm dd hh:mm:ss [HOST ]TAG[PID]: key=value …`.
pub fn parse_rfc3164(datagram: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8: {e}"))?;
    let raw = text.to_string();
    let line = text.trim_end_matches(['\n', '\0']);
    if line.contains('\n') {
        return Err("a raw newline inside the line".into());
    }
    let rest = line.strip_prefix('<').ok_or("no <PRI>")?;
    let (pri, rest) = rest.split_once('>').ok_or("no <PRI>")?;
    let pri: u32 = pri.parse().map_err(|_| format!("bad PRI {pri:?}"))?;
    // Timestamp: "Mmm dd hh:mm:ss", dd space-padded.
    let month = rest.get(..3).ok_or("short timestamp")?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !MONTHS.contains(&month) {
        return Err(format!("bad month {month:?}"));
    }
    let rest = rest[3..].strip_prefix(' ').ok_or("no space after month")?;
    let rest = rest.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ').ok_or("no day")?;
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad day {day:?}"));
    }
    let (time, rest) = rest.split_once(' ').ok_or("no time")?;
    let tb = time.as_bytes();
    if tb.len() != 8 || tb[2] != b':' || tb[5] != b':' {
        return Err(format!("bad time {time:?}"));
    }
    // Optional HOSTNAME, then TAG[PID]:
    let (first, after_first) = rest.split_once(' ').ok_or("no tag")?;
    let (tag_part, msg) = if first.ends_with(':') {
        (first, after_first)
    } else {
        after_first.split_once(' ').ok_or("no tag after hostname")?
    };
    let tag_part = tag_part
        .strip_suffix(':')
        .ok_or("tag does not end with ':'")?;
    let (tag, pid) = match tag_part.split_once('[') {
        Some((t, p)) => {
            let p = p.strip_suffix(']').ok_or("bad [PID]")?;
            (
                t,
                Some(p.parse::<u32>().map_err(|_| format!("bad PID {p:?}"))?),
            )
        }
        None => (tag_part, None),
    };
    let fields = parse_fields(msg)?;
    Ok(Record {
        pri,
        tag: tag.to_string(),
        pid,
        fields,
        raw,
    })
}

/// Parses `key=value key="quoted \"value\""`; quoted values may use `\"`,
/// `\\` and `\xNN`.
pub fn parse_fields(msg: &str) -> Result<BTreeMap<String, String>, String> {
    let mut fields = BTreeMap::new();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &msg[start..i];
        if key.is_empty()
            || !key
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(format!("bad key {key:?} in {msg:?}"));
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(format!("key {key:?} without '=' in {msg:?}"));
        }
        i += 1;
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated quote in {msg:?}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        match b.get(i + 1) {
                            Some(b'"') => v.push(b'"'),
                            Some(b'\\') => v.push(b'\\'),
                            Some(b'x') => {
                                let hex = msg.get(i + 2..i + 4).ok_or("short \\x escape")?;
                                v.push(
                                    u8::from_str_radix(hex, 16)
                                        .map_err(|_| format!("bad \\x{hex}"))?,
                                );
                                i += 2;
                            }
                            other => return Err(format!("bad escape {other:?} in {msg:?}")),
                        }
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            if i < b.len() && b[i] != b' ' {
                return Err(format!("garbage after a quoted value in {msg:?}"));
            }
            String::from_utf8_lossy(&v).into_owned()
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                if b[i] == b'"' {
                    return Err(format!("quote inside a bare value in {msg:?}"));
                }
                i += 1;
            }
            msg[start..i].to_string()
        };
        if fields.insert(key.to_string(), value).is_some() {
            return Err(format!("duplicate key {key:?} in {msg:?}"));
        }
    }
    Ok(fields)
}

impl Lab {
    pub fn syslog(&self) -> &Syslog {
        &self.syslog
    }

    /// Stops the syslog receiver the way a dying daemon would: the socket
    /// closes and its name goes away, so sends fail.
    pub fn stop_syslog(&mut self) {
        self.syslog.stop();
        let _ = fs::remove_file(&self.syslog.path);
    }

    /// Starts the syslog receiver again on the same path, keeping what it
    /// received before.
    pub fn restart_syslog(&mut self) {
        self.syslog.listen();
    }

    /// Waits for an audit record with all of `fields` (key, value).
    pub fn wait_audit(&self, fields: &[(&str, &str)]) -> Record {
        self.syslog
            .wait_for(|r| r.has(fields), WAIT)
            .unwrap_or_else(|| {
                panic!(
                    "no audit record with {fields:?}; received:\n{}",
                    self.syslog.raw().join("\n")
                )
            })
    }

    /// A diagnostic dump: sshd's log and the syslog lines received.
    pub fn diagnostics(&self) -> String {
        format!(
            "===== lab {} =====\n----- sshd log -----\n{}\n----- syslog datagrams -----\n{}\n==========",
            self.dir.display(),
            self.sshd_log(),
            self.syslog.raw().join("\n")
        )
    }
}
