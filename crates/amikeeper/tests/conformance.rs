//! The backend conformance suite on `MemoryAws` (the same scenarios run on the SDK backend
//! against moto in `amikeeper-aws`).

use amikeeper::conformance::{self, MemoryFixture};

#[tokio::test]
async fn seed_000_backup_to_fixed_version_parameter() {
    conformance::seed_000_backup_to_fixed_version_parameter(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn seed_001_parameter_from_tag() {
    conformance::seed_001_parameter_from_tag(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn seed_001_stack_from_tag() {
    conformance::seed_001_stack_from_tag(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn seed_002_asg_created_to_latest() {
    conformance::seed_002_asg_created_to_latest(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn seed_002_dlm_to_launch_template() {
    conformance::seed_002_dlm_to_launch_template(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn seed_003_scheduled_bake() {
    conformance::seed_003_scheduled_bake(&MemoryFixture::new()).await;
}

#[tokio::test]
async fn refusals_write_nothing() {
    conformance::refusals_write_nothing(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn sweep_keeps_what_is_in_use() {
    conformance::sweep_keeps_what_is_in_use(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn sweep_converges_after_failures() {
    conformance::sweep_converges_after_failures(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn protection_follows_the_pointers() {
    conformance::protection_follows_the_pointers(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn protection_someone_else_set_is_kept() {
    conformance::protection_someone_else_set_is_kept(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn rollback_with_a_group_releases_the_bad_ami() {
    conformance::rollback_with_a_group_releases_the_bad_ami(&MemoryFixture::new()).await;
}

#[tokio::test(start_paused = true)]
async fn seed_004_snapshot_generations() {
    conformance::seed_004_snapshot_generations(&MemoryFixture::new()).await;
}
