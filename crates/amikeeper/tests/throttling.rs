//! Throttling a backend absorbed (the AWS SDK retries a throttled attempt before amikeeper
//! sees an answer) counts in the sweep's `summary.throttled` and slows the sweep down, like a
//! throttle the sweep saw itself.

use std::sync::Arc;

use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::Region;
use amikeeper::retain::ItemStatus;
use amikeeper::retain::SweepStatus;
use amikeeper::{Config, Keeper, MemoryAws, SweepOptions};
use time::Duration;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

#[tokio::test(start_paused = true)]
async fn throttles_the_backend_retried_are_counted_and_slow_the_sweep() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    for i in 0..6 {
        aws.advance(Duration::days(10));
        aws.add_image(REGION, ImageSeed::new(format!("web-{i}")).tag("Role", "web"));
    }
    let config = Config::from_toml(&format!(
        "accounts = [\"{ACCOUNT}\"]\n[retention]\nmax_requests_per_second = 100\n\
         [[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1"
    ))
    .expect("valid config");
    // Throttled and retried inside the backend: the inventory once, three deregistrations;
    // throttled and given back to the sweep, which retries: one deregistration.
    aws.inject(Fault::on("ec2:DescribeImages", FaultKind::ThrottledThenRetried));
    aws.inject(Fault::on("ec2:DeregisterImage", FaultKind::ThrottledThenRetried).times(3));
    aws.inject(Fault::on("ec2:DeregisterImage", FaultKind::Throttling));

    let keeper = Keeper::new(config, aws.clone());
    let options = SweepOptions::default().apply(true).now(aws.now());
    let report = keeper.sweep(&Region::from(REGION), &options).await.expect("sweep runs");
    assert_eq!(aws.pending_faults(), 0);
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    assert_eq!(report.summary.images_retired, 5, "every action done: {:#?}", report.results);
    assert!(report.results.iter().all(|r| r.status == ItemStatus::Done));
    assert_eq!(report.summary.throttled, 5, "four retried in the backend, one by the sweep");
    let slowed = report.summary.slowed_to_per_second.expect("throttling slowed the sweep down");
    assert!(slowed < 100, "slowed below max_requests_per_second: {slowed}");
    let retried = report.results.iter().filter(|r| r.attempts == 2).count();
    assert_eq!(retried, 1, "only the throttle the backend gave back costs the sweep an attempt");
}
