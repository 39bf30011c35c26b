//! Helpers the binaries' integration tests share: stopping a spawned binary and waiting, with
//! a deadline, for it to exit or to be ready.

#![allow(dead_code)] // Each test file uses its own part of these helpers.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Polls `ready` every 10 ms until it holds or `limit` passes; whether it held.
pub fn eventually(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the process has blocked `signals`, so that they reach its `sigwait` rather than
/// kill it by default. A test waits for this before signalling: a signal that came first
/// would fail the test on a start-up race, not on the process's handling.
///
/// `SigBlk` in its status shows the block only between the block and the wait: while the
/// process sleeps in `sigwait` the kernel unblocks the awaited signals for the duration, so a
/// process asleep in the kernel's `sigtimedwait` (its `wchan`) counts as ready too.
pub fn takes_signals(pid: u32, signals: &[Signal]) -> bool {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    if wchan.contains("sigtimedwait") {
        return true;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0);
    signals
        .iter()
        .all(|&s| blocked & (1 << (s as i32 - 1)) != 0)
}

/// Sends SIGTERM and returns the exit status if the process ends within `limit`; kills it
/// otherwise, so a failing test leaves no process behind.
pub fn terminate(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let mut status = None;
    eventually(limit, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}
