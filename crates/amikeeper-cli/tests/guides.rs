//! The guides in `docs/guides/` as a user follows them, on the CLI's side:
//!
//! - every `amikeeper ...` command line they show (in `sh` blocks, and in inline code) parses
//!   with the CLI's own clap definition: the binary runs it with `--help` appended, which parses
//!   the subcommand, every flag and every value but runs nothing; a command line in an `sh`
//!   block must also give every argument the subcommand's usage requires;
//! - every IAM policy they show (the `json` block after an `amikeeper iam-policy --config FILE`
//!   line) is what `amikeeper iam-policy` prints for that file. After a change to the policies,
//!   `AMIKEEPER_BLESS_GUIDES=1 cargo test -p amikeeper-cli --test guides` writes the new ones in;
//! - what `launch-configurations.md` says amikeeper does with a group on a launch configuration
//!   holds against `moto_server` (skipped without moto, unless `AMIKEEPER_REQUIRE_MOTO=1`).
//!
//! The configurations themselves are checked by `amikeeper`'s `tests/guides.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use amikeeper::conformance::{Fixture, ImageSpec, MAIN_REGION};
use amikeeper::samples::{configs, Origin};
use amikeeper::testing::markdown::{fenced_blocks as blocks, FencedBlock as Block};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use common::{json, temp_dir};

mod common;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every guide: its path and text, sorted.
fn guides() -> Vec<(PathBuf, String)> {
    let mut guides: Vec<(PathBuf, String)> = std::fs::read_dir(root().join("docs/guides"))
        .expect("docs/guides exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable guide");
            (path, text)
        })
        .collect();
    guides.sort();
    assert!(!guides.is_empty(), "no guides in docs/guides");
    guides
}

fn name(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The command lines of an `sh` block (lines ending in `\` continue on the next).
fn command_lines(block: &Block) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in &block.lines {
        let line = line.trim();
        if let Some(start) = line.strip_suffix('\\') {
            current.push_str(start);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        commands.push(std::mem::take(&mut current));
    }
    commands
}

/// The inline code spans of a text, outside fenced blocks.
fn inline_code(markdown: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut in_fence = false;
    let mut prose = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            prose.push_str(line);
            prose.push(' ');
        }
    }
    let mut parts = prose.split('`');
    parts.next();
    while let (Some(code), rest) = (parts.next(), parts.next()) {
        spans.push(code.to_owned());
        if rest.is_none() {
            break;
        }
    }
    spans
}

/// Splits a command line as a POSIX shell would for plain words and quoted strings.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "an unclosed quote in `{line}`");
    words.extend(word);
    words
}

/// Runs the binary with `args`, with test credentials, no AWS reachable and nothing from the
/// machine's `~/.aws`, in the workspace root (where the guides' paths start).
fn amikeeper(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut command = common::offline();
    command.args(args).current_dir(root());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

/// What a subcommand's help says it takes: which flags take a value (long name to short), which
/// flags are required, and how many positional arguments are.
struct Usage {
    takes_value: BTreeSet<String>,
    short_to_long: BTreeMap<String, String>,
    required_flags: Vec<String>,
    required_positionals: usize,
}

fn usage(help: &str) -> Usage {
    let mut takes_value = BTreeSet::new();
    let mut short_to_long = BTreeMap::new();
    for line in help.lines().map(str::trim_start).filter(|l| l.starts_with('-')) {
        let spec: Vec<&str> = line.split("  ").next().unwrap_or_default().split([',', ' ']).collect();
        let long = spec.iter().find(|s| s.starts_with("--")).map(|s| s.to_string());
        let short = spec.iter().find(|s| s.len() == 2 && s.starts_with('-')).map(|s| s.to_string());
        if let Some(long) = long {
            if spec.iter().any(|s| s.starts_with('<')) {
                takes_value.insert(long.clone());
            }
            if let Some(short) = short {
                short_to_long.insert(short, long);
            }
        }
    }
    let line = help.lines().find_map(|l| l.strip_prefix("Usage: ")).expect("a usage line");
    let mut required_flags = Vec::new();
    let mut required_positionals = 0;
    let mut tokens = line.split_whitespace().skip(2).peekable();
    while let Some(token) = tokens.next() {
        if token.starts_with('[') {
            continue;
        } else if token.starts_with("--") {
            required_flags.push(token.to_owned());
            if tokens.peek().is_some_and(|t| t.starts_with('<')) {
                tokens.next();
            }
        } else if token.starts_with('<') {
            required_positionals += 1;
        }
    }
    Usage { takes_value, short_to_long, required_flags, required_positionals }
}

/// Checks one command line shown in a guide; `complete` when it must be runnable as it is.
fn check_command(at: &str, line: &str, complete: bool) {
    let words = words(line);
    assert_eq!(words.first().map(String::as_str), Some("amikeeper"), "{at}: `{line}`");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).chain(["--help"]).collect();
    let out = amikeeper(&args, &[]);
    assert!(
        out.status.success(),
        "{at}: `{line}` does not parse with the CLI's flags:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !complete {
        return;
    }
    let help = String::from_utf8_lossy(&out.stdout);
    let usage = usage(&help);
    let mut given = BTreeSet::new();
    let mut positionals = 0;
    let mut rest = words[2..].iter();
    while let Some(word) = rest.next() {
        if word.starts_with('-') && word.len() > 1 {
            let flag = word.split('=').next().unwrap_or_default();
            let long = usage.short_to_long.get(flag).cloned().unwrap_or_else(|| flag.to_owned());
            if usage.takes_value.contains(&long) && !word.contains('=') {
                rest.next();
            }
            given.insert(long);
        } else {
            positionals += 1;
        }
    }
    for flag in &usage.required_flags {
        assert!(given.contains(flag), "{at}: `{line}` lacks {flag}, which `amikeeper {} --help` requires", words[1]);
    }
    assert!(
        positionals >= usage.required_positionals,
        "{at}: `{line}` gives {positionals} of the {} arguments `amikeeper {} --help` requires",
        usage.required_positionals,
        words[1]
    );
}

#[test]
fn every_command_line_in_the_guides_parses() {
    let mut checked = 0;
    for (path, text) in guides() {
        for block in blocks(&text).iter().filter(|b| b.lang == "sh") {
            for line in command_lines(block).iter().filter(|l| l.starts_with("amikeeper ")) {
                check_command(&format!("{}:{}", name(&path), block.first + 1), line, true);
                checked += 1;
            }
        }
        for code in inline_code(&text).iter().filter(|c| c.starts_with("amikeeper ")) {
            check_command(&name(&path), code, false);
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} command lines found in docs/guides");
}

#[test]
fn every_iam_policy_in_the_guides_is_what_iam_policy_prints() {
    let bless = std::env::var("AMIKEEPER_BLESS_GUIDES").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    // The README's IAM section too.
    let readme = root().join("README.md");
    let readme_text = std::fs::read_to_string(&readme).expect("README.md");
    assert!(readme_text.contains("amikeeper iam-policy --config crates/"), "README.md shows a printed policy");
    for (path, text) in guides().into_iter().chain([(readme, readme_text)]) {
        let blocks = blocks(&text);
        let mut replacements: Vec<(usize, usize, String)> = Vec::new();
        let mut policies = 0;
        for (i, block) in blocks.iter().enumerate().filter(|(_, b)| b.lang == "sh") {
            let lines = command_lines(block);
            let Some(line) = lines.iter().find(|l| l.starts_with("amikeeper iam-policy ")) else { continue };
            let at = format!("{}:{}", name(&path), block.first + 1);
            assert_eq!(lines.len(), 1, "{at}: put `{line}` in a block of its own, followed by the policy");
            let args = words(line);
            let config = args.iter().skip_while(|a| *a != "--config").nth(1).expect("--config FILE");
            assert!(config.starts_with("crates/amikeeper/src/seeds/"), "{at}: show the policy of a seed file");
            let out = amikeeper(&args[1..].iter().map(String::as_str).collect::<Vec<_>>(), &[]);
            assert!(out.status.success(), "{at}: `{line}` failed:\n{}", String::from_utf8_lossy(&out.stderr));
            let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the policy is JSON");
            let shown = blocks[i + 1..].iter().find(|b| b.lang == "json" || b.lang == "sh");
            let Some(shown) = shown.filter(|b| b.lang == "json") else {
                panic!("{at}: `{line}` is not followed by the policy in a json block");
            };
            let text = shown.lines.join("\n");
            if serde_json::from_str::<serde_json::Value>(&text).ok().as_ref() != Some(&printed) {
                stale.push(format!("{at}: the policy shown is not what `{line}` prints"));
                replacements.push((
                    shown.first,
                    shown.last,
                    String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
                ));
            }
            policies += 1;
        }
        let guide = path.file_name().unwrap().to_string_lossy();
        if guide.starts_with("seed-") {
            assert!(policies >= 1, "{}: a seed guide shows its IAM policy (`amikeeper iam-policy`)", name(&path));
        }
        if bless && !replacements.is_empty() {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for (first, last, policy) in replacements.into_iter().rev() {
                lines.splice(first..last, policy.lines().map(str::to_owned));
            }
            std::fs::write(&path, lines.join("\n") + "\n").expect("the guide is writable");
        }
    }
    assert!(
        bless || stale.is_empty(),
        "{}\n(AMIKEEPER_BLESS_GUIDES=1 cargo test -p amikeeper-cli --test guides writes the printed policies in)",
        stale.join("\n")
    );
}

// ------------------------------------------------------------ launch-configurations.md, on moto

fn moto_amikeeper(moto: &MotoServer, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    let endpoint = moto.endpoint();
    all.extend(["--endpoint-url", &endpoint, "--region", MAIN_REGION]);
    amikeeper(&all, &[("AWS_ENDPOINT_URL", &endpoint)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_on_a_launch_configuration_is_skipped_refused_and_keeps_its_ami() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let account = fixture.account();
    let legacy = fixture.image(MAIN_REGION, ImageSpec::named("lc-legacy")).await;
    let newer = fixture.image(MAIN_REGION, ImageSpec::named("lc-newer")).await;
    fixture.launch_configuration(MAIN_REGION, "app-legacy-lc", &legacy).await;
    let autoscaling = fixture.autoscaling(MAIN_REGION);
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("app-legacy")
        .launch_configuration_name("app-legacy-lc")
        .min_size(0)
        .max_size(1)
        .availability_zones(format!("{MAIN_REGION}a"))
        .send()
        .await
        .expect("CreateAutoScalingGroup");

    let dir = temp_dir("guides");
    let config = dir.join("asg-to-latest.toml");
    std::fs::write(&config, configs::in_account(configs::SEED_002_ASG_TO_LATEST, &account)).unwrap();
    let config = config.to_str().unwrap();

    // Handling: the group's CreateAutoScalingGroup names a launch configuration, no template.
    let mut event = Origin::new(&account, MAIN_REGION, "lc-asg").create_auto_scaling_group("app-legacy", "lt-0", "1");
    let request = event["detail"]["requestParameters"].as_object_mut().unwrap();
    request.remove("launchTemplate");
    request.insert("launchConfigurationName".into(), "app-legacy-lc".into());
    let event_file = dir.join("create-auto-scaling-group.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    let reports = json(&moto_amikeeper(&moto, &["handle", "--config", config, event_file.to_str().unwrap()]), 0);
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "one report per event: {reports:#}");
    let report = &reports[0];
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(report["targets"][0]["status"], "skipped", "{report:#}");
    let reason = report["targets"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("launches from no launch template") && reason.contains("migrate"), "{reason}");
    let group = autoscaling.describe_auto_scaling_groups().auto_scaling_group_names("app-legacy").send().await;
    let group = group.expect("DescribeAutoScalingGroups");
    let group = &group.auto_scaling_groups()[0];
    assert_eq!(group.launch_configuration_name(), Some("app-legacy-lc"), "the group is untouched");
    assert!(group.launch_template().is_none());

    // Rolling back: refused as a whole, exit 2.
    let out = moto_amikeeper(&moto, &["rollback", "--config", config, "auto_scaling_group:app-legacy"]);
    let report = json(&out, 2);
    assert_eq!(report["status"], "refused", "{report:#}");
    assert!(report.to_string().contains("launches from no launch template"), "{report:#}");

    // Sweeping: the launch configuration's AMI is in use; the newer AMI is the group's newest.
    let retention = dir.join("retention.toml");
    let text = format!(
        "accounts = [\"{account}\"]\n[retention]\n[[retention.images]]\ngroup_by = {{ name_prefix = [\"lc-\"] }}\nkeep_newest = 1\n"
    );
    std::fs::write(&retention, text).unwrap();
    let plan = json(&moto_amikeeper(&moto, &["sweep", "--config", retention.to_str().unwrap()]), 0);
    let images = plan["plan"]["images"].as_array().expect("the plan's images");
    let reason = |id: &str| {
        images.iter().find(|d| d["image_id"] == id).map(|d| d["reason"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(reason(legacy.as_str()).as_deref(), Some("in use by launch configuration app-legacy-lc"), "{plan:#}");
    assert!(reason(newer.as_str()).is_some(), "{plan:#}");
    std::fs::remove_dir_all(&dir).ok();
}
