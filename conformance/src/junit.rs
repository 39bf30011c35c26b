//! JUnit XML of a run: one `<testsuite>` with one `<testcase>` per case, `<failure>` for
//! failures and `<skipped>` for skips, so CI systems show each case on its own. The XML is
//! `sandbox-reports`' JUnit writer's ([`sandbox_reports::junit`]), the one the bench runs use.

use std::path::Path;

use sandbox_reports::junit::{self, TestCase, TestSuite, TestSuites};

use super::case::Outcome;
use super::report::SuiteReport;

/// The JUnit document of `report`.
pub fn suites(report: &SuiteReport) -> TestSuites {
    let cases = report
        .cases
        .iter()
        .map(|case| {
            let mut testcase = TestCase::new(format!("conformance.{}", case.group), case.name);
            testcase.time = Some(case.duration);
            testcase.outcome = match &case.outcome {
                Outcome::Passed => junit::Outcome::Passed,
                Outcome::Failed(message) => junit::Outcome::Failed {
                    message: message.lines().next().unwrap_or("").to_string(),
                    kind: Some("ConformanceFailure".into()),
                    body: message.clone(),
                },
                Outcome::Skipped(reason) => junit::Outcome::Skipped {
                    message: reason.clone(),
                },
            };
            testcase.system_out = Some(format!(
                "spec section {}, introduced in upstream {}",
                case.section, case.since
            ));
            testcase
        })
        .collect();
    let mut suite = TestSuite::new(format!("conformance ({})", report.controller), cases);
    suite.timestamp = Some(report.started.strftime("%Y-%m-%dT%H:%M:%S").to_string());
    suite.time = Some(report.duration);
    suite.properties = vec![
        ("controller".into(), report.controller.clone()),
        ("cluster".into(), report.cluster.clone()),
        ("spec".into(), report.spec.to_string()),
    ];
    suite.system_err = (!report.problems.is_empty()).then(|| report.problems.join("\n"));
    TestSuites {
        name: "sandbox-bench conformance".into(),
        time: Some(report.duration),
        suites: vec![suite],
    }
}

/// The JUnit XML document of `report`.
pub fn render(report: &SuiteReport) -> String {
    suites(report).render()
}

/// Writes [`render`] to `path`, creating its directory.
pub fn write(report: &SuiteReport, path: &Path) -> std::io::Result<()> {
    suites(report).write(path)
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
        let out = cases[0]
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap();
        assert_eq!(
            out.text(),
            Some("spec section 2.8, introduced in upstream v0.5.6")
        );
        let spec = suite
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("spec"))
            .unwrap();
        assert_eq!(spec.attribute("value"), Some("latest"));

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
        let mut report = fixtures::report();
        report.cases[1].outcome =
            Outcome::Failed("bell \u{7} and nul \u{0} ]]> <![CDATA[ x ]]>\n\u{1b}[31mred".into());
        report.problems.push("controller <exited>".into());
        let xml = render(&report);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("bell \u{FFFD} and nul \u{FFFD} ]]> <![CDATA[ x ]]>")
        );
        assert_eq!(
            failure.text(),
            Some("bell \u{FFFD} and nul \u{FFFD} ]]> <![CDATA[ x ]]>\n\u{FFFD}[31mred")
        );
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
