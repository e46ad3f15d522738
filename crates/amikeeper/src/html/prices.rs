//! EBS snapshot prices per region, for the estimate of what a sweep saves.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::Date;

use crate::model::Region;

/// The table shipped with the crate (`snapshot_prices.toml` beside this file).
const SHIPPED: &str = include_str!("snapshot_prices.toml");

/// One region's EBS snapshot storage prices, in US dollars per GB-month.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrice {
    /// The standard tier (billed incrementally).
    pub standard: f64,
    /// The archive tier (full snapshots).
    pub archive: f64,
}

/// EBS snapshot prices by region, with the date they were read and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    /// The day the prices were read.
    pub read_on: Date,
    /// Where they were read.
    pub source: String,
    /// The prices of each region known; other regions' are unknown.
    pub regions: BTreeMap<Region, RegionPrice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    read_on: String,
    source: String,
    regions: BTreeMap<String, RegionPrice>,
}

impl Prices {
    /// The table shipped with the crate.
    pub fn shipped() -> Self {
        Self::from_toml(SHIPPED).expect("the shipped price table is valid (tested)")
    }

    /// A table in the shipped table's form: `read_on = "YYYY-MM-DD"`, `source = "..."` and one
    /// `[regions.<region>]` with `standard` and `archive` (dollars per GB-month) per region.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: PriceFile = toml::from_str(text).map_err(|e| format!("price table: {e}"))?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let read_on = Date::parse(&file.read_on, format)
            .map_err(|e| format!("price table: read_on `{}` is not a date (YYYY-MM-DD): {e}", file.read_on))?;
        let mut regions = BTreeMap::new();
        for (name, price) in file.regions {
            let region: Region = name.parse().map_err(|e| format!("price table: region `{name}`: {e}"))?;
            for (tier, value) in [("standard", price.standard), ("archive", price.archive)] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(format!("price table: {name}'s {tier} price {value} is not a price"));
                }
            }
            regions.insert(region, price);
        }
        Ok(Self { read_on, source: file.source, regions })
    }

    /// The prices of `region`, when known.
    pub fn of(&self, region: &Region) -> Option<RegionPrice> {
        self.regions.get(region).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_loads_and_knows_us_east_1_only_from_its_source() {
        let prices = Prices::shipped();
        let virginia = prices.of(&Region::new("us-east-1")).expect("us-east-1 is in the table");
        assert_eq!(virginia, RegionPrice { standard: 0.05, archive: 0.0125 });
        assert_eq!(prices.of(&Region::new("eu-west-1")), None, "no price is guessed");
        assert_eq!(prices.read_on.to_string(), "2026-12-05");
        assert!(prices.source.contains("Amazon EBS"), "{}", prices.source);
    }

    #[test]
    fn a_table_with_a_bad_date_region_or_price_is_refused() {
        let table = |read_on: &str, region: &str, standard: &str| {
            format!(
                "read_on = \"{read_on}\"\nsource = \"s\"\n[regions.{region}]\nstandard = {standard}\narchive = 0.01\n"
            )
        };
        assert!(Prices::from_toml(&table("2026-01-02", "eu-west-1", "0.05")).is_ok());
        let errors = [
            Prices::from_toml(&table("January", "eu-west-1", "0.05")).unwrap_err(),
            Prices::from_toml(&table("2026-01-02", "\"eu west\"", "0.05")).unwrap_err(),
            Prices::from_toml(&table("2026-01-02", "eu-west-1", "-1.0")).unwrap_err(),
        ];
        assert!(errors[0].contains("read_on `January`"), "{}", errors[0]);
        assert!(errors[1].contains("region `eu west`"), "{}", errors[1]);
        assert!(errors[2].contains("standard price -1"), "{}", errors[2]);
    }
}
