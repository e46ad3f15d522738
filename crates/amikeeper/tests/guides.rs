//! The guides in `docs/guides/` show the seed configurations exactly as the conformance
//! scenarios, the seed tests, the demo and the Python tests run them.
//!
//! - Every TOML block of a guide is byte for byte the seed configuration file it names (the link
//!   to `crates/amikeeper/src/seeds/<file>.toml` on the line above the block), and loads with
//!   [`Config::from_toml`], so validation runs.
//! - Every seed configuration ([`configs::ALL`]) is shown by some guide, and every file of
//!   `src/seeds/` is one of them.
//! - Every JSON block (EventBridge patterns, IAM policies) is JSON, and every relative link of a
//!   guide leads to a file that exists.
//!
//! The CLI side (command lines and IAM policies) is checked by `amikeeper-cli`'s
//! `tests/guides.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use amikeeper::samples::configs;
use amikeeper::testing::markdown::fenced_blocks as blocks;
use amikeeper::Config;

const SEEDS_PATH: &str = "crates/amikeeper/src/seeds/";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn guides_dir() -> PathBuf {
    root().join("docs/guides")
}

/// Every guide: its file name and text, sorted by name.
fn guides() -> Vec<(String, String)> {
    let mut guides: Vec<(String, String)> = std::fs::read_dir(guides_dir())
        .expect("docs/guides exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("a readable guide"))
        })
        .collect();
    guides.sort();
    assert!(guides.len() >= 7, "docs/guides: the index, five seed guides and launch configurations");
    guides
}

#[test]
fn every_toml_block_is_a_seed_configuration_file_as_it_is() {
    let mut shown = BTreeSet::new();
    for (guide, text) in guides() {
        for block in blocks(&text).into_iter().filter(|b| b.lang == "toml") {
            let at = format!("docs/guides/{guide}:{}", block.first);
            let Some(start) = block.before.find(SEEDS_PATH) else {
                panic!("{at}: the line above a TOML block must link the seed file it shows ({SEEDS_PATH}...)");
            };
            let rest = &block.before[start + SEEDS_PATH.len()..];
            let name = &rest[..rest.find(".toml").map(|end| end + ".toml".len()).unwrap_or(rest.len())];
            let Some((_, config)) = configs::ALL.iter().find(|(file, _)| *file == name) else {
                panic!("{at}: `{name}` is not one of amikeeper::samples::configs::ALL");
            };
            assert!(
                block.text() == *config,
                "{at}: the block differs from {SEEDS_PATH}{name}; copy the file into the guide as it is"
            );
            if let Err(error) = Config::from_toml(&block.text()) {
                panic!("{at}: not a valid configuration: {error}");
            }
            shown.insert(name.to_owned());
        }
    }
    for (name, _) in configs::ALL {
        assert!(shown.contains(name), "no guide shows {SEEDS_PATH}{name}");
    }
}

#[test]
fn every_seed_file_is_a_known_valid_configuration() {
    let dir = root().join(SEEDS_PATH);
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("the seeds directory exists")
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = configs::ALL.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every file of {SEEDS_PATH} is in configs::ALL, and no other");
    for (name, config) in configs::ALL {
        let file = std::fs::read_to_string(dir.join(name)).expect("a readable seed file");
        assert_eq!(file, config, "configs::ALL names {name} with another file's text");
        assert!(config.ends_with('\n') && !config.ends_with("\n\n"), "{name} ends with one newline");
        let loaded = Config::from_toml(config).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.accounts, [configs::ACCOUNT], "{name} names the sample account");
        let moved = configs::in_account(config, "444455556666");
        let loaded = Config::from_toml(&moved).unwrap_or_else(|e| panic!("{name} in another account: {e}"));
        assert_eq!(loaded.accounts, ["444455556666"]);
    }
}

#[test]
fn every_json_block_is_json_and_every_link_leads_somewhere() {
    for (guide, text) in guides() {
        for block in blocks(&text).into_iter().filter(|b| b.lang == "json") {
            if let Err(error) = serde_json::from_str::<serde_json::Value>(&block.text()) {
                panic!("docs/guides/{guide}:{}: not JSON: {error}", block.first);
            }
        }
        let mut rest = text.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let end = rest.find(')').expect("a closed link");
            let target = rest[..end].split('#').next().unwrap_or_default();
            if !target.is_empty() && !target.contains("://") {
                let path = guides_dir().join(target);
                assert!(path.exists(), "docs/guides/{guide} links {target}, which does not exist");
            }
        }
    }
}

#[test]
fn the_index_links_every_guide() {
    let guides = guides();
    let index = &guides.iter().find(|(name, _)| name == "README.md").expect("docs/guides/README.md").1;
    for (name, _) in guides.iter().filter(|(name, _)| name != "README.md") {
        assert!(index.contains(&format!("]({name})")), "docs/guides/README.md does not link {name}");
    }
}
