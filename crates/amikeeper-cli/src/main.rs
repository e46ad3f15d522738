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
use amikeeper::model::Region;
use amikeeper::retain::{Progress, SweepOptions};
use amikeeper::rollback::{RollbackOptions, RollbackTarget};
use amikeeper::{BakeOptions, Config, HandleOptions, Keeper};
use amikeeper_aws::aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
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
    /// Sweep old AMIs, snapshots and launch template versions of one region as the
    /// configuration's [retention] says. Without --apply it only prints the plan.
    Sweep {
        /// The configuration file (TOML, or JSON if it ends in .json), with a [retention] section.
        #[arg(long, short)]
        config: PathBuf,
        /// Act on the plan (deregister, delete, deprecate, tag); without it nothing is changed.
        #[arg(long)]
        apply: bool,
        /// Sweep every account and region of the configuration's [[fleet]] (one report each,
        /// as a JSON array) instead of one region.
        #[arg(long)]
        fleet: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Move pointers back to the AMI each named before (or to --to): the one exception to "never
    /// move to an older AMI". Nothing is written unless every target can go back to an
    /// available AMI; a refusal exits 2.
    Rollback {
        /// The configuration file (for fixed-version parameters and stack capabilities).
        #[arg(long, short)]
        config: PathBuf,
        /// Roll every target to this AMI instead of the one it named before.
        #[arg(long)]
        to: Option<String>,
        /// Work it out and check it, but write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        aws: AwsArgs,
        /// ssm_parameter:NAME, launch_template:ID_OR_NAME, auto_scaling_group:NAME or
        /// stack_parameter:STACK[/PARAMETER].
        #[arg(required = true)]
        targets: Vec<RollbackTarget>,
    },
    /// Bake now: image a rule's builder instance, wait for the AMI (bounded), and move the
    /// rule's targets to it, as its schedule would. Prints the report as JSON.
    Bake {
        /// The configuration file (TOML, or JSON if it ends in .json).
        #[arg(long, short)]
        config: PathBuf,
        /// The rule whose `bake` runs.
        #[arg(long)]
        rule: String,
        /// Say what would be baked, but create and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Wait this many seconds for the new AMI (overrides the configuration); when it is
        /// still pending, the targets are deferred to its `EC2 AMI State Change` event.
        #[arg(long)]
        wait: Option<u64>,
        /// The account the bake runs in (for `{account}`); needed only when the configuration
        /// lists several.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Print the least-privilege IAM policy for a configuration: for handling events, sweeping
    /// and rolling back, each action on the resources the configuration can touch in its
    /// accounts. What a policy cannot say (the actions granted on *, and why) goes to stderr.
    IamPolicy {
        /// The configuration file (TOML, or JSON if it ends in .json).
        #[arg(long, short)]
        config: PathBuf,
        /// The partition the ARNs name.
        #[arg(long, default_value = "aws", value_parser = ["aws", "aws-cn", "aws-us-gov"])]
        partition: String,
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
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
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
        Command::Sweep { config, apply, fleet, aws } => sweep(&config, apply, fleet, &aws).await,
        Command::IamPolicy { config, partition } => iam_policy(&config, &partition),
        Command::Bake { config, rule, dry_run, wait, account, aws } => {
            bake(&config, rule, BakeFlags { dry_run, wait, account }, &aws).await
        }
        Command::Rollback { config, to, dry_run, aws, targets } => rollback(&config, to, dry_run, &aws, &targets).await,
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

/// How long one attempt of a sweep's AWS call may take.
const SWEEP_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// How long one of a sweep's AWS calls may take, retries included.
const SWEEP_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn sdk_builder(args: &AwsArgs) -> amikeeper_aws::SdkAwsBuilder {
    amikeeper_aws::SdkAws::builder()
        .region(args.region.clone())
        .profile(args.profile.clone())
        .endpoint_url(args.endpoint_url.clone())
}

async fn load_aws(args: &AwsArgs) -> amikeeper_aws::SdkAws {
    sdk_builder(args).load().await
}

async fn sweep(config: &PathBuf, apply: bool, fleet: bool, aws_args: &AwsArgs) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    if config.retention.is_none() {
        return Err(bad_input("the configuration has no [retention] section: nothing to sweep"));
    }
    if fleet && config.fleet.is_empty() {
        return Err(bad_input("--fleet needs [[fleet]] entries (role_arn, regions) in the configuration"));
    }
    // A fleet names its regions; STS (for its roles) needs one too when none is given.
    let mut aws_args = aws_args.clone();
    if fleet && aws_args.region.is_none() {
        aws_args.region = config.fleet.iter().flat_map(|t| t.regions.first()).next().cloned();
    }
    let aws_args = &aws_args;
    // Listing thousands of images or snapshots can take an emulator (or a busy region) far
    // longer than an event's single-item calls: give each attempt two minutes.
    // Stalled-stream protection watches every request body's throughput; a sweep's thousands
    // of small requests are bounded by the timeouts instead, for less CPU per request.
    let aws = sdk_builder(aws_args)
        .operation_attempt_timeout(SWEEP_ATTEMPT_TIMEOUT)
        .operation_timeout(SWEEP_OPERATION_TIMEOUT)
        .customize(|loader| loader.stalled_stream_protection(StalledStreamProtectionConfig::disabled()))
        .load()
        .await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let keeper = Keeper::new(config, Arc::new(aws));
    let options = SweepOptions { apply, now: None };
    if fleet {
        let reports = keeper.sweep_fleet(&options).await;
        print_json(std::slice::from_ref(&reports))?;
        return Ok(if reports.iter().all(|r| r.status == "ok") { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let bar = progress_bar(apply);
    let progress = |p: Progress| {
        if let Some(bar) = &bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        }
    };
    let report = keeper.sweep_with_progress(&region, &options, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(|error| Failure { code: 1, message: error.to_string() })?;
    print_json(std::slice::from_ref(&report))?;
    Ok(if report.summary.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn iam_policy(config: &PathBuf, partition: &str) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    print_json(&[amikeeper::iam::policy_in_partition(&config, partition)])?;
    for caveat in amikeeper::iam::caveats(&config) {
        eprintln!("amikeeper: note: {caveat}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn rollback(
    config: &PathBuf,
    to: Option<String>,
    dry_run: bool,
    aws_args: &AwsArgs,
    targets: &[RollbackTarget],
) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    if let Some(to) = to.as_deref().filter(|to| !to.starts_with("ami-")) {
        return Err(bad_input(format!("--to `{to}` is not an AMI id")));
    }
    let aws = load_aws(aws_args).await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let keeper = Keeper::new(config, Arc::new(aws));
    let options = RollbackOptions { to: to.map(amikeeper::model::ImageId::new), dry_run };
    let report = keeper.rollback(&region, targets, &options).await;
    print_json(std::slice::from_ref(&report))?;
    Ok(match report.status {
        "ok" => ExitCode::SUCCESS,
        "refused" => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}

/// A progress bar on stderr when it is a terminal and there is something to act on.
fn progress_bar(apply: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !apply || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("{spinner} sweeping [{bar:40}] {pos}/{len} ({eta} left)")
        .map(|style| style.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
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
    let aws = load_aws(aws_args).await;
    let keeper = Keeper::new(config.clone(), Arc::new(aws));
    let options =
        HandleOptions { dry_run, wait: wait.map(|seconds| WaitConfig { timeout_seconds: seconds, ..config.wait }) };
    let reports = keeper.handle_payload(&payload, &options).await.map_err(bad_input)?;
    print_json(&reports)?;
    Ok(if reports.iter().any(|r| r.failed()) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `bake`'s flags besides the configuration, the rule and the AWS settings.
struct BakeFlags {
    dry_run: bool,
    wait: Option<u64>,
    account: Option<String>,
}

async fn bake(config: &PathBuf, rule: String, flags: BakeFlags, aws_args: &AwsArgs) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    let aws = load_aws(aws_args).await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let wait = flags.wait.map(|seconds| WaitConfig { timeout_seconds: seconds, ..config.wait });
    let keeper = Keeper::new(config, Arc::new(aws));
    let options = BakeOptions { dry_run: flags.dry_run, wait, account: flags.account, now: None };
    // An unknown rule, a rule without `bake` or an unknown account: exit 2, no AWS call made.
    let report = keeper.bake(&rule, &region, &options).await.map_err(bad_input)?;
    print_json(std::slice::from_ref(&report))?;
    Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
