//! The command-line tools the kind provider drives, found on `PATH` and checked for a usable
//! version before anything is created, so a missing or old tool is one clear error and not a
//! half-made cluster.
//!
//! Unlike the local provider's pinned binaries these come from the user's machine: kind and
//! Docker are installed system-wide, and the cluster they make is the same whichever build
//! made it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::command::{Command, CommandError};

/// A tool the provider runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kind,
    Docker,
    Kubectl,
}

/// `major.minor.patch`, compared in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The leading `[v]X[.Y[.Z]]` of `text`; anything after it (`-alpha`, `+dirty`) is
    /// ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let mut parts = text[..end].split('.').map(str::parse::<u32>);
        let major = parts.next()?.ok()?;
        let minor = parts.next().unwrap_or(Ok(0)).ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(Self::new(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} is not on PATH; install it from {hint}")]
    NotOnPath {
        tool: &'static str,
        hint: &'static str,
    },
    #[error(
        "{tool} {found} is too old: the kind provider needs {minimum} or newer; install a newer one from {hint}"
    )]
    TooOld {
        tool: &'static str,
        found: Version,
        minimum: Version,
        hint: &'static str,
    },
    #[error("cannot read the version of {tool} from `{command}`; it printed: {output:?}")]
    Unreadable {
        tool: &'static str,
        command: String,
        output: String,
    },
    #[error(
        "docker is installed but its daemon does not answer; start Docker (or give this user access to it): {0}"
    )]
    DaemonDown(CommandError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl Tool {
    pub fn program(self) -> &'static str {
        match self {
            Tool::Kind => "kind",
            Tool::Docker => "docker",
            Tool::Kubectl => "kubectl",
        }
    }

    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Kind => "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
            Tool::Docker => "https://docs.docker.com/engine/install/",
            Tool::Kubectl => "https://kubernetes.io/docs/tasks/tools/",
        }
    }

    /// The oldest version the provider accepts: kind 0.20 and Docker 20.10 are the floors it
    /// is written for (a node image only runs on the kind releases it was built for, so older
    /// kinds cannot run the pinned image anyway). Any kubectl will do: it only applies
    /// manifests.
    pub fn minimum(self) -> Option<Version> {
        match self {
            Tool::Kind => Some(Version::new(0, 20, 0)),
            Tool::Docker => Some(Version::new(20, 10, 0)),
            Tool::Kubectl => None,
        }
    }

    /// The command that prints the version. Docker's asks the daemon (`Server`), which also
    /// proves the daemon is up.
    pub fn version_command(self, path: &Path) -> Command {
        let command = Command::new(path);
        match self {
            Tool::Kind => command.arg("version"),
            Tool::Docker => command.args(["version", "--format", "{{.Server.Version}}"]),
            Tool::Kubectl => command.args(["version", "--client", "-o", "json"]),
        }
    }

    /// The version in what [`version_command`](Self::version_command) printed.
    pub fn parse_version(self, output: &str) -> Option<Version> {
        match self {
            // `kind v0.31.0 go1.25.5 linux/amd64`
            Tool::Kind => output
                .split_whitespace()
                .skip_while(|w| *w != "kind")
                .nth(1)
                .and_then(Version::parse),
            // `27.3.1`
            Tool::Docker => Version::parse(output),
            // `{"clientVersion": {"gitVersion": "v1.35.0", …}, …}`
            Tool::Kubectl => {
                let json: serde_json::Value = serde_json::from_str(output).ok()?;
                Version::parse(json["clientVersion"]["gitVersion"].as_str()?)
            }
        }
    }

    /// The version in `output`, if it is new enough.
    pub fn judge(self, command: &Command, output: &str) -> Result<Version, ToolError> {
        let found = self
            .parse_version(output)
            .ok_or_else(|| ToolError::Unreadable {
                tool: self.program(),
                command: command.line(),
                output: output.trim().to_string(),
            })?;
        match self.minimum() {
            Some(minimum) if found < minimum => Err(ToolError::TooOld {
                tool: self.program(),
                found,
                minimum,
                hint: self.install_hint(),
            }),
            _ => Ok(found),
        }
    }
}

/// A tool found and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub version: Version,
}

/// The three tools, each found on `PATH` with a usable version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub kind: Found,
    pub docker: Found,
    pub kubectl: Found,
}

impl Tools {
    /// Finds and checks every tool on `PATH`; the first problem is the error.
    pub async fn find() -> Result<Self, ToolError> {
        Self::find_in(&std::env::var_os("PATH").unwrap_or_default()).await
    }

    /// The same on `path_var`, a `PATH`-style list of directories.
    pub async fn find_in(path_var: &OsStr) -> Result<Self, ToolError> {
        Ok(Self {
            kind: find(Tool::Kind, path_var).await?,
            docker: find(Tool::Docker, path_var).await?,
            kubectl: find(Tool::Kubectl, path_var).await?,
        })
    }

    pub fn kind(&self) -> Command {
        Command::new(&self.kind.path)
    }

    pub fn docker(&self) -> Command {
        Command::new(&self.docker.path)
    }

    pub fn kubectl(&self) -> Command {
        Command::new(&self.kubectl.path)
    }
}

/// `tool` on `path_var` (a `PATH` value), with its version checked.
pub async fn find(tool: Tool, path_var: &OsStr) -> Result<Found, ToolError> {
    let path = find_on_path(tool.program(), path_var).ok_or(ToolError::NotOnPath {
        tool: tool.program(),
        hint: tool.install_hint(),
    })?;
    let command = tool.version_command(&path);
    let output = match command.run().await {
        Ok(done) => done.stdout,
        Err(e @ CommandError::Failed { .. }) if tool == Tool::Docker => {
            return Err(ToolError::DaemonDown(e));
        }
        Err(e) => return Err(e.into()),
    };
    let version = tool.judge(&command, &output)?;
    Ok(Found { path, version })
}

/// The first executable file named `program` in the directories of `path_var`.
pub fn find_on_path(program: &str, path_var: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_and_without_prefix_and_suffix() {
        assert_eq!(Version::parse("v0.31.0"), Some(Version::new(0, 31, 0)));
        assert_eq!(Version::parse("27.3.1\n"), Some(Version::new(27, 3, 1)));
        assert_eq!(
            Version::parse("v0.32.0-alpha+3d8a5b1"),
            Some(Version::new(0, 32, 0))
        );
        assert_eq!(Version::parse("20.10"), Some(Version::new(20, 10, 0)));
        assert_eq!(Version::parse("dev"), None);
        assert!(Version::new(0, 9, 9) < Version::new(0, 20, 0));
    }

    // Outputs captured from the tools.
    const KIND: &str = "kind v0.31.0 go1.25.5 linux/amd64\n";
    const KIND_OLD: &str = "kind v0.17.0 go1.19.2 linux/amd64\n";
    const DOCKER: &str = "28.5.1\n";
    const KUBECTL: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.0",
    "gitCommit": "66452049f3d692768c39c797b21b793dce80314e",
    "gitTreeState": "clean",
    "buildDate": "2025-12-17T12:41:45Z",
    "goVersion": "go1.25.5",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.7.1"
}
"#;

    #[test]
    fn captured_outputs_give_their_versions() {
        assert_eq!(Tool::Kind.parse_version(KIND), Some(Version::new(0, 31, 0)));
        assert_eq!(
            Tool::Docker.parse_version(DOCKER),
            Some(Version::new(28, 5, 1))
        );
        assert_eq!(
            Tool::Kubectl.parse_version(KUBECTL),
            Some(Version::new(1, 35, 0))
        );
        assert_eq!(Tool::Kubectl.parse_version("Client Version: v1.35.0"), None);
    }

    #[test]
    fn an_old_tool_is_named_with_the_version_found_and_the_minimum() {
        let command = Tool::Kind.version_command(Path::new("/usr/local/bin/kind"));
        assert_eq!(command.line(), "/usr/local/bin/kind version");
        let err = Tool::Kind.judge(&command, KIND_OLD).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind 0.17.0 is too old: the kind provider needs 0.20.0 or newer; install a newer \
             one from https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
        );
        let docker = Tool::Docker.version_command(Path::new("docker"));
        assert_eq!(
            docker.line(),
            "docker version --format '{{.Server.Version}}'"
        );
        let err = Tool::Docker.judge(&docker, "19.03.15").unwrap_err();
        assert!(
            err.to_string().starts_with("docker 19.3.15 is too old"),
            "{err}"
        );
        assert!(Tool::Docker.judge(&docker, DOCKER).is_ok());
        let kubectl = Tool::Kubectl.version_command(Path::new("kubectl"));
        assert_eq!(
            Tool::Kubectl.judge(&kubectl, KUBECTL).unwrap(),
            Version::new(1, 35, 0)
        );
    }

    #[test]
    fn unreadable_output_is_quoted_in_the_error() {
        let command = Tool::Kind.version_command(Path::new("kind"));
        let err = Tool::Kind.judge(&command, "something else").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the version of kind from `kind version`; it printed: \"something else\""
        );
    }

    #[test]
    fn only_executable_files_on_path_are_found() {
        use std::os::unix::fs::PermissionsExt;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let plain = a.path().join("kind");
        std::fs::write(&plain, "").unwrap();
        std::fs::create_dir(a.path().join("docker")).unwrap();
        let exe = b.path().join("kind");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_on_path("kind", &path), Some(exe));
        assert_eq!(find_on_path("docker", &path), None);
    }

    #[tokio::test]
    async fn a_tool_missing_from_path_says_where_to_get_it() {
        let empty = tempfile::tempdir().unwrap();
        let err = find(Tool::Kind, empty.path().as_os_str())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind is not on PATH; install it from \
             https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
        );
    }

    #[tokio::test]
    async fn a_docker_whose_daemon_is_down_is_told_apart_from_a_missing_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("docker");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
             Is the docker daemon running?' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = find(Tool::Docker, dir.path().as_os_str())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ToolError::DaemonDown(_)), "{err:?}");
        assert!(message.contains("daemon does not answer"), "{message}");
        assert!(
            message.contains("Is the docker daemon running?"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_working_tool_is_found_with_its_version() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("kind");
        std::fs::write(&fake, format!("#!/bin/sh\nprintf '{}'\n", KIND.trim())).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = find(Tool::Kind, dir.path().as_os_str()).await.unwrap();
        assert_eq!(found.path, fake);
        assert_eq!(found.version, Version::new(0, 31, 0));
    }
}
