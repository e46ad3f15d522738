//! The normalised event: [`EventKind`] and [`AmiEvent`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ami_state::ImageStateChanged;
use super::autoscaling::AsgCreated;
use super::backup::{BackupCopyJob, BackupJob};
use super::ebs::SnapshotCreated;
use super::image_calls::{ImageCopied, ImageCreated, ImageRegistered};
use super::scheduled::Scheduled;
use crate::model::{AccountId, ImageId, Region};

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalised event: where and when it happened, and what, as the [`EventDetail`] of its
/// kind.
///
/// `region` and `account` say where the work happens: for a copy (CloudTrail `CopyImage`,
/// AWS Backup copy job) that is the destination, and the detail names the origin.
///
/// Its JSON is flat: `kind`, the envelope fields and the detail's fields, each left out when the
/// event does not carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct AmiEvent {
    /// The region the AMI (or group, or snapshot) lives in.
    pub region: Region,
    /// The account the event came from.
    pub account: AccountId,
    /// When the event happened.
    pub time: OffsetDateTime,
    /// The EventBridge event id (or CloudTrail event id when there is no envelope id).
    pub event_id: String,
    /// What happened, with the fields of that kind of event.
    pub detail: EventDetail,
}

/// What a detail type says about itself: its kind, the fields it carries (for the accessors of
/// [`AmiEvent`] and its JSON), and how it reads back from that JSON. Each source module
/// implements it beside its detail types.
pub(super) trait Detail: Sized {
    /// The fields it carries, borrowed; the others stay `None`.
    fn fields(&self) -> Fields<'_>;

    /// Reads it from an event's JSON; `Err` names a field it needs that is missing.
    fn from_wire(wire: &Wire) -> Result<Self, String>;
}

/// A detail type and its [`Detail`] implementation, from its fields: `required` ones are always
/// there, `optional` ones may be absent. Each field's name is its name in the event's JSON.
macro_rules! detail {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $presence:ident $field:ident: $type:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: detail!(@type $presence $type),)*
        }

        impl super::event::Detail for $name {
            fn fields(&self) -> super::event::Fields<'_> {
                use super::event::Borrowed;
                super::event::Fields { $($field: detail!(@borrow $presence self.$field),)* ..Default::default() }
            }

            fn from_wire(wire: &super::event::Wire) -> Result<Self, String> {
                Ok(Self { $($field: detail!(@read $presence wire.$field),)* })
            }
        }
    };
    (@type required $type:ty) => { $type };
    (@type optional $type:ty) => { Option<$type> };
    (@borrow required $self:ident.$field:ident) => { Some($self.$field.borrowed()) };
    (@borrow optional $self:ident.$field:ident) => { $self.$field.as_ref().map(Borrowed::borrowed) };
    (@read required $wire:ident.$field:ident) => { $wire.need(&$wire.$field, stringify!($field))? };
    (@read optional $wire:ident.$field:ident) => { $wire.$field.clone() };
}

/// How a detail's field is lent to [`Fields`]: a `String` as `&str`, the others as themselves.
pub(super) trait Borrowed {
    /// What the field is lent as.
    type Target: ?Sized;

    /// The field, borrowed.
    fn borrowed(&self) -> &Self::Target;
}

impl Borrowed for String {
    type Target = str;

    fn borrowed(&self) -> &str {
        self
    }
}

macro_rules! borrowed_as_itself {
    ($($type:ty),*) => {
        $(impl Borrowed for $type {
            type Target = $type;

            fn borrowed(&self) -> &$type {
                self
            }
        })*
    };
}

borrowed_as_itself!(ImageId, Region, AccountId);

/// [`EventKind`] and [`EventDetail`], with one variant each per kind: its name in JSON and
/// configuration, and whether it is about one AMI. Each kind's detail type has the kind's name.
macro_rules! kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:literal, about_an_image: $image:literal;)*) => {
        /// What happened, normalised across the AWS services that report it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventKind {
            $($(#[$doc])* #[serde(rename = $name)] $kind,)*
        }

        impl EventKind {
            /// Every kind, in documentation order.
            pub const ALL: [EventKind; [$($name),*].len()] = [$(Self::$kind),*];

            /// The snake_case name used in JSON and configuration.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)*
                }
            }

            /// Whether the event is about one AMI (it carries an `image_id`).
            pub fn is_image_event(&self) -> bool {
                match self {
                    $(Self::$kind => $image,)*
                }
            }
        }

        /// What happened: one variant per [`EventKind`], each with the fields that kind carries.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum EventDetail {
            $($(#[$doc])* $kind($kind),)*
        }

        $(impl From<$kind> for EventDetail {
            fn from(detail: $kind) -> Self {
                Self::$kind(detail)
            }
        })*

        impl EventDetail {
            /// The kind of event.
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Self::$kind(_) => EventKind::$kind,)*
                }
            }

            fn fields(&self) -> Fields<'_> {
                match self {
                    $(Self::$kind(detail) => detail.fields(),)*
                }
            }

            fn from_wire(wire: &Wire) -> Result<Self, String> {
                match wire.kind {
                    $(EventKind::$kind => $kind::from_wire(wire).map(Self::$kind),)*
                }
            }
        }
    };
}

kinds! {
    /// CloudTrail `CreateImage` (EC2, AWS Backup, DLM).
    ImageCreated = "image_created", about_an_image: true;
    /// CloudTrail `CopyImage` (the event of the destination region).
    ImageCopied = "image_copied", about_an_image: true;
    /// CloudTrail `RegisterImage`.
    ImageRegistered = "image_registered", about_an_image: true;
    /// `EC2 AMI State Change` (e.g. pending to available).
    ImageStateChanged = "image_state_changed", about_an_image: true;
    /// AWS Backup `Backup Job State Change`.
    BackupJob = "backup_job", about_an_image: true;
    /// AWS Backup `Copy Job State Change`.
    BackupCopyJob = "backup_copy_job", about_an_image: true;
    /// CloudTrail `CreateAutoScalingGroup`.
    AsgCreated = "asg_created", about_an_image: false;
    /// `EBS Snapshot Notification` (`createSnapshot`, `copySnapshot`), and `EBS Multi-Volume
    /// Snapshots Completion Status` (`createSnapshots`).
    SnapshotCreated = "snapshot_created", about_an_image: false;
    /// EventBridge `Scheduled Event`.
    Scheduled = "scheduled", about_an_image: false;
}

/// The fields a detail carries, borrowed: what the accessors of [`AmiEvent`] and its JSON read.
#[derive(Default)]
pub(super) struct Fields<'a> {
    pub(super) image_id: Option<&'a ImageId>,
    pub(super) state: Option<&'a str>,
    pub(super) instance_id: Option<&'a str>,
    pub(super) image_name: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) source_image_id: Option<&'a ImageId>,
    pub(super) source_region: Option<&'a Region>,
    pub(super) source_account: Option<&'a AccountId>,
    pub(super) asg_name: Option<&'a str>,
    pub(super) launch_template_id: Option<&'a str>,
    pub(super) launch_template_name: Option<&'a str>,
    pub(super) launch_template_version: Option<&'a str>,
    pub(super) snapshot_id: Option<&'a str>,
    pub(super) volume_id: Option<&'a str>,
    pub(super) rule_name: Option<&'a str>,
}

/// Accessors for the fields of an event's detail: `None` when its kind does not carry the field.
macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident: $type:ty;)*) => {
        $($(#[$doc])*
        pub fn $name(&self) -> Option<&$type> {
            self.detail.fields().$name
        })*
    };
}

impl AmiEvent {
    /// An event with the envelope's fields and a detail.
    pub fn new(
        region: Region,
        account: AccountId,
        time: OffsetDateTime,
        event_id: String,
        detail: impl Into<EventDetail>,
    ) -> Self {
        Self { region, account, time, event_id, detail: detail.into() }
    }

    /// What happened.
    pub fn kind(&self) -> EventKind {
        self.detail.kind()
    }

    accessors! {
        /// The AMI the event is about.
        image_id: ImageId;
        /// A state the event reports: the AMI state, the backup job state, the snapshot result.
        state: str;
        /// The instance the AMI was made from.
        instance_id: str;
        /// The AMI name given in the request.
        image_name: str;
        /// The AMI description given in the request.
        description: str;
        /// For copies: the image copied from.
        source_image_id: ImageId;
        /// For copies: the region copied from.
        source_region: Region;
        /// For AWS Backup copy jobs: the account the copy job ran in, which must be allowed as
        /// well as the destination's.
        source_account: AccountId;
        /// The Auto Scaling group (`asg_created`).
        asg_name: str;
        /// The launch template id (`asg_created`).
        launch_template_id: str;
        /// The launch template name (`asg_created`).
        launch_template_name: str;
        /// The launch template version (`asg_created`).
        launch_template_version: str;
        /// The snapshot (`snapshot_created`).
        snapshot_id: str;
        /// The volume the snapshot was taken of (`snapshot_created`).
        volume_id: str;
        /// The EventBridge rule that fired (`scheduled`).
        rule_name: str;
    }
}

/// The JSON form of an [`AmiEvent`]: flat, its fields in this order, `None` left out. The CLI
/// prints it and Python receives it, so it does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Wire {
    pub(super) kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) image_id: Option<ImageId>,
    pub(super) region: Region,
    pub(super) account: AccountId,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) time: OffsetDateTime,
    pub(super) event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) image_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) source_image_id: Option<ImageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) source_region: Option<Region>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) source_account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) asg_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) launch_template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) launch_template_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) launch_template_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) volume_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rule_name: Option<String>,
}

impl Wire {
    /// A field the kind needs.
    pub(super) fn need<T: Clone>(&self, value: &Option<T>, name: &str) -> Result<T, String> {
        value.clone().ok_or_else(|| format!("`{}` needs `{name}`", self.kind))
    }
}

impl From<AmiEvent> for Wire {
    fn from(event: AmiEvent) -> Self {
        let f = event.detail.fields();
        let owned = |value: Option<&str>| value.map(str::to_owned);
        Self {
            kind: event.kind(),
            image_id: f.image_id.cloned(),
            region: event.region.clone(),
            account: event.account.clone(),
            time: event.time,
            event_id: event.event_id.clone(),
            state: owned(f.state),
            instance_id: owned(f.instance_id),
            image_name: owned(f.image_name),
            description: owned(f.description),
            source_image_id: f.source_image_id.cloned(),
            source_region: f.source_region.cloned(),
            source_account: f.source_account.cloned(),
            asg_name: owned(f.asg_name),
            launch_template_id: owned(f.launch_template_id),
            launch_template_name: owned(f.launch_template_name),
            launch_template_version: owned(f.launch_template_version),
            snapshot_id: owned(f.snapshot_id),
            volume_id: owned(f.volume_id),
            rule_name: owned(f.rule_name),
        }
    }
}

impl TryFrom<Wire> for AmiEvent {
    type Error = String;

    /// The event the JSON describes; refused when a field its kind needs is missing, or when it
    /// has a field its kind does not carry.
    fn try_from(wire: Wire) -> Result<Self, String> {
        let detail = EventDetail::from_wire(&wire)?;
        let event = AmiEvent::new(wire.region.clone(), wire.account.clone(), wire.time, wire.event_id.clone(), detail);
        // Whatever the detail did not take is a field this kind does not carry.
        let (got, back) = (to_map(&wire), to_map(&Wire::from(event.clone())));
        let extra: Vec<&String> = got.keys().filter(|key| got.get(*key) != back.get(*key)).collect();
        if let Some(field) = extra.first() {
            return Err(format!("`{}` events have no field `{field}`", wire.kind));
        }
        Ok(event)
    }
}

fn to_map(wire: &Wire) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(wire) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_event() -> AmiEvent {
        AmiEvent::new(
            Region::new("ap-northeast-1"),
            AccountId::new("111122223333"),
            time::macros::datetime!(2024-05-01 05:10:22 UTC),
            "6f1c3b0e-2a8d-4b7e-9c51-3e0d4a7b2f10".into(),
            ImageCreated {
                image_id: ImageId::new("ami-0123456789abcdef0"),
                instance_id: None,
                image_name: None,
                description: None,
            },
        )
    }

    #[test]
    fn serialises_snake_case_kind_and_omits_none_fields() {
        let event = minimal_event();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "image_created",
                "image_id": "ami-0123456789abcdef0",
                "region": "ap-northeast-1",
                "account": "111122223333",
                "time": "2024-05-01T05:10:22Z",
                "event_id": "6f1c3b0e-2a8d-4b7e-9c51-3e0d4a7b2f10"
            })
        );
        let back: AmiEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);

        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn json_of_another_kind_or_lacking_a_field_is_refused() {
        let mut json = serde_json::to_value(minimal_event()).unwrap();
        json["rule_name"] = "nightly".into();
        let error = serde_json::from_value::<AmiEvent>(json.clone()).unwrap_err().to_string();
        assert_eq!(error, "`image_created` events have no field `rule_name`");
        json.as_object_mut().unwrap().remove("image_id");
        let error = serde_json::from_value::<AmiEvent>(json).unwrap_err().to_string();
        assert_eq!(error, "`image_created` needs `image_id`");
    }
}
