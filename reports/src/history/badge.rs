//! Badges for a README or a dashboard: small SVGs in the style of shields.io (a grey label, a
//! coloured value), drawn here so the site needs no badge service. The site writes each to
//! `badges/<name>.svg` and shows them inline at the top of `index.html`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::history::entry::{Figures, sanitize};
use crate::history::file::History;
use crate::history::series::charted_launch;
use crate::record::Phase;
use crate::render::escape::escape;
use crate::render::format_ms;

/// A badge's value colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeColor {
    /// Passed, nothing regressed.
    Green,
    /// Failed, regressed.
    Red,
    /// A figure without a verdict.
    Blue,
}

impl BadgeColor {
    fn hex(self) -> &'static str {
        match self {
            BadgeColor::Green => "#3b8c2a",
            BadgeColor::Red => "#c7372f",
            BadgeColor::Blue => "#0a6ebd",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    pub label: String,
    pub value: String,
    pub color: BadgeColor,
}

const HEIGHT: u32 = 20;
/// Space either side of each half's text.
const PADDING: f64 = 6.0;

impl Badge {
    pub fn new(label: impl Into<String>, value: impl Into<String>, color: BadgeColor) -> Self {
        Badge {
            label: label.into(),
            value: value.into(),
            color,
        }
    }

    /// A standalone SVG file (with its namespace, as an `<img>` or a README needs it).
    pub fn svg(&self) -> String {
        self.draw(" xmlns=\"http://www.w3.org/2000/svg\"")
    }

    /// The same for inlining into HTML, where the namespace is implied (and the page then
    /// references no URL at all).
    pub fn inline_svg(&self) -> String {
        self.draw(" class=\"badge\"")
    }

    /// Two rounded halves, the label's grey and the value's colour, text centred in each.
    /// No ids, gradients or clip paths: several badges inline in one page cannot collide.
    fn draw(&self, attributes: &str) -> String {
        let label_width = (text_width(&self.label) + 2.0 * PADDING).round();
        let value_width = (text_width(&self.value) + 2.0 * PADDING).round();
        let width = label_width + value_width;
        let title = escape(&format!("{}: {}", self.label, self.value));
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg{attributes} width=\"{width}\" height=\"{HEIGHT}\" viewBox=\"0 0 {width} {HEIGHT}\" \
             role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
             <rect width=\"{width}\" height=\"{HEIGHT}\" rx=\"3\" fill=\"#555\"/>\
             <rect x=\"{label_width}\" width=\"{value_width}\" height=\"{HEIGHT}\" rx=\"3\" fill=\"{color}\"/>\
             <rect x=\"{label_width}\" width=\"4\" height=\"{HEIGHT}\" fill=\"{color}\"/>\
             <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
             <text x=\"{label_x}\" y=\"14\">{label}</text><text x=\"{value_x}\" y=\"14\">{value}</text>\
             </g></svg>",
            color = self.color.hex(),
            label_x = label_width / 2.0,
            value_x = label_width + value_width / 2.0,
            label = escape(&self.label),
            value = escape(&self.value),
        );
        svg
    }
}

/// The width of `text` in 11 px Verdana, estimated per character class (the browser lays the
/// text out; a few pixels off only changes the padding).
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '|' | '.' | ',' | ':' | ';' | '\'' | '!' => 3.5,
            ' ' | '·' | '(' | ')' | '/' | 'f' | 't' | 'r' => 4.6,
            'm' | 'w' | 'M' | 'W' => 10.5,
            'A'..='Z' => 7.8,
            '0'..='9' | '_' | '-' => 7.0,
            _ => 6.8,
        })
        .sum()
}

/// A badge and the file name the site gives it (`badges/<file>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedBadge {
    pub file: String,
    pub badge: Badge,
}

/// The site's badges, from the newest run of each kind: claim Ready p99 of each scenario and
/// controller (green when the run met its SLOs, red when not), the knees of each controller,
/// each controller's conformance, and the number of series whose newest point regressed.
pub fn site_badges(history: &History) -> Vec<NamedBadge> {
    let mut badges = Vec::new();
    let mut newest_bench = BTreeMap::new();
    let mut newest_knee = BTreeMap::new();
    let mut newest_conformance = BTreeMap::new();
    // Entries are oldest first: later inserts win.
    for entry in &history.entries {
        match &entry.figures {
            Figures::Bench(figures) => {
                newest_bench.insert((entry.scenario.as_str(), entry.controller_label()), figures);
            }
            Figures::Knee(figures) => {
                for (controller, knee) in &figures.controllers {
                    newest_knee.insert((entry.scenario.as_str(), controller.as_str()), knee);
                }
            }
            Figures::Conformance(figures) => {
                newest_conformance.insert(entry.controller_label(), figures);
            }
        }
    }
    for ((scenario, controller), figures) in newest_bench {
        let launch = charted_launch(figures, Phase::ClaimReady);
        let Some(ready) = figures
            .phases
            .iter()
            .find(|h| h.phase == Phase::ClaimReady && h.launch == launch)
        else {
            continue;
        };
        let color = match figures.slo_passed {
            Some(true) => BadgeColor::Green,
            Some(false) => BadgeColor::Red,
            None => BadgeColor::Blue,
        };
        let subject = launch.map_or(String::new(), |launch| format!("{launch} "));
        badges.push(NamedBadge {
            file: format!(
                "{}-{}-claim-p99.svg",
                sanitize(scenario),
                sanitize(controller)
            ),
            badge: Badge::new(
                format!("{subject}claim p99 ({scenario}, {controller})"),
                format_ms(ready.p99_ms),
                color,
            ),
        });
    }
    for ((scenario, controller), knee) in newest_knee {
        badges.push(NamedBadge {
            file: format!("knee-{}-{}.svg", sanitize(scenario), sanitize(controller)),
            badge: Badge::new(
                format!("knee 100 ms / 1 s ({controller})"),
                format!("{}/s / {}/s", knee.knee_100ms, knee.knee_1s),
                BadgeColor::Blue,
            ),
        });
    }
    for (controller, figures) in newest_conformance {
        let color = if figures.failed == 0 && figures.problems.is_empty() {
            BadgeColor::Green
        } else {
            BadgeColor::Red
        };
        badges.push(NamedBadge {
            file: format!("conformance-{}.svg", sanitize(controller)),
            badge: Badge::new(
                format!("conformance ({controller})"),
                format!("{}/{}", figures.passed, figures.passed + figures.failed),
                color,
            ),
        });
    }
    let regressed = history.current_regressions().len();
    badges.push(NamedBadge {
        file: "regressions.svg".into(),
        badge: Badge::new(
            "regressions",
            regressed.to_string(),
            if regressed == 0 {
                BadgeColor::Green
            } else {
                BadgeColor::Red
            },
        ),
    });
    badges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::{Entry, KneeRunInfo};
    use crate::sample::{sample_conformance, sample_knee, sample_results};

    #[test]
    fn a_badge_is_valid_svg_with_its_text_and_title() {
        let badge = Badge::new("warm claim p99", "87 ms", BadgeColor::Green);
        let svg = badge.svg();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert_eq!(root.attribute("height"), Some("20"));
        let width: f64 = root.attribute("width").unwrap().parse().unwrap();
        assert!((100.0..200.0).contains(&width), "{width}");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(texts, ["warm claim p99", "87 ms"]);
        let title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
        assert_eq!(title.text(), Some("warm claim p99: 87 ms"));
        assert!(svg.contains("fill=\"#3b8c2a\""));
        // Inline: no namespace, so no URL in the page.
        assert!(!badge.inline_svg().contains("http"));
        assert!(badge.inline_svg().starts_with("<svg class=\"badge\""));
    }

    #[test]
    fn markup_in_a_label_is_escaped() {
        let svg = Badge::new("a<b & \"c\"", "<1>", BadgeColor::Red).svg();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(texts, ["a<b & \"c\"", "<1>"]);
    }

    #[test]
    fn longer_text_makes_a_wider_badge() {
        let width = |badge: &Badge| -> f64 {
            let svg = badge.svg();
            let doc = roxmltree::Document::parse(&svg).unwrap();
            doc.root_element()
                .attribute("width")
                .unwrap()
                .parse()
                .unwrap()
        };
        let short = Badge::new("p99", "8 ms", BadgeColor::Blue);
        let long = Badge::new(
            "warm claim p99 (default, reference)",
            "1234 ms",
            BadgeColor::Blue,
        );
        assert!(width(&long) > width(&short) + 100.0);
    }

    #[test]
    fn the_site_has_a_badge_per_scenario_controller_knee_and_conformance() {
        let mut history = History::default();
        history.add(Entry::from_results(&sample_results().unwrap()));
        history.add(Entry::from_knee(
            &sample_knee(),
            &KneeRunInfo {
                started_at: "2025-06-01T13:00:00Z".into(),
                ..KneeRunInfo::default()
            },
        ));
        history.add(Entry::from_conformance(&sample_conformance(
            "2025-06-01T14:00:00Z",
            0,
        )));
        let badges = site_badges(&history);
        let files: Vec<&str> = badges.iter().map(|b| b.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "default-reference-claim-p99.svg",
                "knee-knee-floor.svg",
                "knee-knee-reference.svg",
                "knee-knee-upstream.svg",
                "conformance-reference.svg",
                "regressions.svg",
            ]
        );
        let claim = &badges[0].badge;
        assert_eq!(claim.label, "warm claim p99 (default, reference)");
        assert!(claim.value.ends_with(" ms"));
        // The sample run breaches its SLOs.
        assert_eq!(claim.color, BadgeColor::Red);
        assert_eq!(badges[2].badge.value, "20/s / 30/s");
        let conformance = &badges[4].badge;
        assert_eq!(conformance.value, "44/44");
        assert_eq!(conformance.color, BadgeColor::Green);
        assert_eq!(badges[5].badge.value, "0");
        for named in &badges {
            roxmltree::Document::parse(&named.badge.svg()).unwrap();
        }
    }
}
