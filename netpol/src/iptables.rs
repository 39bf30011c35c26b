//! Running `iptables` and `iptables-restore` against the `filter` table.

use std::collections::BTreeSet;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::render;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// The two programs, as given on the command line.
#[derive(Debug, Clone)]
pub struct Iptables {
    pub iptables: String,
    pub restore: String,
}

impl Iptables {
    /// Applies `text` in one `iptables-restore --noflush` transaction: the table changes
    /// entirely or not at all, and chains not named in `text` are left alone.
    pub async fn restore(&self, text: &str) -> Result<(), Error> {
        // `-w`: wait for the xtables lock instead of failing when another writer holds it.
        let mut child = Command::new(&self.restore)
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.restore.clone(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows up as the process's own failure below.
            let _ = stdin.write_all(text.as_bytes()).await;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| Error::Spawn {
                program: self.restore.clone(),
                source,
            })?;
        check(&self.restore, &["--noflush"], out)
    }

    /// Our chains (named `prefix` or `prefix-…`) now in the filter table.
    pub async fn owned_chains(&self, prefix: &str) -> Result<BTreeSet<String>, Error> {
        let listing = self.run(&["-t", "filter", "-S"]).await?;
        Ok(chains_in(&listing, prefix))
    }

    /// Puts `-j <chain>` first in FORWARD unless it is already there somewhere.
    pub async fn ensure_jump(&self, chain: &str) -> Result<(), Error> {
        if self.run(&["-C", "FORWARD", "-j", chain]).await.is_ok() {
            return Ok(());
        }
        self.run(&["-I", "FORWARD", "1", "-j", chain])
            .await
            .map(drop)
    }

    /// Deletes every `-j <chain>` from FORWARD; true if there was one.
    pub async fn remove_jump(&self, chain: &str) -> bool {
        let mut removed = false;
        // Bounded: a failing `-D` means none is left, but never loop forever on surprises.
        for _ in 0..64 {
            if self.run(&["-D", "FORWARD", "-j", chain]).await.is_err() {
                break;
            }
            removed = true;
        }
        removed
    }

    /// Removes the jump and every chain of ours.
    pub async fn teardown(&self, prefix: &str) -> Result<usize, Error> {
        self.remove_jump(prefix).await;
        let chains = self.owned_chains(prefix).await?;
        if !chains.is_empty() {
            self.restore(&render::teardown(&chains)).await?;
        }
        Ok(chains.len())
    }

    async fn run(&self, args: &[&str]) -> Result<String, Error> {
        let out = Command::new(&self.iptables)
            .arg("-w")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| Error::Spawn {
                program: self.iptables.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        check(&self.iptables, args, out).map(|()| stdout)
    }
}

fn check(program: &str, args: &[&str], out: std::process::Output) -> Result<(), Error> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Failed {
        command: format!("{program} {}", args.join(" ")),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The chains of ours declared (`-N name`) in an `iptables -S` listing.
pub fn chains_in(listing: &str, prefix: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter_map(|line| line.strip_prefix("-N "))
        .map(str::trim)
        .filter(|chain| render::owned(prefix, chain))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_our_declared_chains() {
        let listing = "-P FORWARD ACCEPT\n-N SBNP\n-N SBNP-I-0\n-N SBNPX\n-N KUBE-FORWARD\n\
                       -A FORWARD -j SBNP\n-A SBNP-I-0 -j RETURN\n";
        let got: Vec<_> = chains_in(listing, "SBNP").into_iter().collect();
        assert_eq!(got, ["SBNP", "SBNP-I-0"]);
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let ipt = Iptables {
            iptables: "/nonexistent/iptables".into(),
            restore: "/nonexistent/iptables-restore".into(),
        };
        assert!(matches!(
            ipt.owned_chains("X").await,
            Err(Error::Spawn { .. })
        ));
        assert!(matches!(ipt.restore("").await, Err(Error::Spawn { .. })));
    }

    #[tokio::test]
    async fn a_failing_program_reports_its_status() {
        // `false` stands in for an iptables that refuses.
        let ipt = Iptables {
            iptables: "false".into(),
            restore: "false".into(),
        };
        assert!(matches!(
            ipt.ensure_jump("X").await,
            Err(Error::Failed { .. })
        ));
        assert!(!ipt.remove_jump("X").await);
    }
}
