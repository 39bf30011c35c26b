//! Signal handling for a process that runs as PID 1 of a container. The kernel drops a
//! signal sent to a namespace's init when that init has the default disposition for it, so
//! a plain PID 1 ignores SIGTERM and is only killed after the grace period. A signal that is
//! blocked is never dropped, though: blocking the termination signals and taking them with
//! `sigwait` makes them arrive, without a signal handler (and without `unsafe`).

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The signals that ask a container to stop: SIGTERM from the kubelet, SIGINT from a terminal.
pub const TERMINATION: [Signal; 2] = [Signal::SIGTERM, Signal::SIGINT];

/// Blocks `signals` in the calling thread and returns them as a set to wait on. Call it in the
/// main thread before any other thread starts: threads inherit the mask, so none of them
/// can take a signal meant for the waiting thread.
pub fn block(signals: &[Signal]) -> nix::Result<SigSet> {
    let set: SigSet = signals.iter().copied().collect();
    set.thread_block()?;
    Ok(set)
}

/// Starts a thread that exits the process with status 0 at the first of `set`'s signals:
/// a stop request is the end of a probe's work, not a failure.
pub fn exit_on(set: SigSet) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || match set.wait() {
            Ok(_) => std::process::exit(0),
            Err(e) => eprintln!("sigwait: {e}; stop signals are blocked for good"),
        })
        .map(drop)
}

/// Reaps every child that has exited, without blocking; returns how many. A PID namespace's
/// init inherits every orphan in it and must collect them, or they stay zombies.
pub fn reap_children() -> usize {
    let mut reaped = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            // Children remain, none exited yet.
            Ok(WaitStatus::StillAlive) => return reaped,
            Ok(_) => reaped += 1,
            // No children at all (ECHILD), or a stray error: nothing more to collect now.
            Err(Errno::EINTR) => continue,
            Err(_) => return reaped,
        }
    }
}
