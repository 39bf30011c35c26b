//! `sandbox-bench compare`: runs side by side, exit 1 on a regression.

use crate::cli::CompareArgs;
use crate::exit;

pub fn run(args: &CompareArgs) -> u8 {
    if let Err(message) = args.validate() {
        eprintln!("error: {message}");
        return exit::BAD_INPUT;
    }
    let read = |path: &std::path::Path| {
        let file = if path.is_dir() {
            path.join("results.json")
        } else {
            path.to_path_buf()
        };
        sandbox_reports::Results::read(&file)
    };
    let baseline = match read(&args.baseline) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return exit::INFRASTRUCTURE;
    }
    let mut regressed = false;
    for (index, path) in args.candidates.iter().enumerate() {
        let candidate = match read(path) {
            Ok(results) => results,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        };
        let comparison = sandbox_reports::compare(&baseline, &candidate, args.noise);
        regressed |= comparison.regressed();
        let markdown = sandbox_reports::render_comparison_markdown(&comparison);
        let html = match sandbox_reports::render_comparison_html(&comparison, &baseline, &candidate)
        {
            Ok(html) => html,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INFRASTRUCTURE;
            }
        };
        let stem = args.out.join(format!("compare-{}", index + 1));
        for (ext, text) in [("md", &markdown), ("html", &html)] {
            let file = stem.with_extension(ext);
            if let Err(e) = std::fs::write(&file, text) {
                eprintln!("error: cannot write {}: {e}", file.display());
                return exit::INFRASTRUCTURE;
            }
        }
        println!("{markdown}");
        println!("report: {}\n", stem.with_extension("html").display());
    }
    if regressed {
        exit::CHECK_FAILED
    } else {
        exit::OK
    }
}
