//! `report.html`, `knee.html` and the history site's `index.html` opened in a real browser:
//! headless Chromium loads the file, lays it out, and every chart must come out as a visible
//! SVG of sensible size; the site's links must all lead to files it has.
//!
//! Needs Chromium: `apt-get install chromium` (or set `CHROMIUM` to a Chrome/Chromium binary).
//! The test fails rather than skips without it, so CI cannot pass without looking.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_reports::history::{Entry, History, KneeRunInfo, render_index, site_badges};
use sandbox_reports::sample::{sample_knee, sample_results, sample_runs};
use sandbox_reports::{render_conformance_html, render_html, render_knee_html};

const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn find_chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is required to check report.html: install it with \
         `apt-get install chromium` (Debian) or set CHROMIUM to a Chrome/Chromium binary"
    );
}

/// Runs Chromium on `page` and returns the DOM after load, as Chromium serialises it.
fn dump_dom(chromium: &Path, page: &Path, scratch: &Path) -> String {
    let profile = scratch.join("profile");
    let dom_path = scratch.join("dom.html");
    let log_path = scratch.join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        // Files, not pipes: a full pipe would stall Chromium while we wait for it to exit.
        .stdout(File::create(&dom_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .unwrap_or_else(|error| panic!("could not start {}: {error}", chromium.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium did not finish within {BROWSER_TIMEOUT:?}; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    assert!(
        status.success() && !dom.is_empty(),
        "Chromium failed ({status}); its log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    dom
}

/// Opens `html` in Chromium with a layout probe and returns the DOM and every SVG's rendered
/// size. The probe is the test's own: after layout it records each chart's size on `<body>`,
/// where --dump-dom shows it. The reports themselves have no script.
fn render_in_chromium(html: &str) -> (String, Vec<(u32, u32)>) {
    let scratch = tempfile::tempdir().unwrap();
    let page = scratch.path().join("page.html");
    std::fs::write(&page, html).unwrap();
    render_page_in_chromium(&page, "svg")
}

/// The same for a page already on disk, probing the SVGs `selector` picks. The probed copy is
/// written beside the page, so its relative links and the files they name are the page's.
fn render_page_in_chromium(page: &Path, selector: &str) -> (String, Vec<(u32, u32)>) {
    let chromium = find_chromium();
    let scratch = tempfile::tempdir().unwrap();
    let probe = format!(
        "<script>document.body.dataset.svgSizes = Array.from(\
         document.querySelectorAll('{selector}')).map(s => {{ const r = s.getBoundingClientRect(); \
         return Math.round(r.width) + 'x' + Math.round(r.height); }}).join(' ');</script>"
    );
    let html = std::fs::read_to_string(page).unwrap();
    let probed = page.with_extension("probe.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();

    let dom = dump_dom(&chromium, &probed, scratch.path());
    std::fs::remove_file(&probed).unwrap();
    let sizes = dom
        .split("data-svg-sizes=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the layout probe did not run: {dom:.500}"));
    let sizes = sizes
        .split(' ')
        .filter(|size| !size.is_empty())
        .map(|size| {
            let (width, height) = size.split_once('x').unwrap();
            (width.parse().unwrap(), height.parse().unwrap())
        })
        .collect();
    (dom, sizes)
}

fn assert_visible(sizes: &[(u32, u32)]) {
    for &(width, height) in sizes {
        assert!(
            width >= 300 && height >= 150,
            "a chart rendered at {width}x{height}"
        );
    }
}

#[test]
fn report_html_renders_its_charts_in_chromium() {
    let html = render_html(&sample_results().unwrap()).unwrap();
    let (dom, sizes) = render_in_chromium(&html);

    assert!(
        dom.contains("<title>sandbox-bench report: default</title>"),
        "{dom:.500}"
    );
    assert_eq!(dom.matches("<svg").count(), 11, "charts in the DOM");
    // plotters puts a chart's text on its own line inside <text>.
    let flat = dom.replace('\n', "");
    for title in [
        ">Latency CDF per phase</text>",
        ">claim_ready by launch type</text>",
        ">Latency over time (p50, p99 per second)</text>",
        ">Throughput</text>",
        ">Claims in flight</text>",
        ">CPU by process</text>",
        ">kube-apiserver</text>",
    ] {
        assert!(flat.contains(title), "missing chart title {title:?}");
    }
    assert_eq!(sizes.len(), 11, "{sizes:?}");
    assert_visible(&sizes);
}

#[test]
fn knee_html_renders_its_curves_and_bars_in_chromium() {
    let html = render_knee_html(&sample_knee()).unwrap();
    let (dom, sizes) = render_in_chromium(&html);

    assert!(
        dom.contains("<title>sandbox-bench knee: knee</title>"),
        "{dom:.500}"
    );
    let flat = dom.replace('\n', "");
    for text in [
        ">Warm claim Ready p99 by offered rate</text>",
        ">CPU per warm claim, by process</text>",
        // The legends: every controller on the curves, every process on the bars.
        ">floor</text>",
        ">reference</text>",
        ">upstream</text>",
        ">kube-apiserver</text>",
        ">etcd</text>",
        ">controller</text>",
    ] {
        assert!(flat.contains(text), "missing {text:?}");
    }
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert_visible(&sizes);
}

/// Builds a site as `sandbox-bench publish` lays it out, from the generated week of runs
/// (bench runs of two controllers, knee runs, conformance runs): each run's page under
/// `runs/<id>/`, the badges, `index.html`.
fn build_site(site: &Path) -> History {
    let write = |relative: &str, text: &str| {
        let path = site.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let runs = sample_runs().unwrap();
    let mut history = History::default();
    for results in &runs.bench {
        let mut entry = Entry::from_results(results);
        write(&entry.report_path(), &render_html(results).unwrap());
        entry.report = Some(entry.report_path());
        history.add(entry);
    }
    for knee in &runs.knees {
        let info = KneeRunInfo::from_runs(&knee.runs).unwrap();
        let mut entry = Entry::from_knee(&knee.report, &info);
        write(
            &entry.report_path(),
            &render_knee_html(&knee.report).unwrap(),
        );
        for (name, results) in &knee.runs {
            write(
                &format!("runs/{}/{name}/report.html", entry.id),
                &render_html(results).unwrap(),
            );
        }
        entry.report = Some(entry.report_path());
        history.add(entry);
    }
    for summary in &runs.conformance {
        let mut entry = Entry::from_conformance(summary);
        write(&entry.report_path(), &render_conformance_html(summary));
        entry.report = Some(entry.report_path());
        history.add(entry);
    }
    for named in site_badges(&history) {
        write(&format!("badges/{}", named.file), &named.badge.svg());
    }
    write("index.html", &render_index(&history).unwrap());
    history
}

/// Every `href="…"` of a page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[test]
fn the_history_site_renders_its_trends_and_every_link_resolves_in_chromium() {
    let site = tempfile::tempdir().unwrap();
    let history = build_site(site.path());
    let index = site.path().join("index.html");
    let (dom, sizes) = render_page_in_chromium(&index, "figure svg");

    assert!(
        dom.contains("<title>sandbox-bench history</title>"),
        "{dom:.500}"
    );
    // One chart per series: 5 phases × 2 controllers, 3 knee series, the latest knee curves,
    // one conformance series.
    assert_eq!(sizes.len(), 10 + 3 + 1 + 1, "{sizes:?}");
    assert_visible(&sizes);
    let flat = dom.replace('\n', "");
    for text in [
        ">claim_ready (warm) · reference</text>",
        ">claim_ready (warm) · upstream</text>",
        ">SLO p99 ≤ 100 ms</text>",
        ">regression</text>",
        ">reference · scenario knee</text>",
        ">Warm claim Ready p99 by offered rate</text>",
        ">conformance · reference · spec latest</text>",
    ] {
        assert!(flat.contains(text), "missing {text:?}");
    }
    // The badges are laid out too, one per file.
    let (_, badges) = render_page_in_chromium(&index, ".badges svg");
    assert_eq!(badges.len(), site_badges(&history).len());
    for (width, height) in badges {
        assert!(
            width >= 60 && height == 20,
            "a badge rendered at {width}x{height}"
        );
    }

    // Every link leads to a file of the site: each run's page, each badge.
    let html = std::fs::read_to_string(&index).unwrap();
    let links = links(&html);
    for entry in &history.entries {
        let report = entry.report.as_deref().unwrap();
        assert!(links.iter().any(|l| l == report), "{report} not linked");
    }
    assert!(links.iter().any(|l| l.starts_with("badges/")));
    for link in &links {
        assert!(
            !link.contains("://") && !link.starts_with('/'),
            "{link}: not relative"
        );
        assert!(site.path().join(link).is_file(), "{link} does not resolve");
    }
    // A knee run's page links its controllers' reports, which the site keeps beside it.
    let knee = history
        .entries
        .iter()
        .find(|e| {
            e.report
                .as_deref()
                .is_some_and(|r| r.ends_with("knee.html"))
        })
        .unwrap();
    let knee_page = site.path().join(knee.report.as_deref().unwrap());
    for link in self::links(&std::fs::read_to_string(&knee_page).unwrap()) {
        assert!(knee_page.parent().unwrap().join(&link).is_file(), "{link}");
    }
}
