//! [`MotoServer`]: one `moto_server` child process on a free loopback port.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;

use crate::SdkAws;

/// The environment variable naming the `moto_server` executable.
pub const MOTO_SERVER_ENV: &str = "AMIKEEPER_MOTO_SERVER";
/// The environment variable that, set to `1`, makes a missing `moto_server` a panic rather
/// than a skipped test.
pub const REQUIRE_MOTO_ENV: &str = "AMIKEEPER_REQUIRE_MOTO";
/// The account moto acts in (its default).
pub const MOTO_ACCOUNT_ID: &str = "123456789012";

/// How long `moto_server` may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to try for a free port when another process takes the chosen one first.
const START_ATTEMPTS: u32 = 3;

/// A `moto_server` process listening on `127.0.0.1:<free port>`, killed (and reaped) on drop.
///
/// Each test should start its own: servers share nothing, so tests run in parallel. The
/// server's output goes to a log file whose path failures mention; it is removed on drop
/// unless the thread is panicking.
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotoServer")
            .field("pid", &self.child.id())
            .field("endpoint", &self.endpoint())
            .field("log", &self.log)
            .finish()
    }
}

impl MotoServer {
    /// The `moto_server` executable: `AMIKEEPER_MOTO_SERVER`, else `moto_server` on `PATH`;
    /// `None` when neither exists.
    pub fn executable() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(MOTO_SERVER_ENV).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return is_executable(&path).then_some(path);
        }
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths).map(|dir| dir.join("moto_server")).find(|path| is_executable(path))
    }

    /// Whether `AMIKEEPER_REQUIRE_MOTO=1`.
    pub fn required() -> bool {
        std::env::var(REQUIRE_MOTO_ENV).is_ok_and(|value| value.trim() == "1")
    }

    /// Starts a server and waits until it answers.
    ///
    /// When `moto_server` is not installed: panics if [`required`](Self::required), else prints
    /// `skipped: moto not installed ...` on stderr and returns `None`. Panics when moto is
    /// installed but does not start.
    pub fn start() -> Option<Self> {
        let Some(executable) = Self::executable() else {
            let looked = match std::env::var_os(MOTO_SERVER_ENV).filter(|p| !p.is_empty()) {
                Some(path) => format!("{MOTO_SERVER_ENV}={} is not an executable", PathBuf::from(path).display()),
                None => format!("{MOTO_SERVER_ENV} is unset and no `moto_server` is on PATH"),
            };
            let hint = format!(
                "moto not installed ({looked}); run scripts/setup-python.sh and set \
                 {MOTO_SERVER_ENV}=$PWD/scripts/moto-server"
            );
            if Self::required() {
                panic!("{hint} ({REQUIRE_MOTO_ENV}=1 requires it)");
            }
            eprintln!("skipped: {hint}");
            return None;
        };
        Some(Self::start_with(&executable))
    }

    /// Starts the given `moto_server` executable and waits until it answers; panics on failure.
    pub fn start_with(executable: &Path) -> Self {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(executable) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto_server ({}) did not start:\n{}", executable.display(), failures.join("\n"));
    }

    fn try_start(executable: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        let log = std::env::temp_dir().join(format!("amikeeper-moto-{}-{port}.log", std::process::id()));
        let output = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let errors = output.try_clone().map_err(|e| format!("cannot share {}: {e}", log.display()))?;
        let child = Command::new(executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The defaults the tests assume: account 123456789012, moto's default AMIs.
            .env_remove("MOTO_ACCOUNT_ID")
            .env_remove("MOTO_EC2_LOAD_DEFAULT_AMIS")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", executable.display()))?;
        let mut server = Self { child, port, log };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status} before answering:\n{}", server.log_tail()));
            }
            if server.request("GET", "/moto-api/").is_ok_and(|status| status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer on {} within {START_TIMEOUT:?}:\n{}",
                    server.endpoint(),
                    server.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The file the server's output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Forgets every resource of every region (`POST /moto-api/reset`); panics on failure.
    pub fn reset(&self) {
        match self.request("POST", "/moto-api/reset") {
            Ok(200) => {}
            Ok(status) => panic!("moto reset answered HTTP {status}"),
            Err(error) => panic!("moto reset failed: {error}"),
        }
    }

    /// Makes `apis` answer as where they are missing or denied (scripts/moto_ext/unavailable.py): e.g.
    /// `ec2:DescribeImageReferences` (`InvalidAction`), `imagebuilder` (`AccessDeniedException`)
    /// or any `service:Operation` (the service's access-denied error). An empty list restores
    /// them. Panics on failure.
    pub fn set_unavailable(&self, apis: &[&str]) {
        let path = format!("/moto-api/amikeeper/unavailable?apis={}", apis.join(","));
        match self.request("POST", &path) {
            Ok(200) => {}
            Ok(status) => panic!("moto's unavailability switch answered HTTP {status}"),
            Err(error) => panic!("moto's unavailability switch failed: {error}"),
        }
    }

    /// An [`SdkAws`] pointed at this server: `region` as the default region, static test
    /// credentials, nothing from the environment or `~/.aws`, and quick retries (3 attempts,
    /// 100 ms back-off).
    pub async fn sdk_aws(&self, region: &str) -> SdkAws {
        let retry = Self::retry_config();
        SdkAws::builder()
            .region(Some(region.to_owned()))
            .endpoint_url(Some(self.endpoint()))
            .max_attempts(retry.max_attempts())
            .customize(move |loader| loader.empty_test_environment().test_credentials().retry_config(retry))
            .load()
            .await
    }

    /// The shared SDK configuration of [`sdk_aws`](Self::sdk_aws), for raw SDK clients.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        self.sdk_aws(region).await.sdk_config().clone()
    }

    /// The retry configuration of [`sdk_aws`](Self::sdk_aws).
    pub fn retry_config() -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(1))
    }

    /// One HTTP/1.1 request with an empty body; the response's status code.
    fn request(&self, method: &str, path: &str) -> io::Result<u16> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
        head.strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP response: {head:?}")))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- {} (last lines) ---\n{tail}", self.log.display())
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("moto_server on {} logged to {}", self.endpoint(), self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A port nobody listens on now: bind port 0 on loopback, read it, let it go.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}
