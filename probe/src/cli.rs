//! The command line, parsed by a pure function so that every flag is tested:
//!
//! - `sandbox-probe [--node-kernel-release R] [--node-boot-id B] [--connect IP:PORT]...
//!   [--path P]...` prints one report and exits;
//! - `sandbox-probe serve --listen ADDR` answers `/healthz` and `/report` over HTTP until it
//!   is stopped.

use std::net::SocketAddr;

use crate::report::ReportRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Once(ReportRequest),
    Serve { listen: SocketAddr },
}

/// Parses the arguments after the program name; the error is a message for stderr.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let serve = args.next_if(|a| a == "serve").is_some();
    let mut request = ReportRequest::default();
    let mut listen = None;
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return Err(format!("{flag} needs a value"));
        };
        match (serve, flag.as_str()) {
            (true, "--listen") => {
                let addr = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e} (give IP:PORT)"))?;
                listen = Some(addr);
            }
            (false, "--node-kernel-release") => request.node.kernel_release = value,
            (false, "--node-boot-id") => request.node.boot_id = value,
            (false, "--connect") => request.connect.push(value),
            (false, "--path") => request.paths.push(value),
            _ => return Err(format!("unknown flag {flag}; see the crate's README")),
        }
    }
    if serve {
        let listen = listen.ok_or("serve needs --listen IP:PORT")?;
        Ok(Command::Serve { listen })
    } else {
        Ok(Command::Once(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn one_shot_flags_fill_the_request() {
        let Ok(Command::Once(r)) = parse(&[
            "--node-kernel-release",
            "6.18.44",
            "--connect",
            "10.96.0.1:443",
            "--path",
            "/a",
            "--connect",
            "127.0.0.1:1",
            "--path",
            "/b",
            "--node-boot-id",
            "b2a2",
        ]) else {
            panic!("one-shot flags refused");
        };
        assert_eq!(r.node.kernel_release, "6.18.44");
        assert_eq!(r.node.boot_id, "b2a2");
        assert_eq!(r.connect, ["10.96.0.1:443", "127.0.0.1:1"]);
        assert_eq!(r.paths, ["/a", "/b"]);
        assert_eq!(parse(&[]), Ok(Command::Once(ReportRequest::default())));
    }

    #[test]
    fn serve_takes_a_numeric_listen_address() {
        assert_eq!(
            parse(&["serve", "--listen", "0.0.0.0:8080"]),
            Ok(Command::Serve {
                listen: "0.0.0.0:8080".parse().expect("addr")
            })
        );
        assert!(
            parse(&["serve"])
                .expect_err("no --listen")
                .contains("--listen")
        );
        assert!(parse(&["serve", "--listen", "localhost:8080"]).is_err());
    }

    #[test]
    fn flags_of_the_other_mode_or_without_value_are_refused() {
        assert!(parse(&["serve", "--listen", "0.0.0.0:1", "--path", "/a"]).is_err());
        assert!(parse(&["--listen", "0.0.0.0:1"]).is_err());
        assert_eq!(parse(&["--path"]), Err("--path needs a value".to_string()));
    }
}
