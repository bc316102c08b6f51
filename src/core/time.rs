//! Times on the command line: durations, instants, local times of day.

/// `--for DURATION` or `--until TIME` (at most one is given): the instant
/// access ends, in whole seconds and in the future, or `None` for neither.
pub(crate) fn ends(
    for_: Option<&str>,
    until: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Option<jiff::Timestamp>, String> {
    let t = match (for_, until) {
        (Some(d), _) => now
            .checked_add(parse_duration(d).map_err(|e| format!("--for {e}"))?)
            .map_err(|e| format!("--for {d}: {e}"))?,
        (None, Some(t)) => {
            parse_time(t, now, Toward::Future).map_err(|e| format!("--until {e}"))?
        }
        (None, None) => return Ok(None),
    };
    // Whole seconds: the host file keeps no more, and messages agree.
    let t = t.round(jiff::Unit::Second).unwrap_or(t);
    if t <= now {
        return Err(format!("{t} is not in the future"));
    }
    Ok(Some(t))
}

/// `pairshell log --since TIME`: a moment in the past. A duration (`2h`)
/// means that long ago; otherwise TIME takes the forms of `--until`, and a
/// bare time of day still to come today means yesterday's.
pub(crate) fn parse_since(text: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, String> {
    if let Ok(d) = parse_duration(text) {
        return now
            .checked_sub(d)
            .map_err(|e| format!("--since {text}: {e}"));
    }
    parse_time(text, now, Toward::Past).map_err(|_| {
        format!(
            "--since {text:?}: expected a duration such as 2h or 3d (that long ago), \
             2026-11-21T18:00:00Z, 2026-11-21 18:00 or 18:00"
        )
    })
}

/// `--expires TIME`: an instant, a local time (as `--until`) or a duration
/// from now (as `--for`), in whole seconds and in the future.
pub(crate) fn parse_expires(text: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, String> {
    let t = match parse_duration(text) {
        Ok(d) => now
            .checked_add(d)
            .map_err(|e| format!("--expires {text}: {e}"))?,
        Err(_) => parse_time(text, now, Toward::Future).map_err(|_| {
            format!(
                "--expires {text:?}: expected a time (2026-11-21T18:00:00Z, 2026-11-21 18:00, 18:00) \
                 or a duration (8h, 30d)"
            )
        })?,
    };
    let t = t.round(jiff::Unit::Second).unwrap_or(t);
    if t <= now {
        return Err(format!("--expires {text}: {t} is not in the future"));
    }
    Ok(t)
}

/// Errors name the text but not the flag; callers add it.
pub(crate) fn parse_duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let bad = || format!("{text:?}: expected a duration such as 45s, 30m, 2h, 1h30m or 3d");
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days.parse().map_err(|_| bad())?;
        // At most a century: beyond that it is a typo, not a plan.
        let hours = days
            .checked_mul(24)
            .filter(|h| (1..=24 * 36_525).contains(h))
            .ok_or_else(bad)?;
        return Ok(jiff::SignedDuration::from_hours(hours));
    }
    let d: jiff::SignedDuration = text.parse().map_err(|_| bad())?;
    if d.is_positive() {
        Ok(d)
    } else {
        Err(bad())
    }
}

/// Which day a bare time of day (`18:00`) falls on: the next one to come
/// (`--until`) or the last one gone (`--since`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Toward {
    Future,
    Past,
}

/// An RFC 3339 instant, a local date and time, or a local time of day.
/// Errors name the text but not the flag; callers add it.
fn parse_time(text: &str, now: jiff::Timestamp, toward: Toward) -> Result<jiff::Timestamp, String> {
    use jiff::civil::{DateTime, Time};
    use jiff::tz::TimeZone;
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let tz = TimeZone::system();
    let local = |dt: DateTime| {
        dt.to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|e| format!("{text}: {e}"))
    };
    if let Ok(dt) = text.parse::<DateTime>() {
        return local(dt);
    }
    if let Ok(time) = text.parse::<Time>() {
        let today = now.to_zoned(tz.clone()).date();
        let t = local(today.to_datetime(time))?;
        let other_day = match toward {
            Toward::Future if t <= now => today.tomorrow(),
            Toward::Past if t > now => today.yesterday(),
            _ => return Ok(t),
        };
        return local(other_day.map_err(|e| e.to_string())?.to_datetime(time));
    }
    Err(format!(
        "{text:?}: expected 2026-11-21T18:00:00Z, 2026-11-21 18:00 or 18:00"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_for_expiry() {
        let now: jiff::Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
        struct E<'a>(Option<&'a str>, Option<&'a str>);
        impl E<'_> {
            fn resolve(&self, now: jiff::Timestamp) -> Result<Option<jiff::Timestamp>, String> {
                ends(self.0, self.1, now)
            }
        }
        let e = |f, u| E(f, u);
        let at = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(
            e(Some("30m"), None).resolve(now).unwrap(),
            at("2026-11-20T12:30:00Z")
        );
        assert_eq!(
            e(Some("1h30m"), None).resolve(now).unwrap(),
            at("2026-11-20T13:30:00Z")
        );
        assert_eq!(
            e(Some("3d"), None).resolve(now).unwrap(),
            at("2026-11-23T12:00:00Z")
        );
        assert_eq!(
            e(None, Some("2026-11-21T18:00:00Z")).resolve(now).unwrap(),
            at("2026-11-21T18:00:00Z")
        );
        assert_eq!(e(None, None).resolve(now).unwrap(), None);
        for bad in ["", "soon", "-5m", "0s", "xd"] {
            assert!(e(Some(bad), None).resolve(now).is_err(), "{bad}");
        }
        assert!(e(None, Some("2026-11-19T00:00:00Z")).resolve(now).is_err());
        assert!(e(None, Some("18:00")).resolve(now).unwrap().unwrap() > now);
    }
    #[test]
    fn since_is_a_moment_in_the_past() {
        let now: jiff::Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(parse_since("2h", now).unwrap(), at("2026-11-20T10:00:00Z"));
        assert_eq!(parse_since("3d", now).unwrap(), at("2026-11-17T12:00:00Z"));
        assert_eq!(
            parse_since("2026-11-19T08:00:00Z", now).unwrap(),
            at("2026-11-19T08:00:00Z")
        );
        // A bare time of day is the last one gone, never one still to come.
        let t = parse_since("18:00", now).unwrap();
        assert!(t <= now && now.duration_since(t) < jiff::SignedDuration::from_hours(24));
        for bad in ["", "soon", "-5m", "0s", "2h ago"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.starts_with("--since "), "{e}");
        }
    }
    #[test]
    fn expires_takes_a_time_or_a_duration() {
        let now: jiff::Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            parse_expires("30d", now).unwrap(),
            at("2026-12-20T12:00:00Z")
        );
        assert_eq!(
            parse_expires("2026-12-31T18:00:00Z", now).unwrap(),
            at("2026-12-31T18:00:00Z")
        );
        assert!(parse_expires("18:00", now).unwrap() > now);
        for bad in ["", "soon", "2026-01-01T00:00:00Z", "-1h"] {
            assert!(parse_expires(bad, now).is_err(), "{bad}");
        }
    }
}
