//! On a machine shared with the system under test, a saturated CPU would delay the harness's
//! sends and watch receipts along with everything else, and the measurement would drift with
//! the load. The harness therefore raises its own threads' scheduling priority (nice −10)
//! where it is allowed to, *after* starting the cluster and the controller, which must not
//! inherit it. Without the privilege it says so; the harness lag in the report shows the cost.

use std::process::{Command, Stdio};

/// The nice value the harness asks for.
pub const NICE: i32 = -10;

/// Renices every thread of this process (threads made later inherit it). Returns how many
/// threads were raised, or why not.
pub fn raise() -> Result<usize, String> {
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    let mut raised = 0;
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().to_string();
        let status = Command::new("renice")
            .args(["-n", &NICE.to_string(), "-p", &tid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("renice: {e}"))?;
        if !status.success() {
            return Err(format!(
                "renice {NICE} was refused (needs root or CAP_SYS_NICE)"
            ));
        }
        raised += 1;
    }
    Ok(raised)
}

/// This thread's nice value, from `/proc/thread-self/stat` (field 19).
pub fn current_nice() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    sandbox_cluster::procfs::stat_field(&stat, 19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nice_value_of_this_thread_is_readable() {
        let nice = current_nice().unwrap();
        assert!((-20..=19).contains(&nice), "{nice}");
    }

    /// Runs in a child thread so the test binary's other threads keep their priority; the
    /// machine running the tests is root (CI installs packages as root).
    #[test]
    fn raising_applies_to_threads_made_afterwards() {
        let handle = std::thread::spawn(|| {
            let before = current_nice().unwrap();
            match raise() {
                Ok(n) => {
                    assert!(n >= 1);
                    let child = std::thread::spawn(current_nice).join().unwrap().unwrap();
                    assert_eq!(child, NICE, "before: {before}");
                }
                Err(e) => assert!(e.contains("refused"), "{e}"),
            }
        });
        handle.join().unwrap();
    }
}
