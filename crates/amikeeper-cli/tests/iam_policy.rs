//! `amikeeper iam-policy` against AWS's service authorization data: for every seed
//! configuration and a configuration with every kind of target (`tests/iam/every-target.toml`),
//! `scripts/check_iam_policy.py` (policy_sentry's offline copy of the Service Authorization
//! Reference) confirms that each action supports each resource ARN form it is given, that `*` is
//! given only to actions without a resource type (or to a call AWS authorizes against `*`), and
//! that the caveats name every action granted on `*`.
//!
//! It needs the clone's `.venv` with policy_sentry (`scripts/setup-python.sh`). Without it the
//! test prints `skipped` and passes, unless `AMIKEEPER_REQUIRE_MOTO=1` (as `scripts/test.sh`
//! sets), which makes it fail.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.venv`'s Python, when policy_sentry imports there.
fn python_with_policy_sentry() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let works = Command::new(&python)
        .args(["-c", "import policy_sentry.querying.actions"])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Some(python);
    }
    let why = format!("{} cannot import policy_sentry; run scripts/setup-python.sh", python.display());
    if std::env::var("AMIKEEPER_REQUIRE_MOTO").is_ok_and(|v| v == "1") {
        panic!("{why} (AMIKEEPER_REQUIRE_MOTO=1)");
    }
    eprintln!("skipped: {why}");
    None
}

#[test]
fn every_action_supports_every_resource_the_printed_policies_give_it() {
    let Some(python) = python_with_policy_sentry() else { return };
    let mut configs: Vec<PathBuf> = std::fs::read_dir(root().join("crates/amikeeper/src/seeds"))
        .expect("the seed configurations")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 6, "the seed configurations: {configs:?}");
    configs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iam/every-target.toml"));
    let out = Command::new(python)
        .arg(root().join("scripts/check_iam_policy.py"))
        .args(["--amikeeper", env!("CARGO_BIN_EXE_amikeeper")])
        .args(&configs)
        .output()
        .expect("the checker runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("in {} policies hold", configs.len())), "{stdout}");
}
