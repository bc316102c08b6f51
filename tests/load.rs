//! Many guests on one shared session at once, through the lab's real sshd:
//! all join together, stay attached while the host keeps working, and leave
//! together, with exactly one `join` and one `leave` audit line each. The
//! scenario lives in `lab/src/load.rs`, which `cargo bench --bench
//! login` runs with 50 guests and timings; this test asserts behaviour only.
//!
//! Needs root; without it, it prints `SKIPPED:` and passes (unless `CI` is
//! set, where it fails).

use pairshell_lab as support;
use pairshell_lab::lab;

use support::load;

#[test]
fn ten_guests_join_one_session_at_once_and_leave_with_a_clean_trail() {
    let mut lab = lab!();
    let outcome = load::run(&mut lab, 10);
    assert_eq!(outcome.join_latencies.len(), 10);
}
