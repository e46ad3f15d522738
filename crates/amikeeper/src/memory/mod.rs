//! [`MemoryAws`]: a faithful in-memory AWS account that implements every backend trait.
//!
//! It exists so that the whole of amikeeper can be tested, and demonstrated, without AWS: it
//! keeps EC2 images, snapshots, instances and launch templates, SSM parameters, Auto Scaling
//! groups and CloudFormation stacks, separately for every region, and answers the backend calls
//! the way the services do, with the services' own error codes.
//!
//! # What is faithful
//!
//! - **Regions** are isolated: a resource made in `eu-west-1` is invisible in `us-east-1`.
//! - **Images** start `pending` when made by `CreateImage` and become `available` after a
//!   number of `DescribeImages` calls ([`MemoryAws::set_pending_describes`], default 1: the
//!   first describe still says `pending`, the next says `available`). Creation times have EC2's
//!   one-second resolution and come from a logical clock ([`MemoryAws::now`], starting at
//!   [`EPOCH`]); each new image is at least one second newer than the one before. AMI names are
//!   unique per region (`InvalidAMIName.Duplicate`). A snapshot an image uses cannot be deleted
//!   (`InvalidSnapshot.InUse`).
//! - **Launch templates** keep numbered versions that are never reused; a new version copies
//!   its source version; the default version cannot be deleted.
//! - **SSM parameters** keep a history of at most 100 versions; the oldest one is dropped to
//!   make room, unless it carries a label (`ParameterMaxVersionLimitExceeded`). Names are
//!   checked like SSM checks them (no `aws`/`ssm` prefix, the allowed characters, hierarchy,
//!   length), and the `aws:ec2:image` data type wants an AMI id. Deleting a parameter forgets
//!   its history: the next put makes version 1 again.
//! - **Auto Scaling** refuses a launch template that does not exist, or a version it does not
//!   have, with `ValidationError` as Auto Scaling does. It keeps every instance refresh started
//!   ([`MemoryAws::instance_refreshes`]) and refuses a second one while a group's refresh is in
//!   progress (`InstanceRefreshInProgress`); a refresh stays in progress until
//!   [`MemoryAws::finish_instance_refreshes`].
//! - **CloudFormation** refuses to update a stack that is busy or in a state that cannot be
//!   updated, wants every parameter named (a value or `UsePreviousValue`) and refuses unknown
//!   ones, and answers "no updates are to be performed"
//!   ([`StackUpdate::NoChange`](crate::model::StackUpdate::NoChange)) when nothing changes.
//! - **Allowed AMIs**: each region has the account's setting (state and image criteria,
//!   [`MemoryAws::set_allowed_images_state`], [`MemoryAws::replace_image_criteria`]), which
//!   `DescribeImages` applies as EC2 does: `ImageAllowed` while it is on, and images that are not
//!   allowed hidden while it is `enabled`. The account's own images are always allowed; images
//!   other accounts share ([`MemoryAws::add_sharing_account`]) are judged by the criteria.
//! - **Faults**: scripted ([`MemoryAws::inject`]) or seeded-random
//!   ([`MemoryAws::inject_random`]) throttling, server errors and timeouts, with each service's
//!   error code (`RequestLimitExceeded` for EC2, `ThrottlingException` for SSM, `Throttling`
//!   for Auto Scaling and CloudFormation, ...). A faulted call has no effect, except
//!   [`FaultKind::TimeoutAfterEffect`], which models a lost answer, and
//!   [`FaultKind::ThrottledThenRetried`], which models a throttle the SDK retried by itself.
//! - **EventBridge** takes at most 10 entries and 256 KB a call, and fails single entries
//!   (a malformed detail, a bus that does not exist, [`MemoryAws::fail_event_entries`]) while
//!   the call succeeds; the events accepted stay on the bus ([`MemoryAws::bus_events`]).
//! - Every call is recorded ([`MemoryAws::calls`]) as `service:Operation`, with the same names
//!   as [`CountingAws`](crate::backend::CountingAws).
//!
//! # Limits
//!
//! - One account; there are no permissions and no quotas beyond the ones named above. Other
//!   accounts are other `MemoryAws`es, reached by `AssumeRole` ([`MemoryAws::add_role`]); the
//!   cross-account paths are `CopyImage` of an image another account shared
//!   ([`MemoryAws::add_sharing_account`]), and `DescribeImages` of such an image by its id.
//! - Everything is strongly consistent and immediate: CloudFormation updates complete at once
//!   (use [`MemoryAws::set_stack_status`] to simulate one in progress), images become available
//!   after describes rather than after time passes, and `aws:ec2:image` parameters are not
//!   checked against the images that exist.
//! - A launch template version holds only an image id and a description; instances hold only
//!   their image, state and tags; volumes only their tags and attachments; stacks have
//!   parameters but no template or resources.
//! - The inherent helpers that set up a scenario (`add_image`, `create_stack`, ...) are neither
//!   recorded nor faulted; they panic on misuse (a duplicate id, an unknown resource) because
//!   such a test is wrong.

mod allowed;
mod autoscaling;
mod cloudformation;
mod ec2;
mod events;
pub(crate) mod faults;
mod faulty;
mod rbin;
mod references;
mod ssm;
mod sts;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub use autoscaling::InstanceRefresh;
pub use ec2::{ImageSeed, SNAPSHOT_GIB};
pub use events::BusEvent;
pub use faults::{Fault, FaultKind, SplitMix64};
pub use faulty::FaultyAws;

use crate::error::{AwsError, AwsErrorKind};
use crate::model::{AccountId, AutoScalingGroup, ImageId, RecycleBinRule, Region};
use faults::FaultPlan;

/// The time the logical clock of a new [`MemoryAws`] starts at: 2026-01-01T00:00:00Z.
pub const EPOCH: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

/// Anything that names a region: `&str`, `String`, [`Region`] or `&Region`.
pub trait IntoRegion {
    /// The region named.
    fn into_region(self) -> Region;
}

impl IntoRegion for &str {
    fn into_region(self) -> Region {
        Region::from(self)
    }
}

impl IntoRegion for String {
    fn into_region(self) -> Region {
        Region::from(self)
    }
}

impl IntoRegion for &String {
    fn into_region(self) -> Region {
        Region::from(self.as_str())
    }
}

impl IntoRegion for Region {
    fn into_region(self) -> Region {
        self
    }
}

impl IntoRegion for &Region {
    fn into_region(self) -> Region {
        self.clone()
    }
}

/// A faithful in-memory AWS account: EC2, SSM, Auto Scaling and CloudFormation, per region.
///
/// Share it as `Arc<MemoryAws>` (or `Arc<dyn Aws>`); all state sits behind one mutex that is
/// never held across an `.await`.
#[derive(Debug)]
pub struct MemoryAws {
    account: AccountId,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    world: World,
    faults: FaultPlan,
    calls: Vec<String>,
}

/// The resources of the account and the clock.
#[derive(Debug)]
struct World {
    account: AccountId,
    now: OffsetDateTime,
    last_image_created: Option<OffsetDateTime>,
    counters: BTreeMap<&'static str, u64>,
    pending_describes: u32,
    /// Whether `DescribeImageReferences` exists here (it does not in some regions and partitions).
    image_references: bool,
    /// `DeregisterImage` with `DeleteAssociatedSnapshots` leaves every snapshot (as EC2 does
    /// for a snapshot it could not delete: `client-error` in its result set).
    deregister_keeps_snapshots: bool,
    /// The error code `GetAllowedImagesSettings` fails with, if it does
    /// ([`MemoryAws::set_allowed_images_settings_error`]).
    allowed_images_error: Option<String>,
    /// Other accounts, by the role that reaches them.
    roles: BTreeMap<String, std::sync::Arc<MemoryAws>>,
    /// Other accounts whose images shared with this one `CopyImage` can copy
    /// ([`MemoryAws::add_sharing_account`]).
    sharing_accounts: Vec<std::sync::Weak<MemoryAws>>,
    /// EventBridge: the buses and the events put on them.
    buses: events::Buses,
    regions: BTreeMap<Region, RegionState>,
}

/// The resources of one region.
#[derive(Debug, Default)]
struct RegionState {
    instances: BTreeMap<String, ec2::InstanceRecord>,
    volumes: BTreeMap<String, ec2::VolumeRecord>,
    images: BTreeMap<ImageId, ec2::ImageRecord>,
    snapshots: BTreeMap<String, ec2::SnapshotRecord>,
    templates: BTreeMap<String, ec2::TemplateRecord>,
    parameters: BTreeMap<String, ssm::ParameterRecord>,
    groups: BTreeMap<String, AutoScalingGroup>,
    /// Every instance refresh started, oldest first.
    instance_refreshes: Vec<InstanceRefresh>,
    launch_configurations: BTreeMap<String, ImageId>,
    stacks: BTreeMap<String, cloudformation::StackRecord>,
    /// Image Builder recipes (ARN → parent image): seen only through `DescribeImageReferences`.
    image_recipes: BTreeMap<String, ImageId>,
    /// `CopyImage` client tokens and the copies they made.
    copy_tokens: BTreeMap<String, ImageId>,
    recycle_bin_rules: Vec<RecycleBinRule>,
    /// The Allowed AMIs setting of the region (state and criteria).
    allowed_images: crate::model::AllowedImagesSettings,
}

impl World {
    fn region(&mut self, region: &Region) -> &mut RegionState {
        self.regions.entry(region.clone()).or_default()
    }

    /// A fresh id such as `ami-00000000000000001`: the prefix and a 17-hex-digit counter.
    fn next_id(&mut self, prefix: &'static str) -> String {
        let counter = self.counters.entry(prefix).or_insert(0);
        *counter += 1;
        format!("{prefix}-{:017x}", *counter)
    }

    /// The creation time of a new image: now, but at least a second after the previous one.
    fn next_image_time(&mut self) -> OffsetDateTime {
        let now = self.now.replace_nanosecond(0).unwrap_or(self.now);
        let created = match self.last_image_created {
            Some(last) if last + Duration::SECOND > now => last + Duration::SECOND,
            _ => now,
        };
        self.last_image_created = Some(created);
        if created > self.now {
            self.now = created;
        }
        created
    }
}

/// Builds an error of operation `op` (`service:Operation`).
fn aws_error(op: &str, kind: AwsErrorKind, code: &str, message: impl Into<String>) -> AwsError {
    let (service, operation) = op.split_once(':').unwrap_or(("", op));
    AwsError::new(service, operation, kind, code, message)
}

impl MemoryAws {
    /// An empty account with id `account`, its clock at [`EPOCH`].
    pub fn new(account: impl Into<AccountId>) -> Self {
        let account = account.into();
        Self {
            account: account.clone(),
            inner: Mutex::new(Inner {
                world: World {
                    account,
                    now: EPOCH,
                    last_image_created: None,
                    counters: BTreeMap::new(),
                    pending_describes: 1,
                    image_references: true,
                    deregister_keeps_snapshots: false,
                    allowed_images_error: None,
                    roles: BTreeMap::new(),
                    sharing_accounts: Vec::new(),
                    buses: events::Buses::default(),
                    regions: BTreeMap::new(),
                },
                faults: FaultPlan::default(),
                calls: Vec::new(),
            }),
        }
    }

    /// The account id.
    pub fn account_id(&self) -> &AccountId {
        &self.account
    }

    /// The time on the logical clock.
    pub fn now(&self) -> OffsetDateTime {
        self.lock().world.now
    }

    /// Moves the logical clock by `by` (images made later are still strictly newer).
    pub fn advance(&self, by: Duration) {
        let mut inner = self.lock();
        inner.world.now += by;
    }

    /// Sets the logical clock.
    pub fn set_now(&self, now: OffsetDateTime) {
        self.lock().world.now = now;
    }

    /// Queues a scripted fault; queued faults are consumed in order by the calls they match.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Fails each call not hit by a queued fault with `probability`, with one of `kinds`
    /// (all of throttling, server error and timeout when empty), from a PRNG seeded by `seed`.
    pub fn inject_random(&self, seed: u64, probability: f64, kinds: &[FaultKind]) {
        self.lock().faults.set_random(seed, probability, kinds);
    }

    /// Removes every queued fault and stops random faults.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// How many faulted calls the queued faults still have in store.
    pub fn pending_faults(&self) -> u32 {
        self.lock().faults.remaining()
    }

    /// Every operation attempted, in order, as `service:Operation` (faulted calls included).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// How many times `operation` (`service:Operation`) was attempted.
    pub fn call_count(&self, operation: &str) -> usize {
        self.lock().calls.iter().filter(|call| call.as_str() == operation).count()
    }

    /// Forgets the recorded calls.
    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a setup or inspection helper on the world: not recorded, never faulted.
    fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.lock().world)
    }

    /// Runs operation `op`: records it, applies a due fault, else runs `f` on the world.
    fn call<T>(&self, op: &'static str, f: impl FnOnce(&mut World) -> Result<T, AwsError>) -> Result<T, AwsError> {
        let mut inner = self.lock();
        inner.calls.push(op.to_owned());
        match inner.faults.next_fault(op) {
            None => f(&mut inner.world),
            Some(FaultKind::TimeoutAfterEffect) => {
                // The service did the work; only the answer was lost.
                let _ = f(&mut inner.world);
                Err(faults::fault_error(op, FaultKind::TimeoutAfterEffect))
            }
            Some(FaultKind::ThrottledThenRetried) => {
                // Throttled once, then the backend's own retry went through, as the SDK's does.
                crate::backend::report_throttled_attempt();
                f(&mut inner.world)
            }
            Some(kind) => Err(faults::fault_error(op, kind)),
        }
    }
}

/// Operation names, the same as [`CountingAws`](crate::backend::CountingAws) records.
mod ops {
    pub const DESCRIBE_IMAGES: &str = "ec2:DescribeImages";
    pub const CREATE_IMAGE: &str = "ec2:CreateImage";
    pub const COPY_IMAGE: &str = "ec2:CopyImage";
    pub const MODIFY_IMAGE_ATTRIBUTE: &str = "ec2:ModifyImageAttribute";
    pub const MODIFY_SNAPSHOT_ATTRIBUTE: &str = "ec2:ModifySnapshotAttribute";
    pub const DEREGISTER_IMAGE: &str = "ec2:DeregisterImage";
    pub const DELETE_SNAPSHOT: &str = "ec2:DeleteSnapshot";
    pub const DESCRIBE_LAUNCH_TEMPLATES: &str = "ec2:DescribeLaunchTemplates";
    pub const DESCRIBE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DescribeLaunchTemplateVersions";
    pub const CREATE_LAUNCH_TEMPLATE_VERSION: &str = "ec2:CreateLaunchTemplateVersion";
    pub const MODIFY_LAUNCH_TEMPLATE: &str = "ec2:ModifyLaunchTemplate";
    pub const DELETE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DeleteLaunchTemplateVersions";
    pub const DESCRIBE_SNAPSHOTS: &str = "ec2:DescribeSnapshots";
    pub const DESCRIBE_VOLUMES: &str = "ec2:DescribeVolumes";
    pub const DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";
    pub const ENABLE_IMAGE_DEPRECATION: &str = "ec2:EnableImageDeprecation";
    pub const DISABLE_IMAGE: &str = "ec2:DisableImage";
    pub const CREATE_TAGS: &str = "ec2:CreateTags";
    pub const DESCRIBE_IMAGE_REFERENCES: &str = "ec2:DescribeImageReferences";
    pub const GET_ALLOWED_IMAGES_SETTINGS: &str = "ec2:GetAllowedImagesSettings";
    pub const LIST_RECYCLE_BIN_RULES: &str = "rbin:ListRules";
    pub const ASSUME_ROLE: &str = "sts:AssumeRole";
    pub const ENABLE_DEREGISTRATION_PROTECTION: &str = "ec2:EnableImageDeregistrationProtection";
    pub const DISABLE_DEREGISTRATION_PROTECTION: &str = "ec2:DisableImageDeregistrationProtection";
    pub const GET_PARAMETER: &str = "ssm:GetParameter";
    pub const GET_PARAMETERS_BY_PATH: &str = "ssm:GetParametersByPath";
    pub const DESCRIBE_PARAMETERS: &str = "ssm:DescribeParameters";
    pub const GET_PARAMETERS: &str = "ssm:GetParameters";
    pub const LIST_IMAGE_RECIPES: &str = "imagebuilder:ListImageRecipes";
    pub const GET_PARAMETER_HISTORY: &str = "ssm:GetParameterHistory";
    pub const PUT_PARAMETER: &str = "ssm:PutParameter";
    pub const DELETE_PARAMETER: &str = "ssm:DeleteParameter";
    pub const DESCRIBE_AUTO_SCALING_GROUPS: &str = "autoscaling:DescribeAutoScalingGroups";
    pub const UPDATE_AUTO_SCALING_GROUP: &str = "autoscaling:UpdateAutoScalingGroup";
    pub const START_INSTANCE_REFRESH: &str = "autoscaling:StartInstanceRefresh";
    pub const DESCRIBE_LAUNCH_CONFIGURATIONS: &str = "autoscaling:DescribeLaunchConfigurations";
    pub const DESCRIBE_STACKS: &str = "cloudformation:DescribeStacks";
    pub const UPDATE_STACK: &str = "cloudformation:UpdateStack";
    pub const PUT_EVENTS: &str = "events:PutEvents";
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::{Aws, Ec2Api, SsmApi};
    use crate::model::{ImageState, ParameterType, PutParameter, Tags};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_sync_and_a_dyn_aws() {
        assert_send_sync::<MemoryAws>();
        let aws: Arc<dyn Aws> = Arc::new(MemoryAws::new("111122223333"));
        drop(aws);
    }

    #[test]
    fn ids_are_deterministic() {
        let aws = MemoryAws::new("111122223333");
        let first = aws.add_image("eu-west-1", ImageSeed::new("a"));
        let second = aws.add_image("us-east-1", ImageSeed::new("b"));
        assert_eq!(first.as_str(), "ami-00000000000000001");
        assert_eq!(second.as_str(), "ami-00000000000000002");
        assert_eq!(first.as_str().len(), "ami-0123456789abcdef0".len());
        let instance = aws.add_instance("eu-west-1", None, Tags::new());
        assert_eq!(instance, "i-00000000000000001");
        assert_eq!(aws.account_id().as_str(), "111122223333");
    }

    #[test]
    fn image_times_are_strictly_increasing_and_follow_the_clock() {
        let aws = MemoryAws::new("111122223333");
        assert_eq!(aws.now(), EPOCH);
        let a = aws.add_image("eu-west-1", ImageSeed::new("a"));
        let b = aws.add_image("eu-west-1", ImageSeed::new("b"));
        aws.advance(Duration::days(1));
        let c = aws.add_image("eu-west-1", ImageSeed::new("c"));
        let created = |id: &ImageId| aws.image("eu-west-1", id).unwrap().created;
        assert_eq!(created(&a), EPOCH);
        assert_eq!(created(&b), EPOCH + Duration::SECOND);
        assert_eq!(created(&c), EPOCH + Duration::SECOND + Duration::days(1));
        // Going back in time does not make a newer image look older.
        aws.advance(-Duration::days(2));
        let d = aws.add_image("eu-west-1", ImageSeed::new("d"));
        assert_eq!(created(&d), created(&c) + Duration::SECOND);
        // An explicit time is kept as it is.
        let e = aws.add_image("eu-west-1", ImageSeed::new("e").created(EPOCH - Duration::days(90)));
        assert_eq!(created(&e), EPOCH - Duration::days(90));
    }

    #[tokio::test]
    async fn regions_are_isolated() {
        let aws = MemoryAws::new("111122223333");
        let west = Region::from("eu-west-1");
        let east = Region::from("ap-southeast-1");
        let image = aws.add_image(&west, ImageSeed::new("web-1"));
        assert!(aws.describe_image(&west, &image).await.unwrap().is_some());
        assert!(aws.describe_image(&east, &image).await.unwrap().is_none());

        let put = PutParameter {
            name: "/ami/web".into(),
            value: image.to_string(),
            kind: ParameterType::String,
            data_type: Some("aws:ec2:image".into()),
            overwrite: false,
            description: None,
        };
        assert_eq!(aws.put_parameter(&east, &put).await.unwrap(), 1);
        assert!(aws.get_parameter(&west, "/ami/web").await.unwrap().is_none());
        assert_eq!(aws.put_parameter(&west, &put).await.unwrap(), 1);

        let template = aws.create_launch_template(&east, "web", None, Tags::new());
        assert!(aws.launch_template(&west, &template.id).is_none());
        let err = aws.describe_launch_template_versions(&west, &template.id).await.unwrap_err();
        assert_eq!(err.code, "InvalidLaunchTemplateId.NotFound");

        aws.create_stack(&east, "web", BTreeMap::new());
        assert!(aws.stack(&west, "web").is_none());
        assert_eq!(aws.image(&east, &image), None);
        assert_eq!(aws.image(&west, &image).unwrap().state, ImageState::Available);
    }

    #[tokio::test]
    async fn calls_are_recorded_including_faulted_ones() {
        let aws = MemoryAws::new("111122223333");
        let region = Region::from("eu-west-1");
        aws.inject(Fault::on("ssm:GetParameter", FaultKind::Throttling));
        assert!(aws.get_parameter(&region, "/x").await.is_err());
        assert!(aws.get_parameter(&region, "/x").await.is_ok());
        let image = ImageId::from("ami-00000000000000009");
        assert!(aws.describe_image(&region, &image).await.unwrap().is_none());
        assert_eq!(aws.calls(), vec!["ssm:GetParameter", "ssm:GetParameter", "ec2:DescribeImages"]);
        assert_eq!(aws.call_count("ssm:GetParameter"), 2);
        aws.reset_calls();
        assert!(aws.calls().is_empty());
    }
}
