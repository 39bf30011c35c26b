//! JUnit XML of a run, written by hand (the format is small and stable): one `<testsuite>`
//! with one `<testcase>` per case, `<failure>` for failures and `<skipped>` for skips, so CI
//! systems show each case on its own.

use std::fmt::Write;
use std::path::Path;

use super::case::Outcome;
use super::report::SuiteReport;

/// The JUnit XML document of `report`.
pub fn render(report: &SuiteReport) -> String {
    let counts = report.counts();
    let time = format!("{:.3}", report.duration.as_secs_f64());
    let totals = format!(
        r#"tests="{}" failures="{}" errors="0" skipped="{}" time="{time}""#,
        report.cases.len(),
        counts.failed,
        counts.skipped
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="sandbox-bench conformance" {totals}>"#
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="conformance ({})" {totals} timestamp="{}">"#,
        escape(&report.controller),
        report.started.strftime("%Y-%m-%dT%H:%M:%S")
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("controller", report.controller.as_str()),
        ("cluster", report.cluster.as_str()),
    ] {
        let _ = writeln!(
            out,
            r#"      <property name="{name}" value="{}"/>"#,
            escape(value)
        );
    }
    out.push_str("    </properties>\n");
    for case in &report.cases {
        let _ = write!(
            out,
            r#"    <testcase name="{}" classname="conformance.{}" time="{:.3}">"#,
            escape(case.name),
            escape(case.group),
            case.duration.as_secs_f64()
        );
        match &case.outcome {
            Outcome::Passed => {}
            Outcome::Failed(message) => {
                let _ = write!(
                    out,
                    "\n      <failure message=\"{}\" type=\"ConformanceFailure\">{}</failure>",
                    escape(message.lines().next().unwrap_or("")),
                    escape(message)
                );
            }
            Outcome::Skipped(reason) => {
                let _ = write!(out, "\n      <skipped message=\"{}\"/>", escape(reason));
            }
        }
        let _ = writeln!(
            out,
            "\n      <system-out>spec section {}</system-out>\n    </testcase>",
            escape(case.section)
        );
    }
    if !report.problems.is_empty() {
        let _ = writeln!(
            out,
            "    <system-err>{}</system-err>",
            escape(&report.problems.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Writes [`render`] to `path`, creating its directory.
pub fn write(report: &SuiteReport, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(report))
}

/// Text made safe for XML attributes and content. Characters XML 1.0 cannot carry at all (most
/// control characters) become U+FFFD, so a stray byte in an error message never breaks the file.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if u32::from(c) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn every_case_becomes_a_testcase_with_its_outcome() {
        let xml = render(&fixtures::report());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("skipped"), Some("1"));
        assert_eq!(root.attribute("time"), Some("61.500"));
        let suite = root.first_element_child().unwrap();
        assert_eq!(suite.attribute("timestamp"), Some("2026-11-28T12:00:00"));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
        assert_eq!(
            names,
            ["sandbox-ready", "sandbox-service", "sandbox-expiry"]
        );
        assert_eq!(cases[0].attribute("classname"), Some("conformance.sandbox"));
        assert_eq!(cases[0].attribute("time"), Some("1.234"));
        assert!(!cases[0].children().any(|n| n.has_tag_name("failure")));

        let failure = cases[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        // The message survives escaping exactly, quotes, ampersands, angle brackets and all.
        assert_eq!(
            failure.attribute("message"),
            Some("ports of Service sb: got [], want <\"p-8888-tcp\"> & more")
        );
        assert_eq!(
            failure.text(),
            Some("ports of Service sb: got [], want <\"p-8888-tcp\"> & more\nsecond line")
        );
        let skipped = cases[2]
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert_eq!(skipped.attribute("message"), Some("needs a kwok node"));
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(escape("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
        assert_eq!(escape("tab\there"), "tab&#9;here");
        let mut report = fixtures::report();
        report.cases[1].outcome = Outcome::Failed("bell \u{7} and nul \u{0}".into());
        report.problems.push("controller <exited>".into());
        let xml = render(&report);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let err = doc
            .descendants()
            .find(|n| n.has_tag_name("system-err"))
            .unwrap();
        assert_eq!(err.text(), Some("controller <exited>"));
    }

    #[test]
    fn write_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/conformance.xml");
        write(&fixtures::report(), &path).unwrap();
        assert!(
            std::fs::read_to_string(path)
                .unwrap()
                .contains("<testsuites")
        );
    }
}
