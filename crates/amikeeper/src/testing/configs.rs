//! The test configurations, one TOML file each in `src/testing/configs/`: every configuration
//! a test of this workspace names (beyond the seed configurations of
//! [`samples::configs`](crate::samples::configs)), in one place. Each names the sample account
//! [`ACCOUNT`](super::ACCOUNT); [`in_account`](crate::samples::configs::in_account) puts
//! another one in, [`fill`](super::fill) fills a `{placeholder}`.

/// Every AMI goes to `/ami/web` (no match, no retention): the configuration module's tests, the
/// wheel's `test_errors.py`.
pub const ANY_AMI_TO_PARAMETER: &str = include_str!("configs/any-ami-to-parameter.toml");

/// Every `app-` AMI from AWS Backup goes to `/ami/app`; one kept per prefix (`tests/protection.rs`).
pub const APP_PARAMETER_KEEP_ONE: &str = include_str!("configs/app-parameter-keep-one.toml");

/// Every kind of pointer, a tag-named parameter and retention (`tests/chaos.rs`, which turns `protect_published` off or leaves it on).
pub const CHAOS: &str = include_str!("configs/chaos.toml");

/// The command-line bake against moto: `{account}`, builder `{builder}` (`amikeeper-cli/tests/bake.rs`).
pub const CLI_NIGHTLY_BAKE: &str = include_str!("configs/cli-nightly-bake.toml");

/// A parameter and a stack from tags, in `{account}` (`amikeeper-cli/tests/moto.rs`).
pub const CLI_PARAMETER_AND_STACK_FROM_TAGS: &str = include_str!("configs/cli-parameter-and-stack-from-tags.toml");

/// A parameter from the AMI's tag on AWS Backup jobs, in `{account}` (`amikeeper-cli/tests/moto.rs`,
/// the wheel's `test_api.py`).
pub const CLI_PARAMETER_FROM_TAG: &str = include_str!("configs/cli-parameter-from-tag.toml");

/// Copies to the DR region, a consumer account and two fleet accounts (`tests/iam.rs`).
pub const COPIES_CONSUMERS_FLEET: &str = include_str!("configs/copies-consumers-fleet.toml");

/// Every kind of target, a bake, and every part of retention: a policy for everything (`tests/iam.rs`).
pub const EVERYTHING: &str = include_str!("configs/everything.toml");

/// Every `app-` AMI goes to the fixed-version parameter `app-fixed`.
pub const FIXED_VERSION_PARAMETER: &str = include_str!("configs/fixed-version-parameter.toml");

/// Every `web-` AMI goes to `/golden/web`, a parameter of the toy kind `golden_parameter` that
/// only `tests/pointer_kinds.rs` registers, and to `/ami/web`; one image kept.
pub const GOLDEN_AND_SSM_PARAMETER: &str = include_str!("configs/golden-and-ssm-parameter.toml");

/// Seed 001's configuration, plus a rule whose parameter name comes from a tag on any event (`tests/hostile.rs`).
pub const HOSTILE_TAGGED: &str = include_str!("configs/hostile-tagged.toml");

/// Retention only, in `{account}`: one image kept per `Role`, parameters under `/ami/` read.
pub const KEEP_ONE_PER_ROLE: &str = include_str!("configs/keep-one-per-role.toml");

/// Retention body (no `accounts`) of the conformance suite's image sweeps: two kept per `Role`, one template version.
pub const KEEP_TWO_PER_ROLE: &str = include_str!("configs/keep-two-per-role.toml");

/// A bake rule with a launch template, a group refreshed once moved and a parameter, plus a rule without `bake` (`tests/bake.rs`).
pub const NIGHTLY_BAKE: &str = include_str!("configs/nightly-bake.toml");

/// A parameter named by the AMI's tag on AWS Backup jobs, and one image kept per such tag
/// (`tests/invoke.rs`, the embedded service's test).
pub const PARAMETER_FROM_TAG_KEEP_ONE: &str = include_str!("configs/parameter-from-tag-keep-one.toml");

/// Three parameters (one per region, one from a tag, one fixed) and a retention path
/// (`retain::inventory`'s test of where parameters are read).
pub const PARAMETER_SOURCES: &str = include_str!("configs/parameter-sources.toml");

/// Body (no `accounts`) of the conformance scenario `protection_someone_else_set_is_kept`.
pub const PROTECTED_ONE_KEPT: &str = include_str!("configs/protected-one-kept.toml");

/// Body (no `accounts`) of the conformance scenario `protection_follows_the_pointers`.
pub const PROTECTED_PARAMETER: &str = include_str!("configs/protected-parameter.toml");

/// Every new AMI to launch template `{template}` in `{account}`, keeping one version (`amikeeper-aws/tests/moto.rs`).
pub const PRUNE_TEMPLATE: &str = include_str!("configs/prune-template.toml");

/// Every pointer a race moves, for AMIs named `{prefix}...`: parameter `{parameter}`, fixed-version parameter `{fixed}` and launch template `{template}` ([`Race`](crate::conformance::Race)).
pub const RACE: &str = include_str!("configs/race.toml");

/// Retention body (no `accounts`): `web-` images between 15 and 25 days old, at most 2 a run.
pub const RETENTION_AGES: &str = include_str!("configs/retention-ages.toml");

/// Retention body (no `accounts`): the last AMIs a parameter named are kept (`tests/sweep.rs`).
pub const RETENTION_PUBLISHED_TO: &str = include_str!("configs/retention-published-to.toml");

/// Retention body (no `accounts`): images by `Role`, the newest kept, older ones deprecated, disabled, then deleted as they age.
pub const RETENTION_STAGES: &str = include_str!("configs/retention-stages.toml");

/// Every kind of pointer of rule `web` (`web-` AMIs), copied to `ap-northeast-3`: rejection and
/// revocation (`tests/revoke.rs`, the moto and wheel tests of `revoke`).
pub const REVOKE: &str = include_str!("configs/revoke.toml");

/// Body (no `accounts`) of the conformance scenario `rollback_with_a_group_releases_the_bad_ami`.
pub const ROLLBACK_WITH_GROUP: &str = include_str!("configs/rollback-with-group.toml");

/// A bake of builder `{builder}` in `{account}` that moves a template, a refreshed group and a parameter (`amikeeper-aws/tests/moto.rs`).
pub const SDK_BAKE: &str = include_str!("configs/sdk-bake.toml");

/// A parameter and a launch template id from SecureString parameters (`tests/hostile.rs`).
pub const SECRETS_TO_REPORT: &str = include_str!("configs/secrets-to-report.toml");

/// A parameter that holds a secret, and a sweep that reads it (`tests/hostile.rs`).
pub const SECRET_PARAMETER_AND_SWEEP: &str = include_str!("configs/secret-parameter-and-sweep.toml");

/// A launch template id from a SecureString parameter (`tests/hostile.rs`).
pub const SECRET_TEMPLATE_ID: &str = include_str!("configs/secret-template-id.toml");

/// A parameter name from a tag without `allowed_name_prefixes`: a configuration error.
pub const TAG_NAME_WITHOUT_ALLOW_LIST: &str = include_str!("configs/tag-name-without-allow-list.toml");

/// A sweep of every `Role` image in `{account}`, paced, without the reference and Recycle Bin checks (`amikeeper-aws/tests/throttling.rs`).
pub const THROTTLED_SWEEP: &str = include_str!("configs/throttled-sweep.toml");

/// Every `web-` AMI goes to `/ami/web`, copied to this account's DR region and to another account's through a role.
pub const WEB_COPY_CROSS_ACCOUNT: &str = include_str!("configs/web-copy-cross-account.toml");

/// Every `web-` AMI goes to `/ami/web`, copied to the DR region `ap-northeast-3`.
pub const WEB_COPY_TO_DR: &str = include_str!("configs/web-copy-to-dr.toml");

/// Every `web-` AMI goes to the fixed-version parameter `/ami/fixed`.
pub const WEB_FIXED_PARAMETER: &str = include_str!("configs/web-fixed-parameter.toml");

/// Every `web-` AMI goes to `/ami/web`.
pub const WEB_PARAMETER: &str = include_str!("configs/web-parameter.toml");

/// Stack `web` (with `CAPABILITY_IAM`) takes every AMI.
pub const WEB_STACK: &str = include_str!("configs/web-stack.toml");

/// Every `web-` AMI goes to launch template `web`, unprotected.
pub const WEB_TEMPLATE_UNPROTECTED: &str = include_str!("configs/web-template-unprotected.toml");
