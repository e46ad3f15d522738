//! `[notify]`: the EventBridge bus amikeeper puts what it did on (see `docs/EVENTS.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{AccountId, Region};

/// `[notify]`: every pointer moved, rolled back, refused or failed, and every applied sweep's
/// summary, is put on an EventBridge bus (source `amikeeper`). Failing to notify never fails a
/// run; the run's report says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The bus: `default`, a custom bus's name (in the region of each run), or a bus ARN
    /// (`arn:aws:events:eu-west-1:111122223333:event-bus/ops`: that region and account).
    pub event_bus: EventBus,
}

/// An EventBridge event bus, as `[notify] event_bus` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EventBus {
    /// A bus of this name in the region each run works in (`default` is in every region).
    Named(String),
    /// The bus this ARN names: events go to its region, whatever region a run works in.
    Arn {
        /// The ARN, as written.
        arn: String,
        /// Its partition (`aws`, `aws-cn`, ...).
        partition: String,
        /// Its region.
        region: Region,
        /// Its account.
        account: AccountId,
        /// The bus's name.
        name: String,
    },
}

/// Why an `event_bus` is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an event bus: use `default`, a bus name (letters, digits, `.`, `-`, `_` and `/`, at most \
     256 characters) or a bus ARN such as arn:aws:events:eu-west-1:111122223333:event-bus/ops"
)]
pub struct BadEventBus(String);

/// EventBridge's rule for bus names (`CreateEventBus`): 1 to 256 of `[/\.\-_A-Za-z0-9]`.
fn valid_name(name: &str) -> bool {
    (1..=256).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/.-_".contains(&b))
}

impl EventBus {
    /// What `PutEvents` names the bus by (`EventBusName`): the name, or the ARN.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Named(name) => name,
            Self::Arn { arn, .. } => arn,
        }
    }

    /// The region events are put in: the ARN's, else `run_region` (the run's).
    pub fn region<'a>(&'a self, run_region: &'a Region) -> &'a Region {
        match self {
            Self::Named(_) => run_region,
            Self::Arn { region, .. } => region,
        }
    }

    /// The bus's ARN pattern in `partition` for `account` in any region (`*`); an ARN as it is.
    pub fn arn_pattern(&self, partition: &str, account: &str) -> String {
        match self {
            Self::Named(name) => format!("arn:{partition}:events:*:{account}:event-bus/{name}"),
            Self::Arn { arn, .. } => arn.clone(),
        }
    }
}

impl std::str::FromStr for EventBus {
    type Err = BadEventBus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadEventBus(text.to_owned());
        let Some(rest) = text.strip_prefix("arn:") else {
            return valid_name(text).then(|| Self::Named(text.to_owned())).ok_or_else(bad);
        };
        let [partition, "events", region, account, resource] = rest.splitn(5, ':').collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        let name = resource.strip_prefix("event-bus/").filter(|name| valid_name(name)).ok_or_else(bad)?;
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-eusc") {
            return Err(bad());
        }
        Ok(Self::Arn {
            arn: text.to_owned(),
            partition: partition.to_owned(),
            region: region.parse().map_err(|_| bad())?,
            account: account.parse().map_err(|_| bad())?,
            name: name.to_owned(),
        })
    }
}

impl TryFrom<String> for EventBus {
    type Error = BadEventBus;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<EventBus> for String {
    fn from(bus: EventBus) -> Self {
        bus.as_str().to_owned()
    }
}

impl fmt::Display for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BASE: &str = "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\n\
                        kind = \"ssm_parameter\"\nname = \"/ami/web\"\n";

    #[test]
    fn a_bus_is_a_name_or_an_events_bus_arn() {
        let named: EventBus = "default".parse().unwrap();
        assert_eq!(named, EventBus::Named("default".into()));
        let run = Region::from("eu-west-1");
        assert_eq!(named.region(&run), &run);
        assert_eq!(named.arn_pattern("aws", "111122223333"), "arn:aws:events:*:111122223333:event-bus/default");

        let arn = "arn:aws:events:us-east-1:444455556666:event-bus/ops.alerts";
        let bus: EventBus = arn.parse().unwrap();
        assert_eq!(bus.region(&run).as_str(), "us-east-1");
        assert_eq!((bus.as_str(), bus.arn_pattern("aws", "111122223333")), (arn, arn.to_owned()));
        assert!(
            matches!(&bus, EventBus::Arn { account, name, .. } if account.as_str() == "444455556666" && name == "ops.alerts")
        );

        for bad in [
            "",
            "has space",
            &"x".repeat(257),
            "arn:aws:sns:us-east-1:444455556666:event-bus/ops",
            "arn:aws:events:us-east-1:4444:event-bus/ops",
            "arn:aws:events:nowhere:444455556666:event-bus/ops",
            "arn:aws:events:us-east-1:444455556666:rule/ops",
            "arn:aws:events:us-east-1:444455556666:event-bus/",
            "arn:nope:events:us-east-1:444455556666:event-bus/ops",
        ] {
            assert!(bad.parse::<EventBus>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_section_is_optional_checked_and_closed() {
        assert_eq!(Config::from_toml(BASE).unwrap().notify, None);
        let config = Config::from_toml(&format!("{BASE}[notify]\nevent_bus = \"default\"\n")).unwrap();
        assert_eq!(config.notify.unwrap().event_bus.as_str(), "default");

        let bad = Config::from_toml(&format!("{BASE}[notify]\nevent_bus = \"arn:aws:sqs:x\"\n")).unwrap_err();
        assert!(bad.to_string().contains("is not an event bus"), "{bad}");
        let unknown = Config::from_toml(&format!("{BASE}[notify]\nevent_bus = \"default\"\ntopic = \"x\"\n"));
        assert!(unknown.unwrap_err().to_string().contains("unknown field `topic`"));
        assert!(Config::from_toml(&format!("{BASE}[notify]\n")).is_err(), "event_bus is required");

        // JSON reads the same, and writes the bus back as it was written.
        let json = r#"{"accounts":["111122223333"],"rules":[{"name":"web","targets":[{"kind":"ssm_parameter","name":"/a"}]}],
                       "notify":{"event_bus":"arn:aws:events:eu-west-1:111122223333:event-bus/ops"}}"#;
        let config = Config::from_json(json).unwrap();
        let written = serde_json::to_value(&config).unwrap();
        assert_eq!(written["notify"]["event_bus"], "arn:aws:events:eu-west-1:111122223333:event-bus/ops");
    }
}
