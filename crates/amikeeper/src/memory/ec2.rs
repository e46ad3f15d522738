//! EC2 in memory: instances, images, snapshots and launch templates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{aws_error, ops, IntoRegion, MemoryAws, World};
use crate::backend::{AwsResult, Ec2Api};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{
    AccountId, AllowedImagesSettings, CopyImage, CreateImage, CreateLaunchTemplateVersion, Image, ImageId,
    ImageReference, ImageState, Instance, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, Region, Snapshot,
    SnapshotState, Tags, Volume,
};

/// The size in GiB the in-memory account reports for every snapshot's volume (`Ebs.VolumeSize`
/// in the image's block device mapping): 8, the root volume of many AWS-provided AMIs.
pub const SNAPSHOT_GIB: u32 = 8;

/// An image to seed with [`MemoryAws::add_image`]; build it with [`ImageSeed::new`] and the methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSeed {
    /// The image id; `None` for a fresh one.
    pub id: Option<ImageId>,
    /// The image name.
    pub name: String,
    /// The image description.
    pub description: Option<String>,
    /// The state the image starts in (`available` unless told).
    pub state: ImageState,
    /// The image's tags.
    pub tags: Tags,
    /// The creation time; `None` for the next tick of the logical clock.
    pub created: Option<OffsetDateTime>,
    /// How many fresh EBS snapshots back the image (1 unless told).
    pub snapshots: usize,
}

impl ImageSeed {
    /// An available image named `name`, with no tags and one snapshot.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            description: None,
            state: ImageState::Available,
            tags: Tags::new(),
            created: None,
            snapshots: 1,
        }
    }

    /// Uses this image id instead of a fresh one.
    pub fn id(mut self, id: impl Into<ImageId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Adds tags.
    pub fn tags(mut self, tags: Tags) -> Self {
        self.tags.extend(tags);
        self
    }

    /// Starts the image `pending`; it becomes available like a created one.
    pub fn pending(self) -> Self {
        self.state(ImageState::Pending)
    }

    /// Starts the image in `state`.
    pub fn state(mut self, state: ImageState) -> Self {
        self.state = state;
        self
    }

    /// Sets the creation time (the logical clock is left alone).
    pub fn created(mut self, created: OffsetDateTime) -> Self {
        self.created = Some(created);
        self
    }

    /// Backs the image with `count` snapshots.
    pub fn snapshots(mut self, count: usize) -> Self {
        self.snapshots = count;
        self
    }
}

/// An image and how many more describes it stays `pending` for.
#[derive(Debug, Clone)]
pub(super) struct ImageRecord {
    image: Image,
    pending_describes_left: u32,
    /// The other accounts the image is shared with (`ModifyImageAttribute` `LaunchPermission`).
    launch_permissions: BTreeSet<AccountId>,
}

/// An EBS snapshot.
#[derive(Debug, Clone)]
pub(super) struct SnapshotRecord {
    volume_id: Option<String>,
    state: SnapshotState,
    started: OffsetDateTime,
    description: Option<String>,
    tags: Tags,
    /// The other accounts that may read it (`ModifySnapshotAttribute` `createVolumePermission`).
    create_volume_permissions: BTreeSet<AccountId>,
}

impl SnapshotRecord {
    fn describe(&self, id: &str) -> Snapshot {
        Snapshot {
            id: id.to_owned(),
            volume_id: self.volume_id.clone(),
            state: self.state,
            started: self.started,
            description: self.description.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// An instance: the image it was launched from, its state and tags.
#[derive(Debug, Clone)]
pub(super) struct InstanceRecord {
    pub(super) image_id: Option<ImageId>,
    pub(super) state: String,
    tags: Tags,
}

/// An EBS volume: the instances it is attached to and its tags.
#[derive(Debug, Clone)]
pub(super) struct VolumeRecord {
    instance_ids: Vec<String>,
    tags: Tags,
}

/// A launch template and its versions.
#[derive(Debug, Clone)]
pub(super) struct TemplateRecord {
    id: String,
    name: String,
    tags: Tags,
    default_version: i64,
    next_version: i64,
    versions: BTreeMap<i64, TemplateVersionRecord>,
}

/// The data of one launch template version.
#[derive(Debug, Clone)]
struct TemplateVersionRecord {
    image_id: Option<ImageId>,
    description: Option<String>,
    created: OffsetDateTime,
}

impl TemplateRecord {
    /// Whether any version launches `image`.
    pub(super) fn launches(&self, image: &ImageId) -> bool {
        self.versions.values().any(|v| v.image_id.as_ref() == Some(image))
    }

    fn summary(&self) -> LaunchTemplate {
        LaunchTemplate {
            id: self.id.clone(),
            name: self.name.clone(),
            default_version: self.default_version,
            latest_version: self.latest_version(),
            tags: self.tags.clone(),
        }
    }

    fn latest_version(&self) -> i64 {
        self.versions.keys().next_back().copied().unwrap_or(self.default_version)
    }

    fn versions_newest_first(&self) -> Vec<LaunchTemplateVersion> {
        self.versions
            .iter()
            .rev()
            .map(|(&number, version)| LaunchTemplateVersion {
                number,
                image_id: version.image_id.clone(),
                description: version.description.clone(),
                is_default: number == self.default_version,
                created: Some(version.created),
            })
            .collect()
    }

    /// Whether `version` names a version: `$Latest`, `$Default` or an existing number.
    pub(super) fn has_version(&self, version: &str) -> bool {
        match version {
            "$Latest" | "$Default" => true,
            number => number.parse::<i64>().is_ok_and(|number| self.versions.contains_key(&number)),
        }
    }
}

/// Whether `name` is a valid AMI name: 3 to 128 of letters, digits and `()[] ./-'@_`.
fn valid_image_name(name: &str) -> bool {
    (3..=128).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c))
}

impl World {
    /// Adds an image (and its snapshots) to `region`; panics on a duplicate id.
    fn insert_image(&mut self, region: &Region, seed: ImageSeed) -> ImageId {
        let id = match seed.id {
            Some(id) => id,
            None => ImageId::new(self.next_id("ami")),
        };
        let created = match seed.created {
            Some(created) => created,
            None => self.next_image_time(),
        };
        let snapshot_ids: Vec<String> = (0..seed.snapshots).map(|_| self.next_id("snap")).collect();
        let pending_describes_left = self.pending_describes;
        let image = Image {
            id: id.clone(),
            name: seed.name,
            description: seed.description,
            state: seed.state,
            created,
            owner: self.account.clone(),
            tags: seed.tags,
            snapshot_sizes_gib: snapshot_ids.iter().map(|id| (id.clone(), SNAPSHOT_GIB)).collect(),
            snapshot_ids: snapshot_ids.clone(),
            deprecated_at: None,
            last_launched: None,
            deregistration_protected: false,
            deregistration_protection_cooldown: false,
            allowed: None,
            source_image_id: None,
            source_image_region: None,
        };
        let state = self.region(region);
        assert!(!state.images.contains_key(&id), "image {id} already exists in {region}");
        for snapshot in snapshot_ids {
            let record = SnapshotRecord {
                volume_id: None,
                state: SnapshotState::Completed,
                started: created,
                description: Some(format!("Created by CreateImage for {id}")),
                tags: Tags::new(),
                create_volume_permissions: BTreeSet::new(),
            };
            state.snapshots.insert(snapshot, record);
        }
        state
            .images
            .insert(id.clone(), ImageRecord { image, pending_describes_left, launch_permissions: BTreeSet::new() });
        id
    }

    /// The template `id` of `region`, or EC2's error for operation `op`.
    fn template_mut(&mut self, op: &str, region: &Region, id: &str) -> AwsResult<&mut TemplateRecord> {
        check_template_id(op, id)?;
        self.region(region).templates.get_mut(id).ok_or_else(|| {
            aws_error(
                op,
                AwsErrorKind::NotFound,
                "InvalidLaunchTemplateId.NotFound",
                format!("The specified launch template, with template ID {id}, does not exist."),
            )
        })
    }
}

fn check_template_id(op: &str, id: &str) -> AwsResult<()> {
    if id.starts_with("lt-") {
        Ok(())
    } else {
        Err(aws_error(
            op,
            AwsErrorKind::Client,
            "InvalidLaunchTemplateId.Malformed",
            format!("The specified ID for the launch template ({id}) is malformed."),
        ))
    }
}

fn version_not_found(op: &str, id: &str, version: i64) -> AwsError {
    aws_error(
        op,
        AwsErrorKind::Client,
        "InvalidLaunchTemplateId.VersionNotFound",
        format!("Could not find launch template version {version} for launch template ID {id}."),
    )
}

impl MemoryAws {
    /// Adds an instance (id `instance_id`, or a fresh `i-...`) that `CreateImage` can image.
    pub fn add_instance(&self, region: impl IntoRegion, instance_id: Option<&str>, tags: Tags) -> String {
        let region = region.into_region();
        self.with_world(|world| {
            let id = match instance_id {
                Some(id) => id.to_owned(),
                None => world.next_id("i"),
            };
            let record = InstanceRecord { image_id: None, state: "running".to_owned(), tags };
            world.region(&region).instances.insert(id.clone(), record);
            id
        })
    }

    /// Launches a running instance from `image_id`; returns its id. The image may be this
    /// account's (its `LastLaunchedTime` is set) or one another account shares.
    pub fn launch_instance(&self, region: impl IntoRegion, image_id: &ImageId, tags: Tags) -> String {
        let region = region.into_region();
        self.with_world(|world| {
            let id = world.next_id("i");
            let now = world.now;
            let state = world.region(&region);
            if let Some(record) = state.images.get_mut(image_id) {
                record.image.last_launched = Some(now);
            }
            let record = InstanceRecord { image_id: Some(image_id.clone()), state: "running".to_owned(), tags };
            state.instances.insert(id.clone(), record);
            id
        })
    }

    /// Sets an instance's state (`running`, `stopped`, `terminated`, ...). Panics if unknown.
    pub fn set_instance_state(&self, region: impl IntoRegion, instance_id: &str, state: &str) {
        let region = region.into_region();
        self.with_world(|world| {
            let record = world.region(&region).instances.get_mut(instance_id);
            record.unwrap_or_else(|| panic!("no instance {instance_id} in {region}")).state = state.to_owned();
        });
    }

    /// Adds an EBS volume with these tags, attached to `instance_id` if given; returns its id.
    pub fn add_volume(&self, region: impl IntoRegion, tags: Tags, instance_id: Option<&str>) -> String {
        let region = region.into_region();
        self.with_world(|world| {
            let id = world.next_id("vol");
            let instance_ids = instance_id.map(str::to_owned).into_iter().collect();
            world.region(&region).volumes.insert(id.clone(), VolumeRecord { instance_ids, tags });
            id
        })
    }

    /// Adds a snapshot of `volume_id` in `state`, started at `started`; returns its id.
    pub fn add_snapshot(
        &self,
        region: impl IntoRegion,
        volume_id: &str,
        started: OffsetDateTime,
        state: SnapshotState,
    ) -> String {
        let region = region.into_region();
        self.with_world(|world| {
            let id = world.next_id("snap");
            let record = SnapshotRecord {
                volume_id: Some(volume_id.to_owned()),
                state,
                started,
                description: None,
                tags: Tags::new(),
                create_volume_permissions: BTreeSet::new(),
            };
            world.region(&region).snapshots.insert(id.clone(), record);
            id
        })
    }

    /// The snapshot as it is now, if the region has it.
    pub fn snapshot(&self, region: impl IntoRegion, snapshot_id: &str) -> Option<Snapshot> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).snapshots.get(snapshot_id).map(|r| r.describe(snapshot_id)))
    }

    /// Adds an image as `seed` describes it; returns its id. Panics if the id is taken.
    pub fn add_image(&self, region: impl IntoRegion, seed: ImageSeed) -> ImageId {
        let region = region.into_region();
        self.with_world(|world| world.insert_image(&region, seed))
    }

    /// Lets `CopyImage` in this account copy the images `account` shares with it.
    ///
    /// EC2 finds an image shared with the caller by its id in the owner's region; in memory each
    /// account is a world of its own, so the destination must be told which other accounts may
    /// share with it. Such an image is copied only when `account` shared it with this one
    /// (`ModifyImageAttribute`, else `InvalidAMIID.NotFound`) and every snapshot behind it too
    /// (`ModifySnapshotAttribute`, else `InvalidRequest`, "You do not have permission to access
    /// the storage of this ami"). The link is weak: it does not keep `account` alive.
    pub fn add_sharing_account(&self, account: &Arc<MemoryAws>) {
        self.with_world(|world| world.sharing_accounts.push(Arc::downgrade(account)));
    }

    /// The accounts an image is shared with (`ModifyImageAttribute`). Panics if unknown.
    pub fn image_shared_with(&self, region: impl IntoRegion, id: &ImageId) -> Vec<AccountId> {
        let region = region.into_region();
        self.with_world(|world| {
            let record = world.region(&region).images.get(id);
            record.unwrap_or_else(|| panic!("no image {id} in {region}")).launch_permissions.iter().cloned().collect()
        })
    }

    /// The accounts a snapshot is shared with (`ModifySnapshotAttribute`). Panics if unknown.
    pub fn snapshot_shared_with(&self, region: impl IntoRegion, snapshot_id: &str) -> Vec<AccountId> {
        let region = region.into_region();
        self.with_world(|world| {
            let record = world.region(&region).snapshots.get(snapshot_id);
            let record = record.unwrap_or_else(|| panic!("no snapshot {snapshot_id} in {region}"));
            record.create_volume_permissions.iter().cloned().collect()
        })
    }

    /// An image of a sharing account ([`add_sharing_account`](Self::add_sharing_account)) shared
    /// with this one, and whether its snapshots are shared too. Each account's lock is taken
    /// on its own, never two at once.
    fn shared_image(&self, region: &Region, id: &ImageId) -> Option<(Image, bool)> {
        let sharing: Vec<Arc<MemoryAws>> =
            self.with_world(|world| world.sharing_accounts.iter().filter_map(std::sync::Weak::upgrade).collect());
        let me = &self.account;
        sharing.iter().filter(|other| !std::ptr::eq(other.as_ref(), self)).find_map(|other| {
            other.with_world(|world| {
                let state = world.region(region);
                let record = state.images.get(id).filter(|r| r.launch_permissions.contains(me))?;
                let readable = record.image.snapshot_ids.iter().all(|snapshot| {
                    state.snapshots.get(snapshot).is_some_and(|s| s.create_volume_permissions.contains(me))
                });
                Some((record.image.clone(), readable))
            })
        })
    }

    /// The image as it is now, deregistered ones included; no describe countdown.
    pub fn image(&self, region: impl IntoRegion, id: &ImageId) -> Option<Image> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).images.get(id).map(|record| record.image.clone()))
    }

    /// Every image of the region, deregistered ones included, oldest first.
    pub fn images(&self, region: impl IntoRegion) -> Vec<Image> {
        let region = region.into_region();
        let mut images: Vec<Image> =
            self.with_world(|world| world.region(&region).images.values().map(|record| record.image.clone()).collect());
        images.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        images
    }

    /// Sets an image's state (`pending` restarts its describe countdown). Panics if unknown.
    pub fn set_image_state(&self, region: impl IntoRegion, id: &ImageId, state: ImageState) {
        let region = region.into_region();
        self.with_world(|world| {
            let countdown = world.pending_describes;
            let record = world.region(&region).images.get_mut(id);
            let record = record.unwrap_or_else(|| panic!("no image {id} in {region}"));
            record.image.state = state;
            record.pending_describes_left = countdown;
        });
    }

    /// Turns an image's deregistration protection on as someone other than amikeeper would
    /// (the console, the CLI): with the 24-hour cooldown when `with_cooldown`, which amikeeper
    /// never uses. Records no call. Panics if the image is unknown.
    ///
    /// `DisableImageDeregistrationProtection` turns either kind off at once here; on EC2 a
    /// protection with a cooldown still blocks deregistering for 24 hours.
    pub fn enable_deregistration_protection(&self, region: impl IntoRegion, id: &ImageId, with_cooldown: bool) {
        let region = region.into_region();
        self.with_world(|world| {
            let record = world.region(&region).images.get_mut(id);
            let record = record.unwrap_or_else(|| panic!("no image {id} in {region}"));
            record.image.deregistration_protected = true;
            record.image.deregistration_protection_cooldown = with_cooldown;
        });
    }

    /// How many describes a new pending image stays `pending` for before it is `available`.
    pub fn set_pending_describes(&self, describes: u32) {
        self.with_world(|world| world.pending_describes = describes);
    }

    /// Makes every pending image of every region available now.
    pub fn complete_pending_images(&self) {
        self.with_world(|world| {
            for state in world.regions.values_mut() {
                for record in state.images.values_mut() {
                    if record.image.state == ImageState::Pending {
                        record.image.state = ImageState::Available;
                    }
                }
            }
        });
    }

    /// The ids of the region's snapshots, in order.
    pub fn snapshots(&self, region: impl IntoRegion) -> Vec<String> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).snapshots.keys().cloned().collect())
    }

    /// Creates a launch template whose version 1 (default and latest) launches `image_id`.
    /// Panics if the region has a template of that name.
    pub fn create_launch_template(
        &self,
        region: impl IntoRegion,
        name: impl Into<String>,
        image_id: Option<ImageId>,
        tags: Tags,
    ) -> LaunchTemplate {
        let region = region.into_region();
        let name = name.into();
        self.with_world(|world| {
            let id = world.next_id("lt");
            let now = world.now;
            let state = world.region(&region);
            let taken = state.templates.values().any(|template| template.name == name);
            assert!(!taken, "launch template {name} already exists in {region}");
            let record = TemplateRecord {
                id: id.clone(),
                name,
                tags,
                default_version: 1,
                next_version: 2,
                versions: BTreeMap::from([(1, TemplateVersionRecord { image_id, description: None, created: now })]),
            };
            let summary = record.summary();
            state.templates.insert(id, record);
            summary
        })
    }

    /// The launch template `id`, if the region has it.
    pub fn launch_template(&self, region: impl IntoRegion, id: &str) -> Option<LaunchTemplate> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).templates.get(id).map(TemplateRecord::summary))
    }

    /// Every version of the launch template `id`, newest first (empty if it does not exist).
    pub fn launch_template_versions(&self, region: impl IntoRegion, id: &str) -> Vec<LaunchTemplateVersion> {
        let region = region.into_region();
        self.with_world(|world| {
            world.region(&region).templates.get(id).map(TemplateRecord::versions_newest_first).unwrap_or_default()
        })
    }
}

fn check_image_id(op: &str, id: &ImageId) -> AwsResult<()> {
    if id.as_str().starts_with("ami-") {
        Ok(())
    } else {
        Err(aws_error(
            op,
            AwsErrorKind::Client,
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"ami-...\")"),
        ))
    }
}

#[async_trait]
impl Ec2Api for MemoryAws {
    async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>> {
        // An image another account shares with this one, read before this account's lock is taken.
        let shared = self.shared_image(region, image_id).map(|(image, _)| image);
        self.call(ops::DESCRIBE_IMAGES, |world| {
            check_image_id(ops::DESCRIBE_IMAGES, image_id)?;
            let Some(record) = world.region(region).images.get_mut(image_id) else {
                let shared = shared.filter(|image| image.state != ImageState::Deregistered);
                return Ok(shared.and_then(|image| super::allowed::shown(world, region, image)));
            };
            match record.image.state {
                ImageState::Deregistered => return Ok(None),
                ImageState::Pending if record.pending_describes_left == 0 => {
                    record.image.state = ImageState::Available;
                }
                ImageState::Pending => record.pending_describes_left -= 1,
                _ => {}
            }
            let image = record.image.clone();
            Ok(super::allowed::shown(world, region, image))
        })
    }

    async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId> {
        let op = ops::CREATE_IMAGE;
        self.call(op, |world| {
            let instance = &request.instance_id;
            if !instance.starts_with("i-") {
                let message = format!("Invalid id: \"{instance}\" (expecting \"i-...\")");
                return Err(aws_error(op, AwsErrorKind::Client, "InvalidInstanceID.Malformed", message));
            }
            let state = world.region(region);
            if state.instances.get(instance).is_none_or(|record| record.state == "terminated") {
                let message = format!("The instance ID '{instance}' does not exist");
                return Err(aws_error(op, AwsErrorKind::NotFound, "InvalidInstanceID.NotFound", message));
            }
            if !valid_image_name(&request.name) {
                return Err(aws_error(
                    op,
                    AwsErrorKind::Client,
                    "InvalidAMIName.Malformed",
                    format!(
                        "AMI name {} is invalid: use 3 to 128 letters, numbers, spaces and ()[]./-'@_",
                        request.name
                    ),
                ));
            }
            let taken = state
                .images
                .values()
                .find(|record| record.image.name == request.name && record.image.state != ImageState::Deregistered);
            if let Some(taken) = taken {
                return Err(aws_error(
                    op,
                    AwsErrorKind::Client,
                    "InvalidAMIName.Duplicate",
                    format!("AMI name {} is already in use by AMI {}", request.name, taken.image.id),
                ));
            }
            let seed = ImageSeed { description: request.description.clone(), ..ImageSeed::new(&request.name) };
            Ok(world.insert_image(region, seed.tags(request.tags.clone()).pending()))
        })
    }

    async fn copy_image(&self, region: &Region, request: &CopyImage) -> AwsResult<ImageId> {
        let op = ops::COPY_IMAGE;
        // An image another account shares with this one, read before this account's lock is taken.
        let shared = self.shared_image(&request.source_region, &request.source_image_id);
        self.call(op, |world| {
            if let Some(copy) = world.region(region).copy_tokens.get(&request.client_token) {
                return Ok(copy.clone());
            }
            let own = world.region(&request.source_region).images.get(&request.source_image_id);
            let source = match own.map(|record| record.image.clone()) {
                Some(image) => Some(image),
                None => match shared {
                    Some((_, false)) => {
                        let message = "You do not have permission to access the storage of this ami";
                        return Err(aws_error(op, AwsErrorKind::Client, "InvalidRequest", message));
                    }
                    Some((image, true)) => Some(image),
                    None => None,
                },
            };
            let source = match source.as_ref() {
                Some(image) if image.state == ImageState::Available => image.clone(),
                Some(image) => {
                    let message = format!("Image {} is {}, not available", image.id, image.state);
                    return Err(aws_error(op, AwsErrorKind::Client, "IncorrectState", message));
                }
                None => return Err(image_not_found(op, &request.source_image_id)),
            };
            let seed = ImageSeed { description: request.description.clone(), ..ImageSeed::new(&request.name) };
            let copy = world
                .insert_image(region, seed.tags(request.tags.clone()).snapshots(source.snapshot_ids.len()).pending());
            world.region(region).copy_tokens.insert(request.client_token.clone(), copy.clone());
            // EC2 reports a copy's source (`SourceImageId`, `SourceImageRegion`).
            if let Some(record) = world.region(region).images.get_mut(&copy) {
                record.image.source_image_id = Some(request.source_image_id.clone());
                record.image.source_image_region = Some(request.source_region.clone());
            }
            Ok(copy)
        })
    }

    async fn share_image(&self, region: &Region, image_id: &ImageId, account: &AccountId) -> AwsResult<()> {
        let op = ops::MODIFY_IMAGE_ATTRIBUTE;
        self.call(op, |world| {
            let owner = world.account.clone();
            let record = world.region(region).images.get_mut(image_id);
            let record = record.filter(|r| r.image.state != ImageState::Deregistered);
            let record = record.ok_or_else(|| image_not_found(op, image_id))?;
            if *account != owner {
                record.launch_permissions.insert(account.clone());
            }
            Ok(())
        })
    }

    async fn share_snapshot(&self, region: &Region, snapshot_id: &str, account: &AccountId) -> AwsResult<()> {
        let op = ops::MODIFY_SNAPSHOT_ATTRIBUTE;
        self.call(op, |world| {
            let owner = world.account.clone();
            let Some(record) = world.region(region).snapshots.get_mut(snapshot_id) else {
                return Err(aws_error(
                    op,
                    AwsErrorKind::NotFound,
                    "InvalidSnapshot.NotFound",
                    format!("The snapshot '{snapshot_id}' does not exist."),
                ));
            };
            if *account != owner {
                record.create_volume_permissions.insert(account.clone());
            }
            Ok(())
        })
    }

    async fn describe_images_tagged(&self, region: &Region, key: &str, value: &str) -> AwsResult<Vec<Image>> {
        self.call(ops::DESCRIBE_IMAGES, |world| {
            let images = world.region(region).images.values().map(|record| &record.image);
            let tagged = images.filter(|image| image.state != ImageState::Deregistered);
            let tagged: Vec<Image> =
                tagged.filter(|image| image.tags.get(key).is_some_and(|v| v == value)).cloned().collect();
            Ok(tagged.into_iter().filter_map(|image| super::allowed::shown(world, region, image)).collect())
        })
    }

    async fn describe_launch_template(
        &self,
        region: &Region,
        template: &LaunchTemplateRef,
    ) -> AwsResult<Option<LaunchTemplate>> {
        let op = ops::DESCRIBE_LAUNCH_TEMPLATES;
        self.call(op, |world| {
            let templates = &world.region(region).templates;
            Ok(match template {
                LaunchTemplateRef::Id(id) => {
                    check_template_id(op, id)?;
                    templates.get(id).map(TemplateRecord::summary)
                }
                LaunchTemplateRef::Name(name) => {
                    templates.values().find(|template| &template.name == name).map(TemplateRecord::summary)
                }
            })
        })
    }

    async fn describe_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
    ) -> AwsResult<Vec<LaunchTemplateVersion>> {
        let op = ops::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS;
        self.call(op, |world| Ok(world.template_mut(op, region, template_id)?.versions_newest_first()))
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        request: &CreateLaunchTemplateVersion,
    ) -> AwsResult<i64> {
        let op = ops::CREATE_LAUNCH_TEMPLATE_VERSION;
        let CreateLaunchTemplateVersion { template_id, source_version, image_id, description } = request;
        self.call(op, |world| {
            let now = world.now;
            let template = world.template_mut(op, region, template_id)?;
            let source = template.versions.get(source_version);
            let mut version = source.cloned().ok_or_else(|| version_not_found(op, template_id, *source_version))?;
            version.image_id = Some(image_id.clone());
            version.description = (!description.is_empty()).then(|| description.clone());
            version.created = now;
            let number = template.next_version;
            template.next_version += 1;
            template.versions.insert(number, version);
            Ok(number)
        })
    }

    async fn set_default_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        version: i64,
    ) -> AwsResult<i64> {
        let op = ops::MODIFY_LAUNCH_TEMPLATE;
        self.call(op, |world| {
            let template = world.template_mut(op, region, template_id)?;
            if !template.versions.contains_key(&version) {
                return Err(version_not_found(op, template_id, version));
            }
            template.default_version = version;
            Ok(template.versions.keys().next_back().copied().unwrap_or(version))
        })
    }

    async fn delete_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
        versions: &[i64],
    ) -> AwsResult<Vec<(i64, String)>> {
        let op = ops::DELETE_LAUNCH_TEMPLATE_VERSIONS;
        self.call(op, |world| {
            let template = world.template_mut(op, region, template_id)?;
            let mut refused = Vec::new();
            for &version in versions {
                if version == template.default_version {
                    refused.push((version, "Cannot delete the default version".to_owned()));
                } else if template.versions.remove(&version).is_none() {
                    refused.push((version, "The specified launch template version does not exist.".to_owned()));
                }
            }
            Ok(refused)
        })
    }

    async fn describe_own_images(&self, region: &Region) -> AwsResult<Vec<Image>> {
        self.call(ops::DESCRIBE_IMAGES, |world| {
            let images = world.region(region).images.values();
            let images: Vec<Image> =
                images.filter(|r| r.image.state != ImageState::Deregistered).map(|r| r.image.clone()).collect();
            Ok(images.into_iter().filter_map(|image| super::allowed::shown(world, region, image)).collect())
        })
    }

    async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>> {
        self.call(ops::DESCRIBE_SNAPSHOTS, |world| {
            Ok(world.region(region).snapshots.iter().map(|(id, record)| record.describe(id)).collect())
        })
    }

    async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>> {
        self.call(ops::DESCRIBE_SNAPSHOTS, |world| {
            let snapshots =
                world.region(region).snapshots.iter().filter(|(_, record)| record.tags.contains_key(tag_key));
            Ok(snapshots.map(|(id, record)| record.describe(id)).collect())
        })
    }

    async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>> {
        self.call(ops::DESCRIBE_VOLUMES, |world| {
            let volumes = world.region(region).volumes.iter().filter(|(_, record)| record.tags.contains_key(tag_key));
            Ok(volumes
                .map(|(id, record)| Volume {
                    id: id.clone(),
                    instance_ids: record.instance_ids.clone(),
                    tags: record.tags.clone(),
                })
                .collect())
        })
    }

    async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>> {
        self.call(ops::DESCRIBE_INSTANCES, |world| {
            let instances = world.region(region).instances.iter().filter(|(_, record)| record.state != "terminated");
            Ok(instances
                .filter_map(|(id, record)| {
                    let image_id = record.image_id.clone()?;
                    Some(Instance { id: id.clone(), image_id, state: record.state.clone() })
                })
                .collect())
        })
    }

    async fn describe_launch_templates(&self, region: &Region) -> AwsResult<Vec<LaunchTemplate>> {
        self.call(ops::DESCRIBE_LAUNCH_TEMPLATES, |world| {
            Ok(world.region(region).templates.values().map(TemplateRecord::summary).collect())
        })
    }

    async fn deregister_image(
        &self,
        region: &Region,
        image_id: &ImageId,
        delete_snapshots: bool,
    ) -> AwsResult<Vec<String>> {
        let op = ops::DEREGISTER_IMAGE;
        self.call(op, |world| {
            check_image_id(op, image_id)?;
            let snapshots = match world.region(region).images.get_mut(image_id) {
                Some(record) if record.image.deregistration_protected => {
                    return Err(aws_error(
                        op,
                        AwsErrorKind::Client,
                        "OperationNotPermitted",
                        format!("The image {image_id} is protected from deregistration. Disable deregistration protection first."),
                    ));
                }
                Some(record) if record.image.state != ImageState::Deregistered => {
                    record.image.state = ImageState::Deregistered;
                    record.image.snapshot_ids.clone()
                }
                _ => return Err(image_not_found(op, image_id)),
            };
            let mut deleted = Vec::new();
            if delete_snapshots && !world.deregister_keeps_snapshots {
                let state = world.region(region);
                for snapshot in snapshots {
                    // EC2 keeps a snapshot another image still uses.
                    if snapshot_user(state, &snapshot).is_none() && state.snapshots.remove(&snapshot).is_some() {
                        deleted.push(snapshot);
                    }
                }
            }
            Ok(deleted)
        })
    }

    async fn delete_snapshot(&self, region: &Region, snapshot_id: &str) -> AwsResult<()> {
        let op = ops::DELETE_SNAPSHOT;
        self.call(op, |world| {
            let state = world.region(region);
            if !state.snapshots.contains_key(snapshot_id) {
                return Err(aws_error(
                    op,
                    AwsErrorKind::NotFound,
                    "InvalidSnapshot.NotFound",
                    format!("The snapshot '{snapshot_id}' does not exist."),
                ));
            }
            if let Some(user) = snapshot_user(state, snapshot_id) {
                return Err(aws_error(
                    op,
                    AwsErrorKind::Client,
                    "InvalidSnapshot.InUse",
                    format!("The snapshot {snapshot_id} is currently in use by {user}"),
                ));
            }
            state.snapshots.remove(snapshot_id);
            Ok(())
        })
    }

    async fn enable_image_deprecation(&self, region: &Region, image_id: &ImageId, at: OffsetDateTime) -> AwsResult<()> {
        let op = ops::ENABLE_IMAGE_DEPRECATION;
        self.call(op, |world| {
            check_image_id(op, image_id)?;
            if at < world.now {
                let message = "You can't specify a date in the past for the deprecation time.";
                return Err(aws_error(op, AwsErrorKind::Client, "InvalidParameterValue", message));
            }
            match world.region(region).images.get_mut(image_id) {
                Some(record) if record.image.state != ImageState::Deregistered => {
                    record.image.deprecated_at = Some(at.replace_nanosecond(0).unwrap_or(at));
                    Ok(())
                }
                _ => Err(image_not_found(op, image_id)),
            }
        })
    }

    async fn disable_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<()> {
        let op = ops::DISABLE_IMAGE;
        self.call(op, |world| {
            check_image_id(op, image_id)?;
            match world.region(region).images.get_mut(image_id) {
                Some(record) if matches!(record.image.state, ImageState::Available | ImageState::Disabled) => {
                    record.image.state = ImageState::Disabled;
                    Ok(())
                }
                Some(record) if record.image.state != ImageState::Deregistered => Err(aws_error(
                    op,
                    AwsErrorKind::Client,
                    "IncorrectState",
                    format!("Image {image_id} is {}; only an available image can be disabled.", record.image.state),
                )),
                _ => Err(image_not_found(op, image_id)),
            }
        })
    }

    async fn describe_image_references(
        &self,
        region: &Region,
        image_ids: &[ImageId],
    ) -> AwsResult<Vec<ImageReference>> {
        self.call(ops::DESCRIBE_IMAGE_REFERENCES, |world| super::references::describe(world, region, image_ids))
    }

    async fn set_deregistration_protection(&self, region: &Region, image_id: &ImageId, enabled: bool) -> AwsResult<()> {
        let op = if enabled { ops::ENABLE_DEREGISTRATION_PROTECTION } else { ops::DISABLE_DEREGISTRATION_PROTECTION };
        self.call(op, |world| {
            check_image_id(op, image_id)?;
            match world.region(region).images.get_mut(image_id) {
                Some(record) if record.image.state != ImageState::Deregistered => {
                    record.image.deregistration_protected = enabled;
                    // The API turns protection on without a cooldown (amikeeper never asks
                    // for one).
                    record.image.deregistration_protection_cooldown = false;
                    Ok(())
                }
                _ => Err(image_not_found(op, image_id)),
            }
        })
    }

    async fn get_allowed_images_settings(&self, region: &Region) -> AwsResult<AllowedImagesSettings> {
        self.call(ops::GET_ALLOWED_IMAGES_SETTINGS, |world| super::allowed::get(world, region))
    }

    async fn create_tags(&self, region: &Region, resource_ids: &[String], tags: &Tags) -> AwsResult<()> {
        let op = ops::CREATE_TAGS;
        self.call(op, |world| {
            let state = world.region(region);
            // All or nothing, as EC2 does: check every id first.
            for id in resource_ids {
                let known = if id.starts_with("snap-") {
                    state.snapshots.contains_key(id)
                } else if id.starts_with("ami-") {
                    state
                        .images
                        .get(&ImageId::new(id.clone()))
                        .is_some_and(|r| r.image.state != ImageState::Deregistered)
                } else if id.starts_with("vol-") {
                    state.volumes.contains_key(id)
                } else if id.starts_with("i-") {
                    state.instances.contains_key(id)
                } else {
                    let message = format!("Invalid id: \"{id}\"");
                    return Err(aws_error(op, AwsErrorKind::Client, "InvalidID", message));
                };
                if !known {
                    let kind = id.split('-').next().unwrap_or("resource");
                    let code = match kind {
                        "snap" => "InvalidSnapshot.NotFound",
                        "ami" => "InvalidAMIID.NotFound",
                        "vol" => "InvalidVolume.NotFound",
                        _ => "InvalidInstanceID.NotFound",
                    };
                    let message = format!("The ID '{id}' does not exist");
                    return Err(aws_error(op, AwsErrorKind::NotFound, code, message));
                }
            }
            for id in resource_ids {
                let target = if id.starts_with("snap-") {
                    state.snapshots.get_mut(id).map(|r| &mut r.tags)
                } else if id.starts_with("ami-") {
                    state.images.get_mut(&ImageId::new(id.clone())).map(|r| &mut r.image.tags)
                } else if id.starts_with("vol-") {
                    state.volumes.get_mut(id).map(|r| &mut r.tags)
                } else {
                    state.instances.get_mut(id).map(|r| &mut r.tags)
                };
                if let Some(target) = target {
                    target.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            Ok(())
        })
    }
}

fn image_not_found(op: &str, image_id: &ImageId) -> AwsError {
    aws_error(
        op,
        AwsErrorKind::NotFound,
        "InvalidAMIID.NotFound",
        format!("The image id '[{image_id}]' does not exist"),
    )
}

/// The image (not deregistered) that uses `snapshot_id`, if any.
fn snapshot_user<'a>(state: &'a super::RegionState, snapshot_id: &str) -> Option<&'a ImageId> {
    state
        .images
        .values()
        .find(|record| {
            record.image.state != ImageState::Deregistered
                && record.image.snapshot_ids.iter().any(|id| id == snapshot_id)
        })
        .map(|record| &record.image.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Fault, FaultKind};

    const ACCOUNT: &str = "111122223333";

    fn region() -> Region {
        Region::from("eu-west-1")
    }

    fn create(instance: &str, name: &str) -> CreateImage {
        CreateImage {
            instance_id: instance.into(),
            name: name.into(),
            description: Some("baked".into()),
            no_reboot: true,
            tags: Tags::from([("amikeeper:rule".to_owned(), "web".to_owned())]),
        }
    }

    async fn state(aws: &MemoryAws, id: &ImageId) -> Option<ImageState> {
        aws.describe_image(&region(), id).await.unwrap().map(|image| image.state)
    }

    #[tokio::test]
    async fn created_images_are_pending_then_available() {
        let aws = MemoryAws::new(ACCOUNT);
        let instance = aws.add_instance(region(), None, Tags::new());
        let id = aws.create_image(&region(), &create(&instance, "web-1")).await.unwrap();
        let image = aws.image(region(), &id).unwrap();
        assert_eq!(image.state, ImageState::Pending);
        assert_eq!(image.tags["amikeeper:rule"], "web");
        assert_eq!(image.description.as_deref(), Some("baked"));
        assert_eq!(image.owner.as_str(), ACCOUNT);
        assert_eq!(image.snapshot_ids.len(), 1);
        assert_eq!(aws.snapshots(region()), image.snapshot_ids);

        assert_eq!(state(&aws, &id).await, Some(ImageState::Pending));
        assert_eq!(state(&aws, &id).await, Some(ImageState::Available));
        assert_eq!(state(&aws, &id).await, Some(ImageState::Available));
    }

    #[tokio::test]
    async fn pending_describes_are_settable_and_seeds_can_be_pending() {
        let aws = MemoryAws::new(ACCOUNT);
        aws.set_pending_describes(3);
        let id = aws.add_image(region(), ImageSeed::new("web-1").pending());
        for _ in 0..3 {
            assert_eq!(state(&aws, &id).await, Some(ImageState::Pending));
        }
        assert_eq!(state(&aws, &id).await, Some(ImageState::Available));

        aws.set_pending_describes(0);
        let now = aws.add_image(region(), ImageSeed::new("web-2").pending());
        assert_eq!(state(&aws, &now).await, Some(ImageState::Available));

        aws.set_pending_describes(5);
        let later = aws.add_image(region(), ImageSeed::new("web-3").pending());
        aws.set_image_state(region(), &id, ImageState::Pending);
        aws.complete_pending_images();
        assert_eq!(state(&aws, &later).await, Some(ImageState::Available));
        assert_eq!(state(&aws, &id).await, Some(ImageState::Available));
    }

    #[tokio::test]
    async fn a_faulted_describe_does_not_count_down() {
        let aws = MemoryAws::new(ACCOUNT);
        let id = aws.add_image(region(), ImageSeed::new("web-1").pending());
        aws.inject(Fault::on("ec2:DescribeImages", FaultKind::Throttling));
        assert!(aws.describe_image(&region(), &id).await.is_err());
        assert_eq!(state(&aws, &id).await, Some(ImageState::Pending));
        assert_eq!(state(&aws, &id).await, Some(ImageState::Available));
    }

    #[tokio::test]
    async fn create_image_wants_a_known_instance_and_a_free_valid_name() {
        let aws = MemoryAws::new(ACCOUNT);
        let err = aws.create_image(&region(), &create("i-0123456789abcdef0", "web-1")).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidInstanceID.NotFound", AwsErrorKind::NotFound));
        assert_eq!((err.service.as_str(), err.operation.as_str()), ("ec2", "CreateImage"));

        let instance = aws.add_instance(region(), Some("i-0123456789abcdef0"), Tags::new());
        // The instance is in eu-west-1 only.
        let elsewhere = aws.create_image(&Region::from("us-east-1"), &create(&instance, "web-1")).await;
        assert_eq!(elsewhere.unwrap_err().code, "InvalidInstanceID.NotFound");

        let first = aws.create_image(&region(), &create(&instance, "web-1")).await.unwrap();
        let err = aws.create_image(&region(), &create(&instance, "web-1")).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidAMIName.Duplicate", AwsErrorKind::Client));
        let err = aws.create_image(&region(), &create(&instance, "x!")).await.unwrap_err();
        assert_eq!(err.code, "InvalidAMIName.Malformed");

        // Deregistering frees the name.
        aws.deregister_image(&region(), &first, false).await.unwrap();
        let second = aws.create_image(&region(), &create(&instance, "web-1")).await.unwrap();
        assert_ne!(first, second);
        assert!(aws.image(region(), &second).unwrap().created > aws.image(region(), &first).unwrap().created);
    }

    #[tokio::test]
    async fn unknown_images_describe_as_none_and_malformed_ids_fail() {
        let aws = MemoryAws::new(ACCOUNT);
        assert_eq!(aws.describe_image(&region(), &ImageId::from("ami-0123456789abcdef0")).await.unwrap(), None);
        let err = aws.describe_image(&region(), &ImageId::from("lt-1")).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidAMIID.Malformed", AwsErrorKind::Client));
    }

    #[tokio::test]
    async fn deregistered_images_no_longer_describe() {
        let aws = MemoryAws::new(ACCOUNT);
        let id = aws.add_image(region(), ImageSeed::new("web-1").id("ami-0123456789abcdef0").tag("a", "b"));
        assert_eq!(id.as_str(), "ami-0123456789abcdef0");
        aws.deregister_image(&region(), &id, false).await.unwrap();
        assert_eq!(aws.describe_image(&region(), &id).await.unwrap(), None);
        assert_eq!(aws.image(region(), &id).unwrap().state, ImageState::Deregistered);
        let again = aws.deregister_image(&region(), &id, false).await.unwrap_err();
        assert_eq!((again.code.as_str(), again.kind), ("InvalidAMIID.NotFound", AwsErrorKind::NotFound));
        assert_eq!(aws.calls(), vec!["ec2:DeregisterImage", "ec2:DescribeImages", "ec2:DeregisterImage"]);
    }

    #[tokio::test]
    async fn a_snapshot_in_use_cannot_be_deleted() {
        let aws = MemoryAws::new(ACCOUNT);
        let id = aws.add_image(region(), ImageSeed::new("web-1").snapshots(2));
        let snapshots = aws.image(region(), &id).unwrap().snapshot_ids;
        assert_eq!(snapshots.len(), 2);
        let err = aws.delete_snapshot(&region(), &snapshots[0]).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidSnapshot.InUse", AwsErrorKind::Client));
        assert!(err.message.contains(id.as_str()));
        assert_eq!(aws.snapshots(region()).len(), 2);

        aws.inject(Fault::on("ec2:DeregisterImage", FaultKind::ServerError));
        assert!(aws.deregister_image(&region(), &id, true).await.is_err());
        assert!(aws.delete_snapshot(&region(), &snapshots[0]).await.is_err(), "the faulted deregister did nothing");

        aws.deregister_image(&region(), &id, false).await.unwrap();
        aws.delete_snapshot(&region(), &snapshots[0]).await.unwrap();
        assert_eq!(aws.snapshots(region()), vec![snapshots[1].clone()]);
        let err = aws.delete_snapshot(&region(), &snapshots[0]).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidSnapshot.NotFound", AwsErrorKind::NotFound));
    }

    #[tokio::test]
    async fn launch_templates_describe_by_id_or_name() {
        let aws = MemoryAws::new(ACCOUNT);
        let image = ImageId::from("ami-00000000000000001");
        let template = aws.create_launch_template(region(), "web", Some(image.clone()), Tags::new());
        assert!(template.id.starts_with("lt-"));
        assert_eq!((template.default_version, template.latest_version), (1, 1));
        let describe = |template: LaunchTemplateRef| {
            let aws = &aws;
            async move { aws.describe_launch_template(&region(), &template).await.unwrap() }
        };
        assert_eq!(describe(LaunchTemplateRef::Id(template.id.clone())).await, Some(template.clone()));
        assert_eq!(describe(LaunchTemplateRef::Name("web".into())).await, Some(template.clone()));
        assert_eq!(describe(LaunchTemplateRef::Name("db".into())).await, None);
        assert_eq!(describe(LaunchTemplateRef::Id("lt-0".into())).await, None);
        let versions = aws.describe_launch_template_versions(&region(), &template.id).await.unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].image_id, Some(image));
        assert!(versions[0].is_default);
    }

    #[tokio::test]
    async fn new_versions_copy_their_source_and_come_newest_first() {
        let aws = MemoryAws::new(ACCOUNT);
        let template = aws.create_launch_template(region(), "web", None, Tags::new());
        let (r, id) = (region(), template.id.as_str());
        let first = ImageId::from("ami-00000000000000001");
        let second = ImageId::from("ami-00000000000000002");
        let version_of = CreateLaunchTemplateVersion::new;
        assert_eq!(aws.create_launch_template_version(&r, &version_of(id, 1, &first, "one")).await.unwrap(), 2);
        assert_eq!(aws.create_launch_template_version(&r, &version_of(id, 2, &second, "")).await.unwrap(), 3);
        let versions = aws.describe_launch_template_versions(&r, id).await.unwrap();
        let numbers: Vec<i64> = versions.iter().map(|version| version.number).collect();
        assert_eq!(numbers, vec![3, 2, 1]);
        assert_eq!(versions[0].image_id, Some(second));
        assert_eq!(versions[0].description, None);
        assert_eq!(versions[1].description.as_deref(), Some("one"));
        assert_eq!(aws.launch_template(&r, id).unwrap().latest_version, 3);
        assert_eq!(aws.launch_template(&r, id).unwrap().default_version, 1);
        assert_eq!(aws.launch_template_versions(&r, id), versions);

        let err = aws.create_launch_template_version(&r, &version_of(id, 9, &first, "x")).await.unwrap_err();
        assert_eq!(err.code, "InvalidLaunchTemplateId.VersionNotFound");
        let err = aws.create_launch_template_version(&r, &version_of("lt-00000000000000099", 1, &first, "x")).await;
        let err = err.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("InvalidLaunchTemplateId.NotFound", AwsErrorKind::NotFound));
        let err = aws.create_launch_template_version(&r, &version_of("web", 1, &first, "x")).await.unwrap_err();
        assert_eq!(err.code, "InvalidLaunchTemplateId.Malformed");
    }

    #[tokio::test]
    async fn the_default_version_cannot_be_deleted() {
        let aws = MemoryAws::new(ACCOUNT);
        let template = aws.create_launch_template(region(), "web", None, Tags::new());
        let (r, id) = (region(), template.id.as_str());
        let image = ImageId::from("ami-00000000000000001");
        let from_1 = CreateLaunchTemplateVersion::new(id, 1, &image, "");
        for _ in 0..3 {
            aws.create_launch_template_version(&r, &from_1).await.unwrap();
        }
        aws.set_default_launch_template_version(&r, id, 3).await.unwrap();
        let err = aws.set_default_launch_template_version(&r, id, 7).await.unwrap_err();
        assert_eq!(err.code, "InvalidLaunchTemplateId.VersionNotFound");
        assert_eq!(aws.launch_template(&r, id).unwrap().default_version, 3);

        let refused = aws.delete_launch_template_versions(&r, id, &[1, 3, 4, 9]).await.unwrap();
        assert_eq!(
            refused,
            vec![
                (3, "Cannot delete the default version".to_owned()),
                (9, "The specified launch template version does not exist.".to_owned()),
            ]
        );
        let numbers: Vec<i64> = aws.launch_template_versions(&r, id).iter().map(|v| v.number).collect();
        assert_eq!(numbers, vec![3, 2]);
        // Numbers are not reused.
        let from_2 = CreateLaunchTemplateVersion::new(id, 2, &image, "");
        assert_eq!(aws.create_launch_template_version(&r, &from_2).await.unwrap(), 5);
    }
}
