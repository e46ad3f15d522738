//! What `amikeeper status` reads of a target's pointers in one account and region
//! ([`PointerKind::find_pointers`](super::PointerKind::find_pointers)): each pointer, how it
//! was found, the AMI it names, when it last moved and the stack that owns it.

use time::OffsetDateTime;

use crate::backend::{Aws, PARAMETERS_PER_CALL};
use crate::error::Result;
use crate::model::{ImageId, Parameter, Region, Tags, STACK_NAME_TAG};
use crate::publish::PointerNow;
use crate::template::{KnownValue, NameFit, NameTemplate, Placeholder};

named_enum! {
    /// How `status` found a pointer.
    pub enum FoundBy {
        /// Its name is in the configuration (placeholders such as `{region}` filled in).
        Configured = "configured",
        /// Its name comes from an event (`{tag:...}`, `{instance_id}`, ...): found by listing
        /// the pointers of its kind and keeping those whose name the template can make.
        Listed = "listed",
    }
}

/// Where pointers are looked for: one rule's targets in one account and region.
#[derive(Clone, Copy)]
pub struct FindContext<'a> {
    /// The account.
    pub aws: &'a dyn Aws,
    /// The region.
    pub region: &'a Region,
    /// The rule's name, for `{rule}`.
    pub rule: &'a str,
    /// The account id, for `{account}`, when known.
    pub account: Option<&'a str>,
    /// The configuration's `allowed_name_prefixes`: a name with a tag's value in it starts
    /// with one of them, or amikeeper never wrote it.
    pub allowed_prefixes: &'a [String],
}

impl FindContext<'_> {
    /// The name `template` makes without an event (`{region}`, `{rule}`, `{account}` filled
    /// in), or `None` when it needs one.
    pub fn literal(&self, template: &NameTemplate) -> Option<String> {
        template
            .render(|placeholder| match placeholder {
                Placeholder::Region => Some(self.region.as_str()),
                Placeholder::Rule => Some(self.rule),
                Placeholder::Account => self.account,
                _ => None,
            })
            .ok()
    }

    /// Whether `name`, listed, is one `template` can make here: it fits the template, and a
    /// name with a tag's value in it starts with an allowed prefix.
    pub fn made_by(&self, template: &NameTemplate) -> impl Fn(&str) -> bool + '_ {
        let fit: NameFit = template.fit(|placeholder| match placeholder {
            Placeholder::Region => KnownValue::Exactly(self.region.as_str()),
            Placeholder::Rule => KnownValue::Exactly(self.rule),
            Placeholder::Account => self.account.map_or(KnownValue::Unknown, KnownValue::Exactly),
            Placeholder::InstanceId => KnownValue::StartsWith("i-"),
            Placeholder::ImageId => KnownValue::StartsWith("ami-"),
            Placeholder::LaunchTemplateId => KnownValue::StartsWith("lt-"),
            _ => KnownValue::Unknown,
        });
        let tagged = template.uses_tags();
        move |name| {
            fit.fits(name) && (!tagged || self.allowed_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str())))
        }
    }
}

/// One pointer `status` found, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPointer {
    /// The pointer's name in reports (as the rollback command line writes it).
    pub name: String,
    /// How it was found.
    pub found_by: FoundBy,
    /// Whether it exists (a configured name may not, yet).
    pub exists: bool,
    /// The AMI it names; `None` when it names none (or does not exist).
    pub image_id: Option<ImageId>,
    /// When it last moved, when AWS says.
    pub last_moved: Option<OffsetDateTime>,
    /// The CloudFormation stack that owns it, if any.
    pub stack: Option<String>,
}

impl FoundPointer {
    /// A pointer that exists and names `image_id` (or nothing).
    pub fn new(name: impl Into<String>, found_by: FoundBy, image_id: Option<ImageId>) -> Self {
        Self { name: name.into(), found_by, exists: true, image_id, last_moved: None, stack: None }
    }

    /// A configured pointer that does not exist.
    pub fn missing(name: impl Into<String>) -> Self {
        Self { exists: false, ..Self::new(name, FoundBy::Configured, None) }
    }

    /// When it last moved.
    pub fn moved(mut self, at: Option<OffsetDateTime>) -> Self {
        self.last_moved = at;
        self
    }

    /// The stack `tags` say owns it.
    pub fn owned_per(mut self, tags: &Tags) -> Self {
        self.stack = tags.get(STACK_NAME_TAG).cloned();
        self
    }

    /// An SSM parameter, as read.
    pub fn parameter(parameter: Parameter, found_by: FoundBy) -> Self {
        let image = image_in(Some(&parameter.value));
        Self::new(parameter.name, found_by, image).moved(parameter.last_modified)
    }
}

/// The AMI id a pointer's value names, if it names one.
pub fn image_in(value: Option<&str>) -> Option<ImageId> {
    match PointerNow::from_value(value) {
        PointerNow::Image(image) => Some(image),
        _ => None,
    }
}

/// The path under which [`find_parameters`] lists the parameters a name with placeholders
/// makes: the literal start of the name up to its last `/`, when the name starts with `/`.
pub fn listing_path(template: &NameTemplate) -> Option<&str> {
    let text = template.as_str();
    let literal = &text[..text.find('{')?];
    let end = literal.rfind('/')?;
    literal.starts_with('/').then(|| &literal[..=end])
}

/// The SSM parameters `template` names here: the one it makes without an event, or those
/// listed (under the path before its first placeholder when it starts with `/`, else every
/// parameter's name) whose name it can make.
pub async fn find_parameters(ctx: &FindContext<'_>, template: &NameTemplate) -> Result<Vec<(Parameter, FoundBy)>> {
    let (aws, region) = (ctx.aws, ctx.region);
    if let Some(name) = ctx.literal(template) {
        return Ok(aws.get_parameter(region, &name).await?.map(|p| (p, FoundBy::Configured)).into_iter().collect());
    }
    let made_by = ctx.made_by(template);
    let listed = match listing_path(template) {
        Some(path) => aws.get_parameters_by_path(region, path).await?,
        None => {
            let names: Vec<String> =
                aws.describe_parameter_names(region).await?.into_iter().filter(|n| made_by(n)).collect();
            // GetParameters takes 1 to PARAMETERS_PER_CALL names a call.
            let mut listed = Vec::with_capacity(names.len());
            for batch in names.chunks(PARAMETERS_PER_CALL) {
                listed.extend(aws.get_parameters(region, batch).await?);
            }
            listed
        }
    };
    Ok(listed.into_iter().filter(|p| made_by(&p.name)).map(|p| (p, FoundBy::Listed)).collect())
}
