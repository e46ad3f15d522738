//! Pointer kinds: one module per kind of pointer amikeeper moves, each saying everything about
//! its kind through one trait, [`PointerKind`], and each registered with one line in
//! [`pointer_kinds!`](crate::pointer_kinds).
//!
//! A kind says:
//! - its configuration (`[[rules.targets]]` with `kind = "..."`): the type itself, parsed with
//!   serde, unknown fields refused; its own checks ([`PointerKind::validate`]) and the name
//!   templates it uses, each with the [`NameKind`] it renders to;
//! - how it is published: the [`Publisher`] built from a target once an event fills in its names;
//! - how it is rolled back: the pointer named on the command line (`kind:name`), and the
//!   [`RollbackMove`] worked out from where it points now;
//! - where the sweep's in-use scan finds the AMIs pointers of its kind name ([`PointerKind::in_use`],
//!   required: a kind the scan cannot see does not compile);
//! - the IAM actions each job needs for it, and the resources they act on.
//!
//! The registered kinds make one enum ([`TargetConfig`]) through
//! [`pointer_kinds!`](crate::pointer_kinds); everything else (the configuration's checks, the
//! resolver, rollback, the IAM policy, the sweep) goes through the [`Kinds`] trait that macro
//! implements, never through a kind's variant.

pub mod auto_scaling_group;
pub mod found;
pub mod iam;
pub mod launch_template;
pub mod ssm_parameter;
pub mod stack_parameter;
mod value_move;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::Aws;
use crate::error::Result;
use crate::events::AmiEvent;
use crate::model::{ImageId, InstanceRefreshPreferences, Region};
use crate::publish::{PointerNow, Publisher, TargetId};
use crate::template::NameTemplate;
use found::{FindContext, FoundPointer};
use iam::{Job, TargetArns};

pub use crate::names::NameKind;

/// A name template of a target: the field it is written in, and the kind of AWS name it
/// renders to (how it is checked).
#[derive(Debug, Clone, Copy)]
pub struct TargetTemplate<'a> {
    /// The field, e.g. `name`.
    pub field: &'static str,
    /// The template written there.
    pub template: &'a NameTemplate,
    /// What it renders to.
    pub name_kind: NameKind,
}

/// What a kind's own check of a target found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field (`None`: the target as a whole).
    pub field: Option<&'static str>,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl Invalid {
    /// The target as a whole is wrong.
    pub fn target(reason: impl Into<String>) -> Self {
        Self { field: None, reason: reason.into() }
    }

    /// `field` is wrong.
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field: Some(field), reason: reason.into() }
    }
}

/// A name a target could not get for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFailure {
    /// The template, as written.
    pub template: String,
    /// Why.
    pub reason: String,
    /// `true`: the name was made but is not allowed (refused); `false`: the event lacks a value.
    pub refused: bool,
}

/// Renders a target's name templates for one event, each checked for its [`NameKind`].
pub struct Names<'a> {
    render: &'a dyn Fn(&NameTemplate, NameKind) -> std::result::Result<String, NameFailure>,
    event: &'a AmiEvent,
}

impl<'a> Names<'a> {
    /// Names rendered by `render` for `event`.
    pub fn new(
        render: &'a dyn Fn(&NameTemplate, NameKind) -> std::result::Result<String, NameFailure>,
        event: &'a AmiEvent,
    ) -> Self {
        Self { render, event }
    }

    /// The name `template` makes for this event, checked as a `kind` name.
    pub fn render(&self, template: &NameTemplate, kind: NameKind) -> std::result::Result<String, NameFailure> {
        (self.render)(template, kind)
    }

    /// The event.
    pub fn event(&self) -> &'a AmiEvent {
        self.event
    }
}

/// A listing the sweep's in-use scan reads in full in every region it sweeps, whatever the
/// configuration names: every pointer of a kind that lives there is seen. Each variant is one
/// that `retain::inventory` always reads; a kind whose pointers live elsewhere adds a variant
/// and its reading there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listing {
    /// Every version of every launch template.
    LaunchTemplateVersions,
    /// Every Auto Scaling group (and the launch template version it launches).
    AutoScalingGroups,
    /// Every CloudFormation stack's parameters.
    StackParameters,
}

/// Where the sweep's in-use scan finds the AMIs a target's pointers name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InUse {
    /// A listing the scan always reads.
    Listing(Listing),
    /// An SSM parameter, by its exact name.
    Parameter(String),
    /// The SSM parameters under this path, recursively.
    ParameterPath(String),
    /// The scan cannot find them; the warning says what to configure.
    Unfindable(String),
}

/// A rollback worked out for one pointer, before anything is written.
#[async_trait]
pub trait RollbackMove: Send + Sync {
    /// The AMI the pointer is rolled back to.
    fn image(&self) -> &ImageId;

    /// The AMI the pointer names before the rollback (for a group: the AMI its version launches).
    fn image_before(&self) -> Option<ImageId>;

    /// What is done, what the pointer names before, and what after.
    fn describe(&self) -> (String, String, String);

    /// Writes the move; `Ok(Some(why))` when AWS says nothing changed.
    async fn write(&self, aws: &dyn Aws, region: &Region) -> Result<Option<String>>;
}

/// What planning a rollback works with.
pub struct RollbackContext<'a, K> {
    /// The account.
    pub aws: &'a dyn Aws,
    /// The region of the pointers.
    pub region: &'a Region,
    /// The configuration's targets of this kind.
    pub configured: &'a [&'a K],
    /// The AMI to roll back to; `None`: the one the pointer named before.
    pub to: Option<&'a ImageId>,
}

/// A rollback worked out: the move, or why the pointer cannot be rolled back (`Err`).
pub type Planned = std::result::Result<Box<dyn RollbackMove>, String>;

/// Everything a kind of pointer says. The type is the kind's configuration: one
/// `[[rules.targets]]` entry whose `kind` is [`KIND`](Self::KIND), parsed by serde (give it
/// `#[serde(deny_unknown_fields)]`).
///
/// Register a kind with one line in [`pointer_kinds!`](crate::pointer_kinds).
#[async_trait]
pub trait PointerKind: Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// `kind = "..."` in the configuration, `kind:` on the rollback command line, and the
    /// kind in reports.
    const KIND: &'static str;
    /// What follows `kind:` on the rollback command line, e.g. `NAME`.
    const POINTER_FORM: &'static str;
    /// A pointer named on the rollback command line.
    type Pointer: Clone + fmt::Debug + PartialEq + Eq + Send + Sync;

    /// The target's own deregistration protection switch, if it sets one.
    fn protect(&self) -> Option<bool>;

    /// Whether the target needs an AMI from the event.
    fn needs_image(&self) -> bool {
        true
    }

    /// The instance refresh the target starts after moving a group.
    fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences> {
        None
    }

    /// The name templates the target uses.
    fn templates(&self) -> Vec<TargetTemplate<'_>>;

    /// What the schema alone cannot check (the templates are checked by the configuration).
    fn validate(&self) -> std::result::Result<(), Invalid>;

    /// The publisher for one event, its names rendered by `names`.
    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure>;

    /// Where the sweep's in-use scan finds the AMIs this target's pointers name, in `region`,
    /// for the rule named `rule`. Required: the sweep must never retire an AMI a pointer of a
    /// kind it does not read names.
    fn in_use(&self, rule: &str, region: &Region) -> Vec<InUse>;

    /// The actions handling events needs for this target.
    fn handle_actions(&self) -> Vec<&'static str>;

    /// The actions rolling back a pointer of this kind can need.
    fn rollback_actions() -> &'static [&'static str];

    /// The actions `amikeeper status` needs to find and read this target's pointers
    /// ([`find_pointers`](Self::find_pointers)): by default the reads among
    /// [`handle_actions`](Self::handle_actions) (`Describe*`, `Get*`, `List*`).
    fn status_actions(&self) -> Vec<&'static str> {
        self.handle_actions().into_iter().filter(|action| is_read(action)).collect()
    }

    /// The resources `action` of `job` touches for this target, `None` when it touches none.
    fn iam_resources(&self, job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>>;

    /// What the IAM policy cannot say for this target, for whoever attaches it.
    fn iam_caveat(&self) -> Option<&'static str> {
        None
    }

    /// The pointer written after `kind:` on the rollback command line.
    fn parse_pointer(name: &str) -> Option<Self::Pointer>;

    /// The pointer's name in reports.
    fn pointer_name(pointer: &Self::Pointer) -> String;

    /// Where `pointer` points now, read from AWS: the AMI it names (for a launch template or a
    /// group, the AMI the version it launches names). For rollback and status views.
    async fn read_pointer(aws: &dyn Aws, region: &Region, pointer: &Self::Pointer) -> Result<PointerNow>;

    /// This target's pointers in `ctx`'s account and region, each read: the one its names make
    /// without an event (read directly; missing when it does not exist), or, when a name comes
    /// from an event, every pointer of the kind listed there whose name the target can make.
    /// For `amikeeper status`.
    async fn find_pointers(&self, ctx: &FindContext<'_>) -> Result<Vec<FoundPointer>>;

    /// Works out how to roll `pointer` back (to `ctx.to`, or to the AMI it named before),
    /// reading where it points now.
    async fn plan_rollback(pointer: &Self::Pointer, ctx: &RollbackContext<'_, Self>) -> Result<Planned>;
}

/// What a configured target of any kind says: the object-safe part of [`PointerKind`].
pub trait Target: fmt::Debug + Send + Sync {
    /// The kind, e.g. `ssm_parameter`.
    fn kind(&self) -> &'static str;
    /// See [`PointerKind::protect`].
    fn protect(&self) -> Option<bool>;
    /// See [`PointerKind::needs_image`].
    fn needs_image(&self) -> bool;
    /// See [`PointerKind::instance_refresh`].
    fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences>;
    /// See [`PointerKind::templates`].
    fn templates(&self) -> Vec<TargetTemplate<'_>>;
    /// See [`PointerKind::validate`].
    fn validate(&self) -> std::result::Result<(), Invalid>;
    /// See [`PointerKind::publisher`].
    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure>;
    /// See [`PointerKind::in_use`].
    fn in_use(&self, rule: &str, region: &Region) -> Vec<InUse>;
    /// See [`PointerKind::handle_actions`].
    fn handle_actions(&self) -> Vec<&'static str>;
    /// See [`PointerKind::status_actions`].
    fn status_actions(&self) -> Vec<&'static str>;
    /// See [`PointerKind::iam_resources`].
    fn iam_resources(&self, job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>>;
    /// See [`PointerKind::iam_caveat`].
    fn iam_caveat(&self) -> Option<&'static str>;
    /// See [`PointerKind::find_pointers`].
    fn find_pointers<'a>(&'a self, ctx: &'a FindContext<'a>) -> FindFuture<'a>;
}

impl<K: PointerKind> Target for K {
    fn kind(&self) -> &'static str {
        K::KIND
    }
    fn protect(&self) -> Option<bool> {
        PointerKind::protect(self)
    }
    fn needs_image(&self) -> bool {
        PointerKind::needs_image(self)
    }
    fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences> {
        PointerKind::instance_refresh(self)
    }
    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        PointerKind::templates(self)
    }
    fn validate(&self) -> std::result::Result<(), Invalid> {
        PointerKind::validate(self)
    }
    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure> {
        PointerKind::publisher(self, names)
    }
    fn in_use(&self, rule: &str, region: &Region) -> Vec<InUse> {
        PointerKind::in_use(self, rule, region)
    }
    fn handle_actions(&self) -> Vec<&'static str> {
        PointerKind::handle_actions(self)
    }
    fn status_actions(&self) -> Vec<&'static str> {
        PointerKind::status_actions(self)
    }
    fn iam_resources(&self, job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        PointerKind::iam_resources(self, job, action, arns)
    }
    fn iam_caveat(&self) -> Option<&'static str> {
        PointerKind::iam_caveat(self)
    }
    fn find_pointers<'a>(&'a self, ctx: &'a FindContext<'a>) -> FindFuture<'a> {
        PointerKind::find_pointers(self, ctx)
    }
}

/// Whether an IAM action only reads (`ec2:Describe*`, `ssm:Get*`, `cloudformation:List*`).
pub fn is_read(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, verb)| verb);
    ["Describe", "Get", "List"].iter().any(|read| verb.starts_with(read))
}

/// A future that plans one rollback.
pub type PlanFuture<'a> = Pin<Box<dyn Future<Output = Result<Planned>> + Send + 'a>>;

/// A future that finds a target's pointers.
pub type FindFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<FoundPointer>>> + Send + 'a>>;

/// A future that reads where one pointer points now.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<PointerNow>> + Send + 'a>>;

/// The registered pointer kinds, as one type: an enum [`pointer_kinds!`](crate::pointer_kinds)
/// generates, each value one configured target. The configuration, the resolver, rollback, the
/// IAM policy and the sweep are written against this trait.
pub trait Kinds: Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// A pointer of any registered kind, named on the rollback command line (`kind:name`).
    type Pointer: Clone + fmt::Debug + PartialEq + Eq + Send + Sync + FromStr<Err = BadTarget> + fmt::Display;

    /// The target, whatever its kind.
    fn target(&self) -> &dyn Target;

    /// Every registered kind's rollback actions.
    fn rollback_actions() -> BTreeSet<&'static str>;

    /// The pointer in reports.
    fn pointer_id(pointer: &Self::Pointer) -> TargetId;

    /// Reads where `pointer` points now (see [`PointerKind::read_pointer`]).
    fn read_pointer<'a>(aws: &'a dyn Aws, region: &'a Region, pointer: &'a Self::Pointer) -> ReadFuture<'a>;

    /// Plans the rollback of `pointer`; `targets` are every configured target.
    fn plan_rollback<'a>(
        aws: &'a dyn Aws,
        region: &'a Region,
        pointer: &'a Self::Pointer,
        targets: &'a [&'a Self],
        to: Option<&'a ImageId>,
    ) -> PlanFuture<'a>;
}

/// A rollback target that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a rollback target: use {forms}")]
pub struct BadTarget {
    /// What was given.
    pub text: String,
    /// The forms the registered kinds accept, e.g. `ssm_parameter:NAME or ...`.
    pub forms: String,
}

impl BadTarget {
    /// `text` does not name a pointer of any of `forms` (`(kind, form)` pairs).
    pub fn new(text: &str, forms: &[(&str, &str)]) -> Self {
        let forms: Vec<String> = forms.iter().map(|(kind, form)| format!("{kind}:{form}")).collect();
        let forms = match forms.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => forms.join(""),
        };
        Self { text: text.to_owned(), forms }
    }
}

/// Splits `kind:name` (both trimmed; the name not empty).
pub fn split_pointer(text: &str) -> Option<(&str, &str)> {
    let (kind, name) = text.split_once(':')?;
    let name = name.trim();
    (!name.is_empty()).then_some((kind.trim(), name))
}

/// Registers pointer kinds, one line each: generates the enum of targets (serde `tag = "kind"`,
/// one newtype variant per kind, each holding the kind's configuration), the enum of rollback
/// pointers, and their [`Kinds`] implementation.
///
/// ```ignore
/// amikeeper::pointer_kinds! {
///     /// A pointer to move, as configured.
///     pub enum TargetConfig;
///     /// A pointer to roll back.
///     pub enum RollbackTarget;
///     SsmParameter(ssm_parameter::SsmParameterTarget),
/// }
/// ```
///
/// The crate using it needs `serde` among its dependencies.
#[macro_export]
macro_rules! pointer_kinds {
    (
        $(#[$target_meta:meta])* $vis:vis enum $targets:ident;
        $(#[$pointer_meta:meta])* $pvis:vis enum $pointers:ident;
        $($variant:ident($kind:ty),)+
    ) => {
        $(#[$target_meta])*
        #[derive(Debug, Clone, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        $vis enum $targets {
            $(
                #[doc = concat!("`kind = \"", stringify!($variant), "\"`, see [`", stringify!($kind), "`].")]
                $variant($kind),
            )+
        }

        $(#[$pointer_meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $pvis enum $pointers {
            $(
                #[doc = concat!("A pointer of [`", stringify!($kind), "`].")]
                $variant(<$kind as $crate::kinds::PointerKind>::Pointer),
            )+
        }

        impl $crate::kinds::Kinds for $targets {
            type Pointer = $pointers;

            fn target(&self) -> &dyn $crate::kinds::Target {
                match self {
                    $(Self::$variant(target) => target,)+
                }
            }

            fn rollback_actions() -> ::std::collections::BTreeSet<&'static str> {
                let mut actions = ::std::collections::BTreeSet::new();
                $(actions.extend(<$kind as $crate::kinds::PointerKind>::rollback_actions().iter().copied());)+
                actions
            }

            fn pointer_id(pointer: &$pointers) -> $crate::publish::TargetId {
                match pointer {
                    $($pointers::$variant(pointer) => $crate::publish::TargetId {
                        kind: <$kind as $crate::kinds::PointerKind>::KIND,
                        name: <$kind as $crate::kinds::PointerKind>::pointer_name(pointer),
                    },)+
                }
            }

            fn read_pointer<'a>(
                aws: &'a dyn $crate::backend::Aws,
                region: &'a $crate::model::Region,
                pointer: &'a $pointers,
            ) -> $crate::kinds::ReadFuture<'a> {
                match pointer {
                    $($pointers::$variant(pointer) => {
                        <$kind as $crate::kinds::PointerKind>::read_pointer(aws, region, pointer)
                    })+
                }
            }

            fn plan_rollback<'a>(
                aws: &'a dyn $crate::backend::Aws,
                region: &'a $crate::model::Region,
                pointer: &'a $pointers,
                targets: &'a [&'a Self],
                to: Option<&'a $crate::model::ImageId>,
            ) -> $crate::kinds::PlanFuture<'a> {
                match pointer {
                    $($pointers::$variant(pointer) => Box::pin(async move {
                        let configured: Vec<&$kind> = targets
                            .iter()
                            .filter_map(|target| match target {
                                Self::$variant(target) => Some(target),
                                #[allow(unreachable_patterns)]
                                _ => None,
                            })
                            .collect();
                        let ctx = $crate::kinds::RollbackContext { aws, region, configured: &configured, to };
                        <$kind as $crate::kinds::PointerKind>::plan_rollback(pointer, &ctx).await
                    }),)+
                }
            }
        }

        impl ::std::str::FromStr for $pointers {
            type Err = $crate::kinds::BadTarget;

            fn from_str(text: &str) -> Result<Self, $crate::kinds::BadTarget> {
                let parsed = $crate::kinds::split_pointer(text).and_then(|(kind, name)| match kind {
                    $(<$kind as $crate::kinds::PointerKind>::KIND => {
                        <$kind as $crate::kinds::PointerKind>::parse_pointer(name).map(Self::$variant)
                    })+
                    _ => None,
                });
                parsed.ok_or_else(|| {
                    $crate::kinds::BadTarget::new(
                        text,
                        &[$((
                            <$kind as $crate::kinds::PointerKind>::KIND,
                            <$kind as $crate::kinds::PointerKind>::POINTER_FORM,
                        ),)+],
                    )
                })
            }
        }

        impl ::std::fmt::Display for $pointers {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let id = <$targets as $crate::kinds::Kinds>::pointer_id(self);
                write!(f, "{}:{}", id.kind, id.name)
            }
        }
    };
}

pointer_kinds! {
    /// A pointer to move, as configured: `[[rules.targets]]` with its `kind`.
    pub enum TargetConfig;
    /// A pointer to roll back, as `kind:name` on the command line.
    pub enum RollbackTarget;
    SsmParameter(ssm_parameter::SsmParameterTarget),
    LaunchTemplate(launch_template::LaunchTemplateTarget),
    AutoScalingGroup(auto_scaling_group::AutoScalingGroupTarget),
    StackParameter(stack_parameter::StackParameterTarget),
}

/// Inherent helpers, so that callers need not import [`Kinds`].
impl TargetConfig {
    /// The target's own protection switch, if it sets one.
    pub fn protect(&self) -> Option<bool> {
        self.target().protect()
    }

    /// The instance refresh the target starts after moving a group.
    pub fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences> {
        self.target().instance_refresh()
    }

    /// The target's `kind` as the configuration spells it, e.g. `ssm_parameter`.
    pub fn kind(&self) -> &'static str {
        self.target().kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_written_as_its_kind_and_its_pointers_read_back() {
        let config = crate::Config::from_toml(
            "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n\
             [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n\
             [[rules.targets]]\nkind = \"launch_template\"\nid = \"lt-0abc\"\n\
             [[rules.targets]]\nkind = \"auto_scaling_group\"\nname = \"web-asg\"\n\
             [[rules.targets]]\nkind = \"stack_parameter\"\nstack = \"web\"\n",
        )
        .unwrap();
        let kinds: Vec<&str> = config.rules[0].targets.iter().map(TargetConfig::kind).collect();
        assert_eq!(kinds, ["ssm_parameter", "launch_template", "auto_scaling_group", "stack_parameter"]);
        for target in &config.rules[0].targets {
            assert_eq!(serde_json::to_value(target).unwrap()["kind"], target.kind());
        }
        for text in ["ssm_parameter:/ami/web", "launch_template:lt-0abc", "auto_scaling_group:web-asg"] {
            assert_eq!(text.parse::<RollbackTarget>().unwrap().to_string(), text);
        }
        let stack: RollbackTarget = "stack_parameter:web".parse().unwrap();
        assert_eq!(stack.to_string(), "stack_parameter:web/ImageId");
    }
}
