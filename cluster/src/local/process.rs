//! Child processes of a local cluster: spawned in their own process group with output sent
//! to a log file, checked for early exit, and stopped with SIGTERM, then SIGKILL after a grace
//! period. A process group of its own keeps a terminal's Ctrl-C away from the components, so
//! the harness decides the order of shutdown.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::procfs::stat_field;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        name: &'static str,
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot send {signal} to {name}: {errno}")]
    Signal {
        name: &'static str,
        signal: &'static str,
        errno: Errno,
    },
    #[error("{name} exited early ({status}); last lines of {log}:\n{tail}")]
    Exited {
        name: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
}

/// A running component of the cluster.
///
/// Dropping it stops the process; [`Component::detach`] lets it run on.
#[derive(Debug)]
pub struct Component {
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
    /// How it was started, so that it can be started again the same way.
    command: Launch,
}

#[derive(Debug, Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Launch {
    /// Starts the program in a process group of its own, its output appended to `log`
    /// (created or truncated first unless `append`).
    fn spawn(&self, name: &'static str, log: &Path, append: bool) -> Result<Child, ProcessError> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(log)
            .map_err(|source| ProcessError::Log {
                path: log.to_path_buf(),
                source,
            })?;
        let err = out.try_clone().map_err(|source| ProcessError::Log {
            path: log.to_path_buf(),
            source,
        })?;
        Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                name,
                program: self.program.clone(),
                source,
            })
    }
}

impl Component {
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, ProcessError> {
        Self::spawn_with_env(name, program, args, &[], log)
    }

    /// [`spawn`](Self::spawn) with extra environment variables (e.g. containerd's `PATH`,
    /// where it looks for its shims).
    pub fn spawn_with_env(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Result<Self, ProcessError> {
        let command = Launch {
            program: program.to_path_buf(),
            args: args.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        };
        let child = command.spawn(name, &log, false)?;
        Ok(Self {
            name,
            log,
            child,
            command,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the process outlive this handle (and this program).
    pub fn detach(self) {
        std::mem::forget(self);
    }

    /// Fails with the end of the component's log if it has exited.
    pub fn ensure_running(&mut self) -> Result<(), ProcessError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(self.exited(format!("wait failed: {e}"))),
        }
    }

    fn exited(&self, status: String) -> ProcessError {
        ProcessError::Exited {
            name: self.name,
            status,
            log: self.log.clone(),
            tail: log_tail(&self.log, 20),
        }
    }

    /// SIGKILLs the component's process group and reaps it, as a crash would end it.
    pub fn kill(&mut self) {
        if let Ok(raw) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// Sends `signal` to the component's process group (SIGSTOP, SIGCONT).
    pub fn signal(&self, signal: Signal) -> Result<(), ProcessError> {
        let raw = i32::try_from(self.child.id()).unwrap_or(i32::MAX);
        killpg(Pid::from_raw(raw), signal).map_err(|e| ProcessError::Signal {
            name: self.name,
            signal: signal.as_str(),
            errno: e,
        })
    }

    /// Starts the component again as it was first started, after it ended (see
    /// [`kill`](Self::kill)); its log continues.
    pub fn respawn(&mut self) -> Result<(), ProcessError> {
        if matches!(self.child.try_wait(), Ok(None)) {
            return Ok(());
        }
        self.child = self.command.spawn(self.name, &self.log, true)?;
        Ok(())
    }

    /// Stops the component's process group and reaps it. Idempotent.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let child = &mut self.child;
        stop_group(child.id(), grace, || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Sends SIGTERM to the process group `pgid`, waits up to `grace` for `gone` to report the
/// leader has exited, then sends SIGKILL. Returns whether SIGKILL was needed.
pub fn stop_group(pgid: u32, grace: Duration, mut gone: impl FnMut() -> bool) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    let group = Pid::from_raw(raw);
    if killpg(group, Signal::SIGTERM) == Err(Errno::ESRCH) {
        return false;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if gone() {
            // The leader is gone; make sure nothing else in its group lingers.
            let _ = killpg(group, Signal::SIGKILL);
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
    true
}

/// Whether `pid` names a process that is still running (zombies count as gone).
pub fn is_live(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_field(&stat, 3).is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`); with the
/// pid it names one process even after the pid number is reused.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_field(&stat, 22)?.parse().ok()
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exited_component_reports_its_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Component::spawn(
            "shell",
            Path::new("/bin/sh"),
            &["-c".into(), "echo first; echo boom >&2; exit 3".into()],
            dir.path().join("shell.log"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = loop {
            match c.ensure_running() {
                Err(e) => break e,
                Ok(()) if Instant::now() > deadline => panic!("shell did not exit"),
                Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let msg = err.to_string();
        assert!(msg.contains("shell exited early"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn stop_ends_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild");
        // The shell ignores SIGTERM and starts a grandchild: only SIGKILL to the group ends both.
        let script = format!(
            "trap '' TERM; sleep 300 & echo $! > {}; wait",
            pid_file.display()
        );
        let mut c = Component::spawn(
            "stubborn",
            Path::new("/bin/sh"),
            &["-c".into(), script],
            dir.path().join("stubborn.log"),
        )
        .unwrap();
        // The shell creates the file before `echo` writes to it: wait for the whole pid.
        let deadline = Instant::now() + Duration::from_secs(5);
        let grandchild: u32 = loop {
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            match text.strip_suffix('\n').map(str::parse) {
                Some(Ok(pid)) => break pid,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => panic!("no pid in {}: {text:?}", pid_file.display()),
            }
        };
        c.stop(Duration::from_millis(200));
        assert!(c.ensure_running().is_err(), "leader still running");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!is_live(grandchild), "grandchild {grandchild} survived");
    }

    /// Waits until `path` holds at least `lines` lines.
    fn wait_for_lines(path: &Path, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= lines || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_killed_component_starts_again_the_same_way_and_its_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("crashy.log");
        let mut c = Component::spawn_with_env(
            "crashy",
            Path::new("/bin/sh"),
            &["-c".into(), "echo \"up $GREETING\"; exec sleep 300".into()],
            &[("GREETING", "again".into())],
            log.clone(),
        )
        .unwrap();
        assert_eq!(wait_for_lines(&log, 1), "up again\n");
        let first = c.pid();
        c.respawn().unwrap();
        assert_eq!(c.pid(), first, "a running component is not started twice");
        c.kill();
        assert!(c.ensure_running().is_err(), "still running after SIGKILL");
        c.respawn().unwrap();
        assert_ne!(c.pid(), first);
        assert!(c.ensure_running().is_ok());
        assert_eq!(wait_for_lines(&log, 2), "up again\nup again\n");
        c.signal(Signal::SIGSTOP).unwrap();
        let state = || {
            std::fs::read_to_string(format!("/proc/{}/stat", c.pid()))
                .ok()
                .and_then(|s| stat_field(&s, 3).map(str::to_string))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while state().as_deref() != Some("T") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state().as_deref(), Some("T"), "not stopped");
        c.signal(Signal::SIGCONT).unwrap();
        c.stop(Duration::from_millis(200));
    }
}
