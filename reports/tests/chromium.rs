//! `report.html` and `knee.html` opened in a real browser: headless Chromium loads the file,
//! lays it out, and every chart must come out as a visible SVG of sensible size.
//!
//! Needs Chromium: `apt-get install chromium` (or set `CHROMIUM` to a Chrome/Chromium binary).
//! The test fails rather than skips without it, so CI cannot pass without looking.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_reports::sample::{sample_knee, sample_results};
use sandbox_reports::{render_html, render_knee_html};

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
    let chromium = find_chromium();
    let scratch = tempfile::tempdir().unwrap();
    let probe = "<script>document.body.dataset.svgSizes = Array.from(\
        document.querySelectorAll('svg')).map(s => { const r = s.getBoundingClientRect(); \
        return Math.round(r.width) + 'x' + Math.round(r.height); }).join(' ');</script>";
    let page = scratch.path().join("page.html");
    std::fs::write(&page, html.replace("</body>", &format!("{probe}</body>"))).unwrap();

    let dom = dump_dom(&chromium, &page, scratch.path());
    let sizes = dom
        .split("data-svg-sizes=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the layout probe did not run: {dom:.500}"));
    let sizes = sizes
        .split(' ')
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
    assert_eq!(dom.matches("<svg").count(), 10, "charts in the DOM");
    // plotters puts a chart's text on its own line inside <text>.
    let flat = dom.replace('\n', "");
    for title in [
        ">Latency CDF per phase</text>",
        ">claim_ready by launch type</text>",
        ">Latency over time (p50, p99 per second)</text>",
        ">Throughput</text>",
        ">Claims in flight</text>",
    ] {
        assert!(flat.contains(title), "missing chart title {title:?}");
    }
    assert_eq!(sizes.len(), 10, "{sizes:?}");
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
