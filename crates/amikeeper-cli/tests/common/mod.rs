//! What the command-line tests share: the binary run with test credentials and nothing from the
//! machine's environment or `~/.aws`, a directory per test, and the JSON the binary prints.
#![allow(dead_code)] // each test file uses some of these

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

use amikeeper::conformance::MAIN_REGION;
use serde_json::Value;

/// The environment variables that could point the binary at a real account or change its logs.
const MACHINE_ENV: [&str; 12] = [
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "RUST_LOG",
];

/// `command` with test credentials, no instance metadata and no `~/.aws` files.
pub fn test_credentials(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/amikeeper-test/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amikeeper-test/credentials")
}

/// The binary with test credentials and nothing else from the environment or `~/.aws`.
pub fn isolated() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amikeeper"));
    for key in MACHINE_ENV {
        command.env_remove(key);
    }
    test_credentials(&mut command);
    command
}

/// [`isolated`] with no AWS reachable: `AWS_ENDPOINT_URL` is a port nothing listens on.
pub fn offline() -> Command {
    let mut command = isolated();
    command.env("AWS_ENDPOINT_URL", OFFLINE_ENDPOINT);
    command
}

/// An endpoint nothing listens on: a call to it fails at once.
pub const OFFLINE_ENDPOINT: &str = "http://127.0.0.1:9";

/// `amikeeper ARGS --endpoint-url ENDPOINT --region ap-northeast-1`, [`isolated`].
pub fn amikeeper_at(endpoint: &str, args: &[&OsStr]) -> Output {
    let mut command = isolated();
    command.args(args).args(["--endpoint-url", endpoint, "--region", MAIN_REGION]);
    command.output().expect("the binary runs")
}

/// A new directory of this test's own (the tests of a file run at once in one process).
pub fn temp_dir(label: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("amikeeper-cli-{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The JSON a run printed on stdout, which exited with `code`.
pub fn json(out: &Output, code: i32) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}\nstdout:\n{stdout}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is no JSON report ({e}); stderr:\n{stderr}"))
}
