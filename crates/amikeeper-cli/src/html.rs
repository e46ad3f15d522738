//! `sweep --format html`: the sweep's report as one self-contained HTML page
//! (`amikeeper::html`) instead of JSON.

use std::path::PathBuf;

use amikeeper::html::{Prices, SweepPage};
use amikeeper::keeper::FleetReport;
use amikeeper::SweepReport;
use clap::{Args, ValueEnum};

use crate::{aws_failure, print_json, Failure};

/// How `sweep` prints its report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum SweepFormat {
    /// The report as JSON (an array of reports with --fleet).
    #[default]
    Json,
    /// One self-contained HTML page: each group's AMIs on a time line with the reasons, and
    /// what the plan frees (GiB of snapshots, dollars per month).
    Html,
}

/// The output flags of `sweep`.
#[derive(Args, Clone, Debug)]
pub(crate) struct SweepOutput {
    /// json, or html: one page that loads nothing from the network (open it from a file or S3).
    #[arg(long, value_enum, default_value_t = SweepFormat::Json)]
    format: SweepFormat,
    /// With --format html: EBS snapshot prices per region (TOML, the form of the table shipped
    /// in crates/amikeeper/src/html/snapshot_prices.toml) instead of the shipped table.
    #[arg(long)]
    prices: Option<PathBuf>,
}

/// Prints sweep reports in the chosen format.
pub(crate) enum Printer {
    Json,
    Html(Prices),
}

impl SweepOutput {
    /// The printer, with its price table read (an unreadable one is bad input).
    pub(crate) fn printer(&self) -> Result<Printer, String> {
        match (self.format, &self.prices) {
            (SweepFormat::Json, Some(_)) => Err("--prices needs --format html".to_owned()),
            (SweepFormat::Json, None) => Ok(Printer::Json),
            (SweepFormat::Html, None) => Ok(Printer::Html(Prices::shipped())),
            (SweepFormat::Html, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(Printer::Html(Prices::from_toml(&text)?))
            }
        }
    }
}

impl Printer {
    /// Prints the report of one region.
    pub(crate) fn one(&self, report: &SweepReport) -> Result<(), Failure> {
        match self {
            Self::Json => print_json(report),
            Self::Html(prices) => print_page(&SweepPage::new().sweep(None, report, prices), prices),
        }
    }

    /// Prints the reports of a fleet: each account and region, and each that could not run.
    pub(crate) fn fleet(&self, reports: &[FleetReport]) -> Result<(), Failure> {
        let Self::Html(prices) = self else { return print_json(reports) };
        let mut page = SweepPage::new();
        for target in reports {
            let account = target.role_arn.as_deref().map(account_of);
            page = match (&target.report, &target.error) {
                (Some(report), _) => page.sweep(account, report, prices),
                (None, error) => page.failed(
                    account,
                    target.region.as_str(),
                    error.clone().unwrap_or_else(|| "the sweep did not run".to_owned()),
                ),
            };
        }
        print_page(&page, prices)
    }
}

fn print_page(page: &SweepPage, prices: &Prices) -> Result<(), Failure> {
    let text = page.render(prices).map_err(aws_failure)?;
    println!("{text}");
    Ok(())
}

/// The account of a role ARN (`arn:aws:iam::111122223333:role/x`), or the ARN when it has none.
fn account_of(role_arn: &str) -> &str {
    role_arn.split(':').nth(4).filter(|account| !account.is_empty()).unwrap_or(role_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_arn_titles_its_account() {
        assert_eq!(account_of("arn:aws:iam::444455556666:role/amikeeper"), "444455556666");
        assert_eq!(account_of("not-an-arn"), "not-an-arn");
    }
}
