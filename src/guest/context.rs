//! What is known about this login so far; every audit line carries it.

use super::*;

/// What is known about this login so far; every audit line carries it.
#[derive(Default)]
pub(super) struct Context {
    pub(super) guest: Option<String>,
    pub(super) fingerprint: Option<String>,
    pub(super) key_type: Option<String>,
    /// The certificate principal that identified the guest.
    pub(super) principal: Option<String>,
    /// The certificate's key id and serial.
    pub(super) cert: Option<(String, u64)>,
    pub(super) from: Option<String>,
    pub(super) request: Vec<u8>,
    pub(super) host: Option<String>,
    pub(super) session: Option<String>,
    pub(super) mode: Option<&'static str>,
}

/// Longest request kept in an audit line. A real request is a session
/// name; anything longer is refused, and only its start is logged (with its
/// length), so an oversized request can neither exceed a syslog datagram
/// and vanish from the trail, nor push `reason` out of a truncated line.
pub(super) const MAX_REQUEST_LOGGED: usize = 128;

impl Context {
    pub(super) fn event(&self, name: &str) -> Event {
        self.fields(Event::new(name))
    }

    pub(super) fn fields(&self, event: Event) -> Event {
        let request = &self.request[..self.request.len().min(MAX_REQUEST_LOGGED)];
        let event = event
            .opt("guest", self.guest.as_deref())
            .opt("fingerprint", self.fingerprint.as_deref())
            .opt("key_type", self.key_type.as_deref())
            .opt("principal", self.principal.as_deref())
            .opt("cert_id", self.cert.as_ref().map(|c| c.0.as_str()))
            .opt("cert_serial", self.cert.as_ref().map(|c| c.1.to_string()))
            .opt("from", self.from.as_deref())
            .opt("host", self.host.as_deref())
            .opt("session", self.session.as_deref())
            .opt("mode", self.mode)
            .field_bytes("request", request);
        if self.request.len() > MAX_REQUEST_LOGGED {
            event.field("request_len", self.request.len().to_string())
        } else {
            event
        }
    }
}

/// The guest's address, from `SSH_CONNECTION` (set by sshd).
pub(super) fn ssh_client_address() -> Option<String> {
    let conn = std::env::var("SSH_CONNECTION").ok()?;
    conn.split(' ').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn oversized_request_cannot_push_reason_out_of_the_audit_line() {
        let trail = Context {
            guest: Some("alice".into()),
            request: [b"api; id".as_slice(), &[b' '; 250_000]].concat(),
            ..Context::default()
        };
        let event = trail.fields(Event::new("deny").field("reason", "bad-request"));
        let line = event.line();
        assert!(line.starts_with("event=deny reason=bad-request "), "{line}");
        assert!(line.ends_with(" request_len=250007"), "{line}");
        assert!(line.len() < 512, "{} bytes", line.len());
    }

    #[test]
    pub(super) fn short_request_is_logged_whole_without_a_length() {
        let trail = Context {
            request: b"api".to_vec(),
            ..Context::default()
        };
        assert_eq!(trail.event("join").line(), "event=join request=api");
    }
}
