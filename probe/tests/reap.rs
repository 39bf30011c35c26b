//! The reaping the pause process does, tried in a test binary of its own: `waitpid(-1)` takes
//! any child of the process, so it must not share one with tests that wait for their own.

use std::process::Command;
use std::time::Duration;

use sandbox_probe::signals::reap_children;

#[test]
fn exited_children_are_reaped_and_none_left_means_zero() {
    let mut children: Vec<_> = (0..3)
        .map(|_| Command::new("true").spawn().expect("spawn true"))
        .collect();
    // Let every child exit and become a zombie; `true` takes a few milliseconds at most.
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let zombies = || {
        pids.iter().all(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !zombies() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(zombies(), "the children did not exit");
    assert_eq!(reap_children(), 3);
    // Reaped already: their zombies are gone, and std can no longer wait for them.
    assert!(
        pids.iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    );
    assert!(children.iter_mut().all(|c| c.try_wait().is_err()));
    assert_eq!(reap_children(), 0);
}
