//! JUnit XML, the one writer of the project's JUnit files (a bench run's SLOs, isolation
//! checks and invariants; the conformance suite's cases): a small model of what CI systems
//! read, written by hand since the format is small and stable. Every piece of text goes
//! through [`escape_xml`], so a failure message holding control characters, markup or `]]>`
//! still yields a file that parses.
//!
//! The layout: `<testsuites>` with totals, one `<testsuite>` each with totals and optional
//! time, timestamp, `<properties>` and `<system-err>`, one `<testcase>` per case with an
//! optional time, a `<failure>` or `<skipped>` and an optional `<system-out>`.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::render::escape::escape_xml;

/// The document: every suite of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSuites {
    pub name: String,
    /// The whole run's duration, when there is one to tell.
    pub time: Option<Duration>,
    pub suites: Vec<TestSuite>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSuite {
    pub name: String,
    /// When the suite started (ISO 8601, as JUnit's schema has it: no time zone).
    pub timestamp: Option<String>,
    pub time: Option<Duration>,
    /// `name`, `value` pairs describing what the suite ran against.
    pub properties: Vec<(String, String)>,
    pub cases: Vec<TestCase>,
    /// What went wrong outside any one case.
    pub system_err: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    pub time: Option<Duration>,
    pub outcome: Outcome,
    pub system_out: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed {
        /// The short form, an attribute.
        message: String,
        /// The `type` attribute, when there is one.
        kind: Option<String>,
        /// The whole story, the element's text.
        body: String,
    },
    Skipped {
        message: String,
    },
}

/// Tests, failures, skips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    tests: usize,
    failures: usize,
    skipped: usize,
}

impl Totals {
    fn of(cases: &[TestCase]) -> Self {
        cases.iter().fold(Self::default(), |totals, case| Self {
            tests: totals.tests + 1,
            failures: totals.failures + usize::from(matches!(case.outcome, Outcome::Failed { .. })),
            skipped: totals.skipped + usize::from(matches!(case.outcome, Outcome::Skipped { .. })),
        })
    }

    /// ` tests=".." failures=".." errors="0" skipped=".."[ time=".."]`
    fn attributes(self, time: Option<Duration>) -> String {
        let mut out = format!(
            r#" tests="{}" failures="{}" errors="0" skipped="{}""#,
            self.tests, self.failures, self.skipped
        );
        push_time(&mut out, time);
        out
    }
}

/// ` time="1.234"` in seconds, when there is a time.
fn push_time(out: &mut String, time: Option<Duration>) {
    if let Some(time) = time {
        let _ = write!(out, r#" time="{:.3}""#, time.as_secs_f64());
    }
}

impl TestSuites {
    /// The XML document.
    pub fn render(&self) -> String {
        let totals = self
            .suites
            .iter()
            .map(|suite| Totals::of(&suite.cases))
            .fold(Totals::default(), |all, suite| Totals {
                tests: all.tests + suite.tests,
                failures: all.failures + suite.failures,
                skipped: all.skipped + suite.skipped,
            });
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            r#"<testsuites name="{}"{}>"#,
            escape_xml(&self.name),
            totals.attributes(self.time)
        );
        for suite in &self.suites {
            suite.render(&mut out);
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// Writes [`TestSuites::render`] to `path`, creating its directory.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.render())
    }
}

impl TestSuite {
    /// A suite of `cases` with nothing else said about it.
    pub fn new(name: impl Into<String>, cases: Vec<TestCase>) -> Self {
        Self {
            name: name.into(),
            timestamp: None,
            time: None,
            properties: Vec::new(),
            cases,
            system_err: None,
        }
    }

    fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"  <testsuite name="{}"{}"#,
            escape_xml(&self.name),
            Totals::of(&self.cases).attributes(self.time)
        );
        if let Some(timestamp) = &self.timestamp {
            let _ = write!(out, r#" timestamp="{}""#, escape_xml(timestamp));
        }
        out.push_str(">\n");
        if !self.properties.is_empty() {
            out.push_str("    <properties>\n");
            for (name, value) in &self.properties {
                let _ = writeln!(
                    out,
                    r#"      <property name="{}" value="{}"/>"#,
                    escape_xml(name),
                    escape_xml(value)
                );
            }
            out.push_str("    </properties>\n");
        }
        for case in &self.cases {
            case.render(out);
        }
        if let Some(err) = &self.system_err {
            let _ = writeln!(out, "    <system-err>{}</system-err>", escape_xml(err));
        }
        out.push_str("  </testsuite>\n");
    }
}

impl TestCase {
    /// A case that passed, with nothing to say.
    pub fn new(classname: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            classname: classname.into(),
            name: name.into(),
            time: None,
            outcome: Outcome::Passed,
            system_out: None,
        }
    }

    fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"    <testcase classname="{}" name="{}""#,
            escape_xml(&self.classname),
            escape_xml(&self.name)
        );
        push_time(out, self.time);
        if self.outcome == Outcome::Passed && self.system_out.is_none() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        match &self.outcome {
            Outcome::Passed => {}
            Outcome::Failed {
                message,
                kind,
                body,
            } => {
                let _ = write!(out, r#"      <failure message="{}""#, escape_xml(message));
                if let Some(kind) = kind {
                    let _ = write!(out, r#" type="{}""#, escape_xml(kind));
                }
                let _ = writeln!(out, ">{}</failure>", escape_xml(body));
            }
            Outcome::Skipped { message } => {
                let _ = writeln!(out, r#"      <skipped message="{}"/>"#, escape_xml(message));
            }
        }
        if let Some(said) = &self.system_out {
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape_xml(said));
        }
        out.push_str("    </testcase>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(message: &str, body: &str) -> Outcome {
        Outcome::Failed {
            message: message.into(),
            kind: Some("Failure".into()),
            body: body.into(),
        }
    }

    fn document() -> TestSuites {
        let mut passed = TestCase::new("suite.a", "passes");
        passed.time = Some(Duration::from_millis(1_234));
        passed.system_out = Some("spec section 2.8".into());
        let mut fails = TestCase::new("suite.a", "fails");
        fails.outcome = failed("first line", "first line\nsecond line");
        let mut skips = TestCase::new("suite.b", "skips");
        skips.outcome = Outcome::Skipped {
            message: "needs a node".into(),
        };
        let mut first = TestSuite::new("a", vec![passed, fails, skips]);
        first.timestamp = Some("2026-11-28T12:00:00".into());
        first.time = Some(Duration::from_millis(61_500));
        first.properties = vec![("cluster".into(), "local".into())];
        first.system_err = Some("controller exited".into());
        TestSuites {
            name: "all".into(),
            time: Some(Duration::from_millis(61_500)),
            suites: vec![first, TestSuite::new("b", vec![TestCase::new("b", "bare")])],
        }
    }

    #[test]
    fn the_layout_is_what_ci_systems_read() {
        assert_eq!(
            document().render(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="4" failures="1" errors="0" skipped="1" time="61.500">
  <testsuite name="a" tests="3" failures="1" errors="0" skipped="1" time="61.500" timestamp="2026-11-28T12:00:00">
    <properties>
      <property name="cluster" value="local"/>
    </properties>
    <testcase classname="suite.a" name="passes" time="1.234">
      <system-out>spec section 2.8</system-out>
    </testcase>
    <testcase classname="suite.a" name="fails">
      <failure message="first line" type="Failure">first line&#10;second line</failure>
    </testcase>
    <testcase classname="suite.b" name="skips">
      <skipped message="needs a node"/>
    </testcase>
    <system-err>controller exited</system-err>
  </testsuite>
  <testsuite name="b" tests="1" failures="0" errors="0" skipped="0">
    <testcase classname="b" name="bare"/>
  </testsuite>
</testsuites>
"#
        );
    }

    #[test]
    fn any_failure_message_yields_xml_that_parses_and_reads_back() {
        let nasty = "bell \u{7} nul \u{0} esc \u{1b}[31m ]]> <x a=\"'\"/> & \u{FFFE}\ttab\r\nline";
        let mut doc = document();
        doc.suites[0].cases[1].outcome = failed(nasty, nasty);
        doc.suites[0].cases[1].system_out = Some(format!("<![CDATA[{nasty}]]>"));
        doc.suites[0].name = nasty.into();
        let xml = doc.render();
        let parsed = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let failure = parsed
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        let kept =
            "bell \u{FFFD} nul \u{FFFD} esc \u{FFFD}[31m ]]> <x a=\"'\"/> & \u{FFFD}\ttab\r\nline";
        assert_eq!(failure.attribute("message"), Some(kept));
        assert_eq!(failure.text(), Some(kept));
        let suite = parsed
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("name"), Some(kept));
        let out = parsed
            .descendants()
            .find(|n| n.has_tag_name("system-out") && n.text().is_some_and(|t| t.contains("CDATA")))
            .unwrap();
        assert_eq!(out.text(), Some(format!("<![CDATA[{kept}]]>").as_str()));
    }

    #[test]
    fn write_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/junit.xml");
        document().write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), document().render());
    }
}
