//! `amikeeper revoke`: take a bad AMI back everywhere (see `amikeeper::revoke`). Prints the
//! report as JSON; exits 0 done, 2 refused (nothing written), 1 an AWS call failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use amikeeper::model::{ImageId, Region};
use amikeeper::revoke::{RevokeOptions, RevokeStatus};
use amikeeper::{Config, Keeper, Verdict};
use clap::Args;

use crate::{bad_input, exit, load_aws, print_json, AwsArgs, Failure};

/// `amikeeper revoke`'s arguments.
#[derive(Args)]
pub(crate) struct RevokeArgs {
    /// The configuration file (TOML, or JSON if it ends in .json).
    #[arg(long, short)]
    config: PathBuf,
    /// Why: the value of the AMI's amikeeper:rejected tag (at most 256 characters are kept).
    #[arg(long)]
    reason: String,
    /// Work it out and check it, but write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also disable the AMI and its copies (DisableImage), whatever [revoke] disable says.
    #[arg(long)]
    disable: bool,
    #[command(flatten)]
    aws: AwsArgs,
    /// The AMI to revoke, in the home region (--region).
    image_id: String,
}

/// Runs `amikeeper revoke`.
pub(crate) async fn revoke(args: RevokeArgs) -> Result<ExitCode, Failure> {
    let config = Config::from_file(&args.config).map_err(bad_input)?;
    let image_id: ImageId =
        args.image_id.parse().map_err(|_| bad_input(format!("`{}` is not an AMI id", args.image_id)))?;
    if args.reason.trim().is_empty() {
        return Err(bad_input("--reason must say why (it is the AMI's amikeeper:rejected tag)"));
    }
    let aws = load_aws(&args.aws).await;
    let Some(region) = aws.default_region().map(Region::from) else {
        return Err(bad_input("no region: pass --region, or set AWS_REGION or a profile's region"));
    };
    let keeper = Keeper::new(config, Arc::new(aws));
    let options =
        RevokeOptions::default().reason(args.reason).dry_run(args.dry_run).disable(args.disable.then_some(true));
    let report = keeper.revoke(&region, &image_id, &options).await;
    print_json(&report)?;
    Ok(exit(match report.status {
        RevokeStatus::Ok => Verdict::Done,
        RevokeStatus::Refused => Verdict::Refused,
        _ => Verdict::Failed,
    }))
}
