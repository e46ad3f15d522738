//! The HTML pages (`amikeeper::html`): a sweep on `MemoryAws` and a status report as JSON,
//! rendered; what each page must hold, escaped, with nothing loaded from outside the page.
//! (The CLI's tests/html.rs loads the pages in headless Chromium.)

use amikeeper::html::{render_status, render_sweep, Prices, SweepPage};
use amikeeper::memory::SNAPSHOT_GIB;
use amikeeper::testing::{self, REGION};

/// The sample sweep's plan and its `web` AMIs, oldest first.
async fn planned_sweep() -> (amikeeper::SweepReport, Vec<String>) {
    let sample = testing::sample_sweep().await;
    (sample.report, sample.web.iter().map(|id| id.to_string()).collect())
}

/// A price table for the sample region (the shipped table knows only us-east-1).
fn prices() -> Prices {
    Prices::from_toml(&format!(
        "read_on = \"2026-11-30\"\nsource = \"a test\"\n[regions.{REGION}]\nstandard = 0.05\narchive = 0.0125\n"
    ))
    .unwrap()
}

/// `text` as the template engine escapes it in HTML.
fn html(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// Every `src=` and `href=` of the page points inside it (`#...`) or nowhere.
fn assert_self_contained(page: &str) {
    for attribute in ["src=", "href=", "url("] {
        for (at, _) in page.match_indices(attribute) {
            let value = &page[at + attribute.len()..];
            assert!(value.starts_with("\"#"), "`{attribute}` points outside the page: {}", &page[at..at + 60]);
        }
    }
    assert!(!page.contains("<script"), "the page needs no script");
    assert!(!page.contains("@import"), "the page imports no style sheet");
}

#[tokio::test(start_paused = true)]
async fn the_sweep_page_shows_every_decision_with_its_reason_and_what_the_plan_frees() {
    let (report, images) = planned_sweep().await;
    let retired: Vec<String> =
        report.plan.retirements().filter(|d| &*d.group == "web").map(|d| d.image_id.to_string()).collect();
    assert_eq!(
        retired,
        [images[3].clone(), images[2].clone(), images[1].clone()],
        "web: #3 to #5 go, the oldest is in use"
    );
    let api: Vec<String> =
        report.plan.images.iter().filter(|d| &*d.group == "api").map(|d| d.reason.to_string()).collect();
    assert_eq!(api.len(), 4, "four api AMIs judged: {api:?}");
    assert!(api[3].starts_with("in use by launch template"), "the oldest api AMI is launched: {api:?}");
    assert!(api[2].starts_with("#3 of its group"), "the next one goes: {api:?}");
    let page = render_sweep(&report, &prices()).expect("renders");
    assert_self_contained(&page);

    // One mark on the time line (with its reason as a tooltip) and one table row per image.
    for decision in &report.plan.images {
        let id = decision.image_id.as_str();
        assert!(page.contains("<tr class=\"image "), "a table");
        let row = page.split(&format!("data-image=\"{id}\">")).nth(1).unwrap_or_else(|| panic!("no row for {id}"));
        let row = &row[..row.find("</tr>").unwrap()];
        let reason = html(&decision.reason.to_string());
        assert!(row.contains(&reason), "{id}'s row lacks its reason `{reason}`: {row}");
        let tooltip = page.split("<title>").filter(|t| t.starts_with(id)).count();
        assert_eq!(tooltip, 1, "{id} has one mark with a tooltip");
    }
    let row_class = |id: &str| {
        let before = &page[..page.find(&format!("data-image=\"{id}\"")).unwrap()];
        before[before.rfind("<tr class=\"image ").unwrap()..].split('"').nth(1).unwrap().to_owned()
    };
    assert_eq!(row_class(&images[0]), "image in-use");
    assert_eq!(row_class(&images[1]), "image retired");
    assert_eq!(row_class(&images[5]), "image kept");

    // Markup in an AMI's name is text, escaped by the template engine.
    assert!(page.contains(&html("web-<b>\"5\"</b>&")), "escaped");
    assert!(!page.contains("<b>\"5\""));

    // Three retired web AMIs and one api AMI of one 8 GiB snapshot each, at $0.05 (standard)
    // and $0.0125 (archive).
    assert_eq!(report.plan.retirements().count(), 4);
    let gib = 4 * u64::from(SNAPSHOT_GIB);
    assert!(page.contains(&format!("<strong>{gib} GiB</strong>")), "frees {gib} GiB");
    assert!(page.contains(&format!("up to ${:.2}/month", gib as f64 * 0.05)));
    assert!(page.contains(&format!("${:.2}/month had they been archived", gib as f64 * 0.0125)));
    assert!(page.contains("billed incrementally") && page.contains("VolumeSize"), "says which size it shows");
    assert!(page.contains("read 2026-11-30"), "says when the prices were read");
}

#[tokio::test(start_paused = true)]
async fn a_region_without_a_known_price_has_an_unknown_estimate() {
    let (report, _) = planned_sweep().await;
    assert_eq!(Prices::shipped().of(&report.plan.region), None, "the shipped table has no price for {REGION}");
    let page = render_sweep(&report, &Prices::shipped()).unwrap();
    assert!(page.contains("estimate unknown"));
    assert!(!page.contains("/month"), "no dollar figure is guessed");
}

#[tokio::test(start_paused = true)]
async fn a_fleet_page_shows_each_sweep_and_each_that_could_not_run() {
    let (report, images) = planned_sweep().await;
    let prices = Prices::shipped();
    let page = SweepPage::new()
        .sweep(Some("111122223333"), &report, &prices)
        .failed(Some("444455556666"), "eu-west-1", "AccessDenied: not authorized to perform sts:AssumeRole")
        .render(&prices)
        .unwrap();
    assert!(
        page.contains(&format!("<h2>{}</h2>", html(&format!("111122223333 / {REGION}")))),
        "titled by account and region"
    );
    assert!(page.contains("AccessDenied: not authorized to perform sts:AssumeRole"));
    assert!(page.contains(&images[1]));
}

#[test]
fn the_status_page_shows_every_pointer_by_place_with_its_findings_and_errors() {
    let status: serde_json::Value = serde_json::from_str(testing::STATUS_REPORT).unwrap();
    let page = render_status(&status).expect("renders");
    assert_self_contained(&page);
    let headings: Vec<&str> =
        page.match_indices("<h2>").map(|(at, _)| &page[at + 4..at + page[at..].find("</h2>").unwrap()]).collect();
    assert_eq!(
        headings,
        ["111122223333 / eu-west-1", "111122223333 / us-east-1", "444455556666 / us-east-1"],
        "one section per account and region, in order"
    );
    for pointer in status["pointers"].as_array().unwrap() {
        let [account, region, kind, name] = ["account", "region", "kind", "name"].map(|f| pointer[f].as_str().unwrap());
        let key = format!("data-pointer=\"{}\"", html(&format!("{account} {region} {kind}:{name}")));
        assert_eq!(page.matches(&key).count(), 1, "{key} is shown once");
    }
    // Each finding sits in its pointer's row.
    for finding in status["findings"].as_array().unwrap() {
        let reason = finding["reason"].as_str().unwrap();
        let Some(pointer) = finding["pointer"].as_str() else {
            assert!(page.contains(&html(reason)), "{reason}");
            continue;
        };
        let [account, region, kind] = ["account", "region", "pointer_kind"].map(|f| finding[f].as_str().unwrap());
        let key = format!("data-pointer=\"{}\"", html(&format!("{account} {region} {kind}:{pointer}")));
        let row = page.split(&key).nth(1).unwrap();
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&html(reason)), "the finding `{reason}` is in {key}'s row");
    }
    for error in status["errors"].as_array().unwrap() {
        assert!(page.contains(&html(error["error"].as_str().unwrap())));
    }
    assert!(page.contains("<span class=\"badge warn\">no</span>"), "an unprotected AMI stands out");
    assert!(page.contains("names no AMI") || page.contains("the AMI was not found"));
}

#[test]
fn a_value_that_is_not_a_status_report_is_refused() {
    let error = render_status(&serde_json::json!({"pointers": [{"kind": 1}]})).unwrap_err();
    assert!(error.to_string().contains("not a status report"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_group_of_one_and_a_snapshot_of_unknown_size_are_said_so() {
    let sample = testing::sample_sweep().await;
    let mut report = sample.report;
    report.plan.images.retain(|d| &*d.group != "api" || d.image_id == sample.api[0]);
    let deleted = report.plan.image_snapshots.iter_mut().find(|s| s.delete).expect("a deleted snapshot");
    deleted.size_gib = None;
    let page = render_sweep(&report, &prices()).unwrap();
    assert!(page.contains("(1 image)"), "one api AMI left");
    assert!(page.contains("and 1 snapshot of unknown size"));
    let gib = (report.plan.image_snapshots.iter().filter(|s| s.delete).count() as u64 - 1) * u64::from(SNAPSHOT_GIB);
    assert!(page.contains(&format!("<strong>{gib} GiB</strong>")), "the sized ones only: {gib} GiB");
}
