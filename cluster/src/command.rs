//! Running command-line tools (`kind`, `docker`, `kubectl`, `ctr`, `ip`), one command at a time, with
//! their output captured. A failure carries what is needed to reproduce and understand it: the
//! command line, the exit status and what the tool wrote on stderr.

use std::ffi::{OsStr, OsString};
use std::io;
use std::process::Output;
use std::time::Duration;

/// How often a running command is polled. kind's steps take seconds; this costs nothing.
const POLL: Duration = Duration::from_millis(100);
/// How much of stderr an error keeps (the end, where tools put the reason they stopped).
const STDERR_TAIL: usize = 4000;

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// A name looked up on `PATH`, or a path.
    program: OsString,
    args: Vec<OsString>,
}

/// What a command that exited with status 0 printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("`{command}`: {program} was not found; install it or put it on PATH")]
    NotFound { command: String, program: String },
    #[error("`{command}` could not be started: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` failed ({status}); stderr: {stderr}")]
    Failed {
        command: String,
        /// `exit status: 3`, `signal: 9 (SIGKILL)`, …
        status: String,
        stderr: String,
    },
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// The command line as it could be pasted into a shell.
    pub fn line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|word| shell_quote(&word.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Output captured, nothing read from stdin, and the exit status checked by [`finish`]
    /// rather than by duct, so that a failure keeps its stderr.
    fn expression(&self) -> duct::Expression {
        duct::cmd(&self.program, &self.args)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
    }

    /// Runs the command to its end on this thread (for `Drop` and other places that cannot
    /// await).
    pub fn run_blocking(&self) -> Result<Finished, CommandError> {
        let output = self
            .expression()
            .run()
            .map_err(|source| self.start_error(source))?;
        self.finish(&output)
    }

    /// Runs the command to its end without blocking the runtime. Dropping the future (a
    /// Ctrl-C, a timeout) kills the command.
    pub async fn run(&self) -> Result<Finished, CommandError> {
        let running = Running::start(self)?;
        loop {
            match running.0.try_wait() {
                Ok(Some(output)) => return self.finish(output),
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(source) => return Err(self.start_error(source)),
            }
        }
    }

    fn start_error(&self, source: io::Error) -> CommandError {
        if source.kind() == io::ErrorKind::NotFound {
            CommandError::NotFound {
                command: self.line(),
                program: self.program.to_string_lossy().into_owned(),
            }
        } else {
            CommandError::Spawn {
                command: self.line(),
                source,
            }
        }
    }

    fn finish(&self, output: &Output) -> Result<Finished, CommandError> {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            return Err(CommandError::Failed {
                command: self.line(),
                status: output.status.to_string(),
                stderr: tail(stderr.trim(), STDERR_TAIL),
            });
        }
        Ok(Finished {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        })
    }
}

/// A started command that is killed if it is dropped before it has finished.
struct Running(duct::Handle);

impl Running {
    fn start(command: &Command) -> Result<Self, CommandError> {
        command
            .expression()
            .start()
            .map(Running)
            .map_err(|source| command.start_error(source))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
    }
}

/// `word` as a shell reads it back: bare when that is unambiguous, else in single quotes.
fn shell_quote(word: &str) -> String {
    let bare = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if bare {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The last `max` bytes of `text` (on a character boundary), marked when cut.
fn tail(text: &str, max: usize) -> String {
    if text.is_empty() {
        return "(nothing)".into();
    }
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(result: Result<Finished, CommandError>) -> (String, String, String) {
        match result {
            Err(CommandError::Failed {
                command,
                status,
                stderr,
            }) => (command, status, stderr),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_successful_command_gives_its_output() {
        let done = Command::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .run_blocking()
            .unwrap();
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
    }

    #[test]
    fn a_non_zero_exit_names_the_command_and_the_status() {
        let (command, status, stderr) = failed(Command::new("false").run_blocking());
        assert_eq!(command, "false");
        assert_eq!(status, "exit status: 1");
        assert_eq!(stderr, "(nothing)");
    }

    #[test]
    fn a_failure_keeps_stderr_and_a_pasteable_command_line() {
        let result = Command::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run_blocking();
        let (command, status, stderr) = failed(result);
        assert_eq!(command, "sh -c 'echo boom >&2; exit 3'");
        assert_eq!(status, "exit status: 3");
        assert_eq!(stderr, "boom");
        let message = Command::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run_blocking()
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "`sh -c 'echo boom >&2; exit 3'` failed (exit status: 3); stderr: boom"
        );
    }

    #[test]
    fn a_killed_command_reports_the_signal() {
        let (_, status, _) = failed(Command::new("sh").args(["-c", "kill -9 $$"]).run_blocking());
        assert!(status.starts_with("signal: 9"), "{status}");
    }

    #[test]
    fn a_missing_program_is_named_with_the_fix() {
        let err = Command::new("sandbox-bench-no-such-tool")
            .arg("version")
            .run_blocking()
            .unwrap_err();
        assert!(matches!(err, CommandError::NotFound { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "`sandbox-bench-no-such-tool version`: sandbox-bench-no-such-tool was not found; \
             install it or put it on PATH"
        );
    }

    #[test]
    fn a_program_that_cannot_be_executed_is_a_start_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-executable");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let err = Command::new(&file).run_blocking().unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }), "{err:?}");
        assert!(err.to_string().contains("could not be started"), "{err}");
    }

    #[tokio::test]
    async fn the_async_run_reports_like_the_blocking_one() {
        let done = Command::new("echo").arg("hi").run().await.unwrap();
        assert_eq!(done.stdout, "hi\n");
        let (_, status, stderr) = failed(
            Command::new("sh")
                .args(["-c", "echo boom >&2; exit 3"])
                .run()
                .await,
        );
        assert_eq!(
            (status.as_str(), stderr.as_str()),
            ("exit status: 3", "boom")
        );
        let err = Command::new("sandbox-bench-no-such-tool")
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::NotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn dropping_a_running_command_kills_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let command = Command::new("sh").args(["-c", &script]);
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_millis(500), command.run()).await;
        assert!(result.is_err(), "the command should still be running");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Gone, or a zombie waiting for duct to reap it: either way no longer running.
        let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        while !gone() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            gone(),
            "pid {pid} still running after the future was dropped"
        );
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("--name"), "--name");
        assert_eq!(shell_quote("{{.Server.Version}}"), "'{{.Server.Version}}'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn long_stderr_keeps_its_end() {
        let text = format!("{}END", "x".repeat(10));
        assert_eq!(tail(&text, 5), "…xxEND");
        assert_eq!(tail("short", 5), "short");
    }
}
