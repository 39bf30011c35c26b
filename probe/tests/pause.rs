//! The pause binary stops promptly and cleanly when the kubelet asks it to.

mod common;

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

#[test]
fn sigterm_ends_the_pause_process_with_status_0_within_2s() {
    let mut pause = Command::new(env!("CARGO_BIN_EXE_sandbox-pause"))
        .spawn()
        .expect("spawn sandbox-pause");
    let pid = pause.id();
    let signals = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD];
    let ready = common::eventually(Duration::from_secs(5), || {
        common::takes_signals(pid, &signals)
    });
    if !ready {
        let _ = pause.kill();
        let _ = pause.wait();
        panic!("sandbox-pause never blocked its signals");
    }
    let status = common::terminate(&mut pause, Duration::from_secs(2));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{status:?}");
}
