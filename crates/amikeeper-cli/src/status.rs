//! `amikeeper status`: every pointer the configuration manages, read back, with its findings
//! (see `amikeeper::status`). A table on a terminal, JSON otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use amikeeper::model::Region;
use amikeeper::status::{StatusReport, StatusVerdict};
use amikeeper::{Config, Keeper, StatusOptions};
use clap::{Args, ValueEnum};

use crate::{aws_failure, bad_input, load_aws, print_json, AwsArgs, Failure};

/// `amikeeper status`'s arguments.
#[derive(Args)]
pub(crate) struct StatusArgs {
    /// The configuration file (TOML, or JSON if it ends in .json).
    #[arg(long, short)]
    config: PathBuf,
    /// Also read every account and region of the configuration's [[fleet]] (each role assumed).
    #[arg(long)]
    fleet: bool,
    /// Read only this region (of the home region, the copy_to regions and the fleet's).
    #[arg(long)]
    region: Option<String>,
    /// The home region, where the rules publish first (default: AWS_REGION or the profile's
    /// region, else --region).
    #[arg(long, env = "AWS_REGION")]
    home_region: Option<String>,
    /// The account amikeeper runs in, for the report; needed only when the configuration lists
    /// several accounts.
    #[arg(long)]
    account: Option<String>,
    /// table (the default on a terminal), json (the default otherwise) or html.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Named profile from ~/.aws/config.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator); AWS_ENDPOINT_URL works too.
    #[arg(long)]
    endpoint_url: Option<String>,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line per pointer, then the findings and errors.
    Table,
    /// The report as JSON (`amikeeper::status::StatusReport`).
    Json,
    /// One self-contained HTML page.
    Html,
}

/// The exit code of a report ([`crate::EXIT_CODES`]): 0 nothing found, 3 findings, 1 a read
/// failed (whatever was found).
pub(crate) fn exit_code(verdict: StatusVerdict) -> u8 {
    match verdict {
        StatusVerdict::Ok => 0,
        StatusVerdict::Findings => 3,
        StatusVerdict::Failed => 1,
    }
}

/// Runs `amikeeper status`.
pub(crate) async fn status(args: StatusArgs) -> Result<ExitCode, Failure> {
    let format = args.format.unwrap_or(match std::io::stdout().is_terminal() {
        true => Format::Table,
        false => Format::Json,
    });
    let only = args.region.as_deref().map(str::parse::<Region>).transpose().map_err(bad_input)?;
    let config = Config::from_file(&args.config).map_err(bad_input)?;
    if args.fleet && config.fleet.is_empty() {
        return Err(bad_input("--fleet needs [[fleet]] entries (role_arn, regions) in the configuration"));
    }
    if let Some(account) = &args.account {
        if !config.allows_account(account) {
            return Err(bad_input(format!("--account {account} is not one of the configuration's accounts")));
        }
    }
    let aws_args = AwsArgs {
        region: args.home_region.clone().or_else(|| args.region.clone()),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let aws = load_aws(&aws_args).await;
    let Some(home) = aws.default_region().map(Region::from) else {
        return Err(bad_input(
            "no home region: pass --home-region or --region, or set AWS_REGION or a profile's region",
        ));
    };
    let keeper = Keeper::new(config, Arc::new(aws));
    let options = StatusOptions::default().fleet(args.fleet).region(only).account(args.account);
    let report = keeper.status(&home, &options).await;
    match format {
        Format::Json => print_json(&report)?,
        Format::Html => println!("{}", amikeeper::html::render_status(&report).map_err(aws_failure)?),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(ExitCode::from(exit_code(report.verdict())))
}

/// The report as text: a table of the pointers, then each finding and each error.
fn table(report: &StatusReport) -> String {
    let mut pointers = comfy_table::Table::new();
    pointers.load_style(comfy_table::presets::UTF8_BORDERS_ONLY).set_header([
        "account",
        "region",
        "rule",
        "kind",
        "pointer",
        "found",
        "ami",
        "ami name",
        "state",
        "age (days)",
        "protected",
        "moved",
        "stack",
    ]);
    let or_dash = |text: Option<String>| text.unwrap_or_else(|| "-".into());
    for p in &report.pointers {
        let image = p.image.as_ref();
        pointers.add_row([
            p.account.clone(),
            p.region.to_string(),
            p.rule.clone(),
            p.kind.to_owned(),
            p.name.clone(),
            p.found_by.to_string(),
            or_dash(p.image_id.as_ref().map(ToString::to_string)),
            or_dash(image.map(|i| i.name.clone())),
            or_dash(image.map(|i| i.state.to_string()).or_else(|| (!p.exists).then(|| "missing".into()))),
            or_dash(image.and_then(|i| i.age_days).map(|d| d.to_string())),
            or_dash(image.map(|i| if i.protected { "yes" } else { "no" }.into())),
            or_dash(p.last_moved.map(|t| t.date().to_string())),
            or_dash(p.stack.clone()),
        ]);
    }
    let mut text = format!("{pointers}\n");
    for f in &report.findings {
        text.push_str(&format!(
            "{}: {} {} ({} {}, rule {}): {}\n",
            f.kind, f.pointer_kind, f.pointer, f.account, f.region, f.rule, f.reason
        ));
    }
    for e in &report.errors {
        text.push_str(&format!("error: {} ({} {}): {}\n", e.what, e.account, e.region, e.error));
    }
    let summary = match report.verdict() {
        StatusVerdict::Ok => "no findings".to_owned(),
        StatusVerdict::Findings => format!("{} finding(s)", report.findings.len()),
        StatusVerdict::Failed => format!("{} read(s) failed: the report is incomplete", report.errors.len()),
    };
    text.push_str(&format!("{} pointer(s), {summary}, {} AWS call(s)\n", report.pointers.len(), report.aws_calls));
    text
}
