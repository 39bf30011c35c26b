//! `sandbox-pause`: the Pod sandbox's "pause" process. It holds the Pod's namespaces open and,
//! as PID 1 of a PID namespace the Pod's containers share, reaps the orphans that land on it.
//! It does nothing else: it sleeps in `sigwait` until a child exits or it is told to stop.

use std::process::ExitCode;

use nix::sys::signal::Signal;
use sandbox_probe::signals;

fn main() -> ExitCode {
    let set = match signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD]) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("sandbox-pause: cannot block signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => {
                signals::reap_children();
            }
            Ok(_) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sandbox-pause: sigwait: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
