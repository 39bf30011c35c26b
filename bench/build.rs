//! Records the commit sandbox-bench is built from as `SANDBOX_BENCH_COMMIT`, so every run's
//! `results.json` (and `conformance.json`) names the code that measured it and the history
//! site can line runs up by commit. Outside a git checkout (a source tarball, a vendored
//! copy) there is none and runs say nothing; `SANDBOX_BENCH_COMMIT` set in the build's
//! environment wins over git.
//!
//! Rebuilds only when the commit can have changed: cargo reruns this script when `.git/HEAD`
//! or the ref it points to changes (a commit, a checkout), not on every build.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// Asks cargo to rerun when the file at a git path changes. Only for files that exist: cargo
/// reruns a script on every build while a path it watches is missing.
fn watch(git_path: &str) {
    if let Some(path) = git(&["rev-parse", "--git-path", git_path])
        && std::path::Path::new(&path).is_file()
    {
        println!("cargo:rerun-if-changed={path}");
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SANDBOX_BENCH_COMMIT");
    if std::env::var_os("SANDBOX_BENCH_COMMIT").is_some() {
        // option_env! reads it from the build's environment itself.
        return;
    }
    let Some(commit) = git(&["rev-parse", "--verify", "--quiet", "HEAD"]) else {
        return;
    };
    watch("HEAD");
    if let Some(reference) = git(&["symbolic-ref", "--quiet", "HEAD"]) {
        watch(&reference);
        // A packed ref moves in packed-refs.
        watch("packed-refs");
    }
    println!("cargo:rustc-env=SANDBOX_BENCH_COMMIT={commit}");
}
