//! `amikeeper`: the command line for in-house tooling.
//!
//! JSON goes to stdout, progress and errors to stderr. Exit codes: [`EXIT_CODES`] (0 done, 1
//! AWS work failed, 2 refused or invalid input, 3 `status` found something), the same table as
//! in the README.

mod demo;
mod html;
mod revoke;
mod status;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use amikeeper::config::WaitConfig;
use amikeeper::events::parse_payload;
use amikeeper::model::{ImageId, Region};
use amikeeper::retain::{Progress, SweepOptions};
use amikeeper::rollback::{RollbackOptions, RollbackStatus, RollbackTarget};
use amikeeper::{BakeOptions, Config, HandleOptions, InvokeOptions, Keeper, Verdict};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The exit codes of every command, shown by `--help` (the README has the same table).
const EXIT_CODES: &str = "\
Exit codes (every command):
  0  Done: every run's status is ok, deferred (the AMI is still pending; its EC2 AMI State Change event finishes the job) or ignored (nothing to do); a plan, a dry run, a policy or parsed events were printed.
  1  AWS work failed: an AWS call failed in a run, a target, a copy or a sweep action, after retries (throttling, a 5xx, a timeout, access denied, a resource the configuration names that is missing), or a sweep's inventory could not be read. Everything else was still done, and running it again is safe. (demo: a check of its in-memory run failed.)
  2  Refused or invalid input, with nothing written for what was refused: a payload that is unreadable, malformed or of an unsupported kind; a bad configuration (a literal target name that is unsafe is one); bad arguments; no region; or a run whose status is refused: an event from an account not in accounts, a name from a tag outside allowed_name_prefixes or unsafe, a stack-managed resource, an event naming an AMI that EC2 does not know (InvalidAMIID.NotFound), a rollback that cannot go back, a revoke refused (a pointer with no earlier good AMI, an AMI that does not exist).
  3  status only: every pointer was read, and something is wrong (a finding: dangling, dr_lag, unprotected, disagree, rejected). status exits 1 when any read failed (its report is incomplete), 0 when nothing was found.
  Mixed results: the code is the highest-ranked one among the events, targets and actions, and 1 ranks above 2 above 0. One target updated and one refused exits 2; one refused and one failed exits 1 (its run again exits 2 while the refusal stands); deferred counts as done.";

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
    /// Print the normalised events of a payload as a JSON array: one item per event (one for an
    /// EventBridge event, one per record of an SQS or SNS batch).
    Parse {
        /// The payload file, or `-` for stdin.
        event: PathBuf,
    },
    /// Handle an event: move every configured pointer, print the reports as a JSON array, one
    /// per event of the payload (one for an EventBridge event, one per SQS or SNS record).
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
        output: html::SweepOutput,
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
    /// Revoke an AMI: every pointer the configuration manages that names it or its copy_to copy
    /// moves back to the newest earlier AMI of its rule that is not rejected; the AMI and its
    /// copies are marked rejected (never published again) and deprecated. Nothing is written
    /// unless every pointer can move back; a refusal exits 2.
    Revoke(revoke::RevokeArgs),
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
    /// Read every pointer the configuration manages back (home region, copy_to regions, with
    /// --fleet each fleet account): the AMI it names, its state and age, its protection, when it
    /// moved, and what is wrong. Exits 0 with no finding, 3 with findings, 1 when a read failed.
    Status(status::StatusArgs),
    /// Run every seed flow on an in-memory AWS account and show what happened (no AWS needed).
    Demo {
        /// Print each report as JSON too.
        #[arg(long)]
        json: bool,
    },
}

/// The process exit code of a command whose outcome is `verdict` ([`EXIT_CODES`]).
fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Done => 0,
        Verdict::Failed => 1,
        Verdict::Refused => 2,
    }
}

/// The process exit of `verdict`.
fn exit(verdict: Verdict) -> ExitCode {
    ExitCode::from(exit_code(verdict))
}

/// The command line with the exit-code table after every command's help.
fn cli_command() -> clap::Command {
    Cli::command().after_help(EXIT_CODES).mut_subcommands(|command| command.after_help(EXIT_CODES))
}

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's default), as invalid input does.
    let cli = match Cli::from_arg_matches(&cli_command().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
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
    Failure { code: exit_code(Verdict::Refused), message: message.to_string() }
}

/// A failure of AWS work outside any report (exit 1).
fn aws_failure(message: impl std::fmt::Display) -> Failure {
    Failure { code: exit_code(Verdict::Failed), message: message.to_string() }
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Parse { event } => parse(&event),
        Command::Handle { config, dry_run, wait, aws, event } => handle(&config, dry_run, wait, &aws, &event).await,
        Command::Sweep { config, apply, fleet, output, aws } => sweep(&config, apply, fleet, &output, &aws).await,
        Command::IamPolicy { config, partition } => iam_policy(&config, &partition),
        Command::Bake { config, rule, dry_run, wait, account, aws } => {
            bake(&config, rule, BakeFlags { dry_run, wait, account }, &aws).await
        }
        Command::Rollback { config, to, dry_run, aws, targets } => rollback(&config, to, dry_run, &aws, &targets).await,
        Command::Revoke(args) => revoke::revoke(args).await,
        Command::Status(args) => status::status(args).await,
        Command::Demo { json } => demo::run(json).await.map(|()| ExitCode::SUCCESS).map_err(aws_failure),
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

/// Prints `value` as pretty JSON on stdout. Its shape depends only on the command: `parse` and
/// `handle` print an array (one item per event, however many the payload carried), the others
/// one object (`sweep --fleet`: an array, one per account and region).
fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| aws_failure(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn parse(event: &PathBuf) -> Result<ExitCode, Failure> {
    let payload = read_input(event)?;
    let events = parse_payload(&payload).map_err(bad_input)?;
    print_json(&events)?;
    Ok(ExitCode::SUCCESS)
}

async fn load_aws(args: &AwsArgs) -> amikeeper_aws::SdkAws {
    amikeeper_aws::SdkAws::builder()
        .region(args.region.clone())
        .profile(args.profile.clone())
        .endpoint_url(args.endpoint_url.clone())
        .load()
        .await
}

async fn sweep(
    config: &PathBuf,
    apply: bool,
    fleet: bool,
    output: &html::SweepOutput,
    aws_args: &AwsArgs,
) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    // Read the price table first: a bad one fails before any AWS call.
    let printer = output.printer().map_err(bad_input)?;
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
    // Listing thousands of images or snapshots can take an emulator (or a busy region) far
    // longer than an event's single-item calls: the sweep backend's longer timeouts.
    let aws = load_aws(&aws_args).await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let sweeps = Arc::new(aws.for_sweeps());
    let keeper = Keeper::builder(config, Arc::new(aws)).sweep_backend(sweeps).build();
    let options = SweepOptions::default().apply(apply);
    if fleet {
        let reports = keeper.sweep_fleet(&options).await;
        printer.fleet(&reports)?;
        // A target that could not be swept has no report: it failed.
        let verdicts = reports.iter().map(|r| r.report.as_ref().map_or(Verdict::Failed, Verdict::of_sweep));
        return Ok(exit(Verdict::worst(verdicts)));
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
    let report = report.map_err(|error| if error.is_bad_input() { bad_input(&error) } else { aws_failure(&error) })?;
    printer.one(&report)?;
    Ok(exit(Verdict::of_sweep(&report)))
}

fn iam_policy(config: &PathBuf, partition: &str) -> Result<ExitCode, Failure> {
    let config = Config::from_file(config).map_err(bad_input)?;
    print_json(&amikeeper::iam::policy_in_partition(&config, partition))?;
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
    let to = to
        .map(|to| to.parse::<ImageId>().map_err(|_| bad_input(format!("--to `{to}` is not an AMI id"))))
        .transpose()?;
    let aws = load_aws(aws_args).await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let keeper = Keeper::new(config, Arc::new(aws));
    let options = RollbackOptions::default().to(to).dry_run(dry_run);
    let report = keeper.rollback(&region, targets, &options).await;
    print_json(&report)?;
    Ok(exit(match report.status {
        RollbackStatus::Ok => Verdict::Done,
        RollbackStatus::Refused => Verdict::Refused,
        _ => Verdict::Failed,
    }))
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
    let handle = HandleOptions::default()
        .dry_run(dry_run)
        .wait(wait.map(|seconds| WaitConfig { timeout_seconds: seconds, ..config.wait }));
    // `handle` runs what the events ask for, and nothing more: a schedule no rule takes is
    // reported as ignored, not swept.
    let options = InvokeOptions::default().handle(handle);
    let invocation = keeper.invoke(&payload, &options).await.map_err(bad_input)?;
    print_json(&invocation.runs)?;
    Ok(exit(invocation.verdict()))
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
    let options = BakeOptions::default().dry_run(flags.dry_run).wait(wait).account(flags.account);
    // An unknown rule, a rule without `bake` or an unknown account: exit 2, no AWS call made.
    let report = keeper.bake(&rule, &region, &options).await.map_err(bad_input)?;
    print_json(&report)?;
    Ok(exit(Verdict::of_run(report.status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use amikeeper::RunStatus;

    #[test]
    fn every_run_status_has_its_exit_code() {
        let code = |status| exit_code(Verdict::of_run(status));
        assert_eq!(code(RunStatus::Ok), 0);
        assert_eq!(code(RunStatus::Deferred), 0, "the EC2 AMI State Change event finishes a deferred run");
        assert_eq!(code(RunStatus::Ignored), 0);
        assert_eq!(code(RunStatus::Failed), 1);
        assert_eq!(code(RunStatus::Refused), 2);
    }

    #[test]
    fn a_failure_outranks_a_refusal_which_outranks_done() {
        use Verdict::{Done, Failed, Refused};
        let code = |verdicts: &[Verdict]| exit_code(Verdict::worst(verdicts.iter().copied()));
        assert_eq!(Verdict::worst([]), Done);
        assert_eq!(code(&[Done, Done]), 0);
        assert_eq!(code(&[Done, Refused, Done]), 2);
        assert_eq!(code(&[Refused, Failed, Done]), 1);
        assert_eq!(code(&[Failed, Refused]), 1);
    }

    #[test]
    fn the_command_line_is_well_formed() {
        cli_command().debug_assert();
    }
}
