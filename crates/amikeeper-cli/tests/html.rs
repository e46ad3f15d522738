//! The HTML pages in headless Chromium (Debian's `chromium`, which `scripts/setup-chromium.sh`
//! installs): each page is written to a file and loaded from it with the network off (no network
//! namespace when `unshare -n` works, and in any case a dead proxy and a resolver that finds
//! nothing); Chromium takes a screenshot and dumps the DOM, which must hold every pointer and
//! every planned deletion with its reason. (`tests/moto.rs` checks `sweep --format html` on a
//! sweep through the SDK backend.)
//!
//! Without Chromium the tests print `skipped: chromium not installed ...` and pass, unless
//! `AMIKEEPER_REQUIRE_CHROMIUM=1` (as `scripts/test.sh` sets). `CHROMIUM=/path` picks the binary.
//! `AMIKEEPER_UPDATE_SCREENSHOTS=1` also writes the screenshots to `docs/img/` (the README's).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use amikeeper::html::{render_status, render_sweep, Prices};
use amikeeper::testing;
use amikeeper::SweepReport;
use common::temp_dir;

mod common;

/// The screenshots' size: the README shows them 1200 pixels wide.
const WINDOW: &str = "--window-size=1200,1500";

/// The Chromium binary, or `None` (the test is skipped) when it is missing; fails instead under
/// `AMIKEEPER_REQUIRE_CHROMIUM=1`.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("CHROMIUM").map(PathBuf::from).into_iter().chain(
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .collect::<Vec<_>>(),
    );
    let found = candidates.into_iter().find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var("AMIKEEPER_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "chromium is missing and AMIKEEPER_REQUIRE_CHROMIUM=1: run scripts/setup-chromium.sh"
        );
        eprintln!("skipped: chromium not installed (scripts/setup-chromium.sh installs it)");
    }
    found
}

/// Whether this process may make a network namespace of its own (`unshare -n`, as root).
fn can_unshare() -> bool {
    Command::new("unshare").args(["-n", "true"]).output().is_ok_and(|out| out.status.success())
}

/// A page loaded in headless Chromium from its file.
struct Loaded {
    /// The DOM as Chromium serialized it, with the entities it writes turned back into text.
    dom: String,
}

/// Loads `page` (written to `dir`) in Chromium with the network off, screenshots it to
/// `screenshot`, and dumps its DOM.
fn load(chromium: &Path, dir: &Path, name: &str, page: &str, screenshot: &Path) -> Loaded {
    let file = dir.join(format!("{name}.html"));
    std::fs::write(&file, page).unwrap();
    let url = format!("file://{}", file.display());
    let profile = dir.join(format!("{name}-profile"));
    let run = |what: &str| -> Output {
        let mut command = if can_unshare() {
            let mut command = Command::new("unshare");
            command.arg("-n").arg(chromium);
            command
        } else {
            Command::new(chromium)
        };
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(WINDOW)
            .arg(what)
            .arg(&url);
        let out = command.output().expect("chromium runs");
        assert!(out.status.success(), "chromium {what} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let _ = std::fs::remove_file(screenshot);
    run(&format!("--screenshot={}", screenshot.display()));
    let png = std::fs::read(screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 10_000, "the screenshot shows something ({} bytes)", png.len());
    let dom = String::from_utf8(run("--dump-dom").stdout).unwrap();
    assert!(dom.contains("</html>"), "a DOM: {dom}");
    let dom = dom.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    Loaded { dom }
}

/// Where a screenshot goes: the test's folder, and `docs/img/` with
/// `AMIKEEPER_UPDATE_SCREENSHOTS=1`.
fn screenshot(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.png"))
}

fn keep_screenshot(shot: &Path, name: &str) {
    if std::env::var("AMIKEEPER_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(shot, docs.join(format!("{name}.png"))).unwrap();
    }
}

impl Loaded {
    /// The DOM of the table row whose attribute `attribute` is `value`.
    fn row(&self, attribute: &str, value: &str) -> &str {
        let key = format!("{attribute}=\"{value}\"");
        let at = self.dom.find(&key).unwrap_or_else(|| panic!("no row with {key}"));
        assert_eq!(self.dom.matches(&key).count(), 1, "one row with {key}");
        let row = &self.dom[at..];
        &row[..row.find("</tr>").expect("the row ends")]
    }

    /// Every planned image decision is a row with its reason, and every retirement a mark.
    fn shows_the_plan(&self, report: &SweepReport) {
        for decision in &report.plan.images {
            let row = self.row("data-image", decision.image_id.as_str());
            let reason = decision.reason.to_string();
            assert!(row.contains(&reason), "{}'s row has its reason `{reason}`: {row}", decision.image_id);
        }
        for retired in report.plan.retirements() {
            let tooltip = format!("<title>{} ", retired.image_id);
            assert!(self.dom.contains(&tooltip), "{} has a mark on the time line", retired.image_id);
            let row = self.row("data-image", retired.image_id.as_str());
            assert!(row.contains("badge retired"), "{} is shown retired: {row}", retired.image_id);
        }
    }
}

#[tokio::test]
async fn the_sweep_page_of_an_in_memory_sweep_renders_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let sample = testing::sample_sweep().await;
    // The shipped prices know us-east-1 only; the sample sweeps the sample region.
    let prices = Prices::from_toml(&format!(
        "read_on = \"2026-12-05\"\nsource = \"the sample's prices\"\n[regions.{}]\nstandard = 0.05\narchive = 0.0125\n",
        testing::REGION
    ))
    .unwrap();
    let page = render_sweep(&sample.report, &prices).unwrap();
    let dir = temp_dir("html-sweep");
    let shot = screenshot(&dir, "sweep-page");
    let loaded = load(&chromium, &dir, "sweep", &page, &shot);
    loaded.shows_the_plan(&sample.report);
    assert!(loaded.dom.contains("web-<b>\"5\"</b>&"), "markup in a name is text, not markup");
    assert_eq!(sample.report.plan.retirements().count(), 4, "three web AMIs and one api AMI go");
    assert!(loaded.dom.contains("32 GiB"), "four 8 GiB snapshots");
    keep_screenshot(&shot, "sweep-page");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_status_page_renders_in_chromium_with_every_pointer_and_finding() {
    let Some(chromium) = chromium() else { return };
    let status: serde_json::Value = serde_json::from_str(testing::STATUS_REPORT).unwrap();
    let page = render_status(&status).unwrap();
    let dir = temp_dir("html-status");
    let shot = screenshot(&dir, "status-page");
    let loaded = load(&chromium, &dir, "status", &page, &shot);
    let field = |value: &serde_json::Value, name: &str| value[name].as_str().unwrap_or_default().to_owned();
    for pointer in status["pointers"].as_array().unwrap() {
        let [account, region, kind, name] = ["account", "region", "kind", "name"].map(|f| field(pointer, f));
        let row = loaded.row("data-pointer", &format!("{account} {region} {kind}:{name}"));
        if let Some(image) = pointer["image_id"].as_str() {
            assert!(row.contains(image), "{name}'s row names {image}: {row}");
        }
    }
    for finding in status["findings"].as_array().unwrap() {
        let reason = field(finding, "reason");
        match finding["pointer"].as_str() {
            Some(pointer) => {
                let [account, region, kind] = ["account", "region", "pointer_kind"].map(|f| field(finding, f));
                let row = loaded.row("data-pointer", &format!("{account} {region} {kind}:{pointer}"));
                assert!(row.contains(&reason), "the finding `{reason}` is in its pointer's row: {row}");
            }
            None => assert!(loaded.dom.contains(&reason), "the finding `{reason}` is shown"),
        }
    }
    for error in status["errors"].as_array().unwrap() {
        assert!(loaded.dom.contains(&field(error, "error")), "{error}");
    }
    keep_screenshot(&shot, "status-page");
    let _ = std::fs::remove_dir_all(&dir);
}
