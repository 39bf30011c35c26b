//! Writes the generated CRDs to `api/crds/agent-sandbox.yaml` (the committed copy).
//!
//! ```text
//! gen-crds            # rewrite api/crds/agent-sandbox.yaml
//! gen-crds --stdout   # print the YAML instead
//! gen-crds --check    # exit 1 if the committed file is out of date
//! ```

use std::path::Path;
use std::process::ExitCode;

/// The committed CRD file, resolved at build time so the tool works from any directory.
const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/agent-sandbox.yaml");

/// What the invocation asked for.
enum Mode {
    Write,
    Stdout,
    Check,
}

fn main() -> ExitCode {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("gen-crds: {message}\nusage: gen-crds [--stdout | --check]");
            return ExitCode::from(2);
        }
    };
    let yaml = match sandbox_api::crds::to_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("gen-crds: {err}");
            return ExitCode::FAILURE;
        }
    };
    let path = Path::new(CRD_FILE);
    match mode {
        Mode::Stdout => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Mode::Write => match std::fs::write(path, &yaml) {
            Ok(()) => {
                eprintln!("gen-crds: wrote {} ({} bytes)", path.display(), yaml.len());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("gen-crds: cannot write {}: {err}", path.display());
                ExitCode::FAILURE
            }
        },
        Mode::Check => match std::fs::read_to_string(path) {
            Ok(committed) if committed == yaml => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!(
                    "gen-crds: {} is out of date with the Rust types; run `just crds`",
                    path.display()
                );
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!(
                    "gen-crds: cannot read {}: {err}; run `just crds`",
                    path.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Mode, String> {
    let mut mode = Mode::Write;
    for arg in args {
        mode = match (arg.as_str(), mode) {
            ("--stdout", Mode::Write) => Mode::Stdout,
            ("--check", Mode::Write) => Mode::Check,
            ("--stdout" | "--check", _) => {
                return Err("--stdout and --check are mutually exclusive".into());
            }
            (other, _) => return Err(format!("unknown argument `{other}`")),
        };
    }
    Ok(mode)
}
