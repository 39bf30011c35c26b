//! `sandbox-bench conformance`: the suite against a controller, with its summary and JUnit file.

use crate::cli::ConformanceArgs;
use crate::conformance::{self as suite, SuiteOptions};
use crate::{environment, exit};
use sandbox_conformance as conformance;

pub async fn run(args: ConformanceArgs) -> u8 {
    let cases = conformance::cases::matching(&args.filter);
    if args.list {
        list_cases(&cases);
        return exit::OK;
    }
    if let Err(message) = args.validate() {
        eprintln!("error: {message}");
        return exit::BAD_INPUT;
    }
    if cases.is_empty() {
        eprintln!(
            "error: no case matches --filter {}; see `sandbox-bench conformance --list`",
            args.filter.join(", --filter ")
        );
        return exit::BAD_INPUT;
    }
    let junit = args.junit();
    let spec = args.spec();
    let options = SuiteOptions {
        controller: args.controller,
        dir: args.dir(),
        kubeconfig: args.kubeconfig,
        context: args.context,
        controller_bin: args.program.controller_bin,
        upstream_dir: args.program.upstream_dir,
        controller_args: args.program.controller_args,
        cases,
        spec,
        parallel: usize::from(args.parallel),
        image: args.image,
        bin_dir: args.bin_dir,
    };
    let report = match suite::run(options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    println!("{}", conformance::summary::render(&report));
    if let Err(e) = conformance::junit::write(&report, &junit) {
        eprintln!("error: cannot write {}: {e}", junit.display());
        return exit::INFRASTRUCTURE;
    }
    println!("JUnit XML: {}", junit.display());
    // Beside the JUnit file, for `sandbox-bench publish` and other readers.
    let json = junit.with_file_name("conformance.json");
    let about = conformance::json::RunAbout {
        controller_version: Some(environment::controller_version(args.controller)),
        commit: environment::commit(),
        machine: Some(environment::machine()),
    };
    if let Err(e) = conformance::json::write(&report, about, &json) {
        eprintln!("error: cannot write {}: {e}", json.display());
        return exit::INFRASTRUCTURE;
    }
    println!("conformance.json: {}", json.display());
    if report.passed() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }
}

fn list_cases(cases: &[conformance::Case]) {
    let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let sections = cases.iter().map(|c| c.section.len()).max().unwrap_or(0);
    for case in cases {
        println!(
            "{:<width$}  §{:<sections$}  {:<7}  {}",
            case.name,
            case.section,
            case.since.to_string(),
            case.checks
        );
    }
}
