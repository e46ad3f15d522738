//! `amikeeper`: the command line for in-house tooling.
//!
//! JSON goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 AWS work
//! failed, 2 bad input or configuration.

mod demo;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use amikeeper::config::WaitConfig;
use amikeeper::events::parse_payload;
use amikeeper::{Config, HandleOptions, Keeper};
use clap::{Args, Parser, Subcommand};

/// Keeps every pointer to the current AMI right.
#[derive(Parser)]
#[command(name = "amikeeper", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args, Clone, Default)]
struct AwsArgs {
    /// Region for calls that do not take it from the event.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Named profile from ~/.aws/config.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator); AWS_ENDPOINT_URL works too.
    #[arg(long)]
    endpoint_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the normalised event(s) of a payload as JSON (an array for SQS/SNS batches).
    Parse {
        /// The payload file, or `-` for stdin.
        event: PathBuf,
    },
    /// Handle an event: move every configured pointer, print the report as JSON.
    Handle {
        /// The configuration file (TOML, or JSON if it ends in .json).
        #[arg(long, short)]
        config: PathBuf,
        /// Read and decide, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Wait this many seconds for a pending AMI (overrides the configuration).
        #[arg(long)]
        wait: Option<u64>,
        #[command(flatten)]
        aws: AwsArgs,
        /// The payload file, or `-` for stdin.
        event: PathBuf,
    },
    /// Run every seed flow on an in-memory AWS account and show what happened (no AWS needed).
    Demo {
        /// Print each report as JSON too.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("amikeeper: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli.command))
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

fn bad_input(message: impl std::fmt::Display) -> Failure {
    Failure { code: 2, message: message.to_string() }
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Parse { event } => parse(&event),
        Command::Handle { config, dry_run, wait, aws, event } => handle(&config, dry_run, wait, &aws, &event).await,
        Command::Demo { json } => {
            demo::run(json).await.map(|()| ExitCode::SUCCESS).map_err(|message| Failure { code: 1, message })
        }
    };
    match result {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            eprintln!("amikeeper: {message}");
            ExitCode::from(code)
        }
    }
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| bad_input(format!("cannot read stdin: {e}")))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))?;
    }
    Ok(bytes)
}

fn print_json<T: serde::Serialize>(items: &[T]) -> Result<(), Failure> {
    let text =
        if items.len() == 1 { serde_json::to_string_pretty(&items[0]) } else { serde_json::to_string_pretty(items) };
    let text = text.map_err(|e| Failure { code: 1, message: format!("cannot write JSON: {e}") })?;
    println!("{text}");
    Ok(())
}

fn parse(event: &PathBuf) -> Result<ExitCode, Failure> {
    let payload = read_input(event)?;
    let events = parse_payload(&payload).map_err(bad_input)?;
    print_json(&events)?;
    Ok(ExitCode::SUCCESS)
}

async fn handle(
    config: &PathBuf,
    dry_run: bool,
    wait: Option<u64>,
    aws_args: &AwsArgs,
    event: &PathBuf,
) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    let payload = read_input(event)?;
    // Parse before touching AWS: bad input exits 2 with no call made.
    parse_payload(&payload).map_err(bad_input)?;
    let aws = amikeeper_aws::SdkAws::builder()
        .region(aws_args.region.clone())
        .profile(aws_args.profile.clone())
        .endpoint_url(aws_args.endpoint_url.clone())
        .load()
        .await;
    let keeper = Keeper::new(config.clone(), Arc::new(aws));
    let options =
        HandleOptions { dry_run, wait: wait.map(|seconds| WaitConfig { timeout_seconds: seconds, ..config.wait }) };
    let reports = keeper.handle_payload(&payload, &options).await.map_err(bad_input)?;
    print_json(&reports)?;
    Ok(if reports.iter().any(|r| r.failed()) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
