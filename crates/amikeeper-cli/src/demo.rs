//! `amikeeper demo`: every seed flow on an in-memory AWS account, told step by step.

use std::collections::BTreeMap;
use std::sync::Arc;

use amikeeper::events::parse_payload;
use amikeeper::memory::ImageSeed;
use amikeeper::model::{LaunchTemplateSpec, Tags, STACK_NAME_TAG};
use amikeeper::samples::{configs, Origin};
use amikeeper::{Config, Keeper, MemoryAws, Report, SweepStatus};
use serde_json::Value;

const ACCOUNT: &str = "111122223333";
const TOKYO: &str = "ap-northeast-1";
const SINGAPORE: &str = "ap-southeast-1";
const BACKUP_INSTANCE: &str = "i-0a1b2c3d4e5f60718";
const BUILDER: &str = configs::SEED_003_BUILDER;

/// The demo's retention: keep the newest `web-` AMI and anything a pointer names, and 2 launch
/// template versions. Seed 004's snapshot generations come from its seed configuration.
const DEMO_RETENTION: &str = r#"
accounts = ["111122223333"]
[retention]
parameter_paths = ["/ami/"]
[[retention.images]]
group_by = { name_prefix = ["web-"] }
keep_newest = 1
[retention.launch_templates]
keep_versions = 2
"#;

/// The configuration the demo runs with: the rules of every seed configuration
/// (`amikeeper::samples::configs`, the files `docs/guides/` shows), with no wait for pending
/// AMIs, and the demo's retention with seed 004's snapshot generations.
fn demo_config() -> Result<Config, String> {
    let load = |text: &str| Config::from_toml(text).map_err(|e| e.to_string());
    let mut config = load(configs::SEED_000_BACKUP_TO_PARAMETER)?;
    for text in [
        configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS,
        configs::SEED_002_ASG_TO_LATEST,
        configs::SEED_002_DLM_TO_LAUNCH_TEMPLATE,
        configs::SEED_003_NIGHTLY_BAKE,
    ] {
        let seed = load(text)?;
        config.rules.extend(seed.rules);
        for prefix in seed.allowed_name_prefixes {
            if !config.allowed_name_prefixes.contains(&prefix) {
                config.allowed_name_prefixes.push(prefix);
            }
        }
    }
    config.wait.timeout_seconds = 0;
    let mut retention = load(DEMO_RETENTION)?.retention.ok_or("the demo's retention is missing")?;
    let generations = load(configs::SEED_004_SNAPSHOT_GENERATIONS)?.retention.and_then(|r| r.snapshots);
    retention.snapshots = Some(generations.ok_or("seed 004 has no [retention.snapshots]")?);
    config.retention = Some(retention);
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

struct Demo {
    aws: Arc<MemoryAws>,
    keeper: Keeper,
    json: bool,
    events: usize,
}

impl Demo {
    async fn send(&mut self, what: &str, payload: Value) -> Result<Report, String> {
        self.events += 1;
        println!("  event: {what}");
        let events = parse_payload(payload.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let mut last = None;
        for event in &events {
            let report = self.keeper.handle(event).await;
            print_report(&report);
            if self.json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            }
            last = Some(report);
        }
        last.ok_or_else(|| "empty payload".to_owned())
    }

    fn check(&self, what: &str, ok: bool) -> Result<(), String> {
        if ok {
            println!("  state: {what}");
            Ok(())
        } else {
            Err(format!("demo check failed: {what}"))
        }
    }
}

fn print_report(report: &Report) {
    let status = serde_json::to_value(report.status).ok().and_then(|v| v.as_str().map(str::to_owned));
    let status = status.unwrap_or_default();
    match &report.reason {
        Some(reason) => println!("    {status}: {reason}"),
        None if report.aws_calls == 1 => println!("    {status} (1 AWS call)"),
        None => println!("    {status} ({} AWS calls)", report.aws_calls),
    }
    for target in &report.targets {
        let moved = match (&target.outcome.from, &target.outcome.to) {
            (Some(from), Some(to)) if from != to => format!(": {from} -> {to}"),
            (None, Some(to)) => format!(": -> {to}"),
            _ => String::new(),
        };
        println!(
            "    - {:<9} {}{moved}\n                {}",
            target.outcome.status.as_str(),
            target.target,
            target.outcome.reason
        );
        for note in &target.outcome.notes {
            println!("                {note}");
        }
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Runs the demo; `Err` names the first expectation that did not hold.
pub async fn run(json: bool) -> Result<(), String> {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let config = demo_config()?;
    let keeper = Keeper::new(config, aws.clone());
    let mut demo = Demo { aws, keeper, json, events: 0 };
    println!("amikeeper demo: every seed flow on an in-memory AWS account ({ACCOUNT})\n");
    seed_000(&mut demo).await?;
    seed_001(&mut demo).await?;
    seed_002(&mut demo).await?;
    seed_003(&mut demo).await?;
    safety(&mut demo).await?;
    retention(&mut demo).await?;
    println!("\n{} events handled, one region swept; every check held.", demo.events);
    Ok(())
}

async fn seed_000(demo: &mut Demo) -> Result<(), String> {
    println!("== Seed 000: AWS Backup AMI -> SSM parameter `{BACKUP_INSTANCE}` at version 1, Tokyo and DR Singapore");
    let aws = demo.aws.clone();
    let old = aws.add_image(TOKYO, ImageSeed::new(format!("AWSBackup_{BACKUP_INSTANCE}_previous")));
    aws.set_parameter(TOKYO, BACKUP_INSTANCE, old.as_str()).map_err(|e| e.to_string())?;
    let name = format!("AWSBackup_{BACKUP_INSTANCE}_7f3e2a");
    let new = aws.add_image(TOKYO, ImageSeed::new(&name).pending());
    let tokyo = Origin::new(ACCOUNT, TOKYO, "000-create");
    demo.send(
        "CloudTrail CreateImage (the AMI is still pending)",
        tokyo.create_image(new.as_str(), BACKUP_INSTANCE, &name, "AWS Backup"),
    )
    .await?;
    let value = aws.parameter(TOKYO, BACKUP_INSTANCE).map(|p| p.value);
    demo.check(
        "the parameter still names the previous AMI: a pending AMI is never published",
        value.as_deref() == Some(old.as_str()),
    )?;
    let tokyo = Origin::new(ACCOUNT, TOKYO, "000-available");
    demo.send("EC2 AMI State Change: available", tokyo.image_state_change(new.as_str(), "available")).await?;
    let parameter = aws.parameter(TOKYO, BACKUP_INSTANCE);
    demo.check(
        "Tokyo parameter names the new AMI at version 1 ({{resolve:ssm:NAME:1}} keeps working)",
        parameter.is_some_and(|p| p.value == new.as_str() && p.version == 1),
    )?;
    let copy = aws.add_image(SINGAPORE, ImageSeed::new(&name));
    let dr = Origin::new(ACCOUNT, SINGAPORE, "000-copy");
    demo.send("CloudTrail CopyImage in ap-southeast-1", dr.copy_image(copy.as_str(), new.as_str(), TOKYO, &name))
        .await?;
    let parameter = aws.parameter(SINGAPORE, BACKUP_INSTANCE);
    demo.check(
        "Singapore parameter names the copy: the region came from the event",
        parameter.is_some_and(|p| p.value == copy.as_str()),
    )?;
    println!();
    Ok(())
}

async fn seed_001(demo: &mut Demo) -> Result<(), String> {
    println!("== Seed 001: AWS Backup job COMPLETED -> the parameter or stack named by the AMI's tags");
    let aws = demo.aws.clone();
    let old = aws.add_image(TOKYO, ImageSeed::new("web-previous"));
    aws.set_parameter(TOKYO, "/ami/web", old.as_str()).map_err(|e| e.to_string())?;
    aws.create_stack(
        TOKYO,
        "solution2",
        BTreeMap::from([("ImageId".to_owned(), old.to_string()), ("InstanceType".to_owned(), "t2.small".to_owned())]),
    );
    let new = aws.add_image(
        TOKYO,
        ImageSeed::new("AwsBackup_web_1").tag("ImageIdParameterName", "/ami/web").tag("StackName", "solution2"),
    );
    let origin = Origin::new(ACCOUNT, TOKYO, "001-backup");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    demo.send("Backup Job State Change: COMPLETED", event.clone()).await?;
    demo.check(
        "/ami/web names the new AMI",
        aws.parameter(TOKYO, "/ami/web").is_some_and(|p| p.value == new.as_str()),
    )?;
    let stack = aws.stack(TOKYO, "solution2");
    demo.check(
        "stack solution2 has ImageId = the new AMI, InstanceType kept (UsePreviousValue)",
        stack.is_some_and(|s| s.parameters["ImageId"] == new.as_str() && s.parameters["InstanceType"] == "t2.small"),
    )?;
    demo.send("the same event, delivered twice", event).await?;
    demo.check(
        "no second version: /ami/web is at version 2",
        aws.parameter(TOKYO, "/ami/web").is_some_and(|p| p.version == 2),
    )?;
    println!();
    Ok(())
}

async fn seed_002(demo: &mut Demo) -> Result<(), String> {
    println!("== Seed 002: CloudFormation's ASG -> $Latest; DLM's EC2_BACKUP AMI -> launch template default, keep 3");
    let aws = demo.aws.clone();
    let base = aws.add_image(TOKYO, ImageSeed::new("app-base"));
    let stack_tags = tags(&[(STACK_NAME_TAG, "app")]);
    let template = aws.create_launch_template(TOKYO, "app", Some(base), stack_tags.clone());
    aws.set_parameter(TOKYO, "/app/launch-template-id", &template.id).map_err(|e| e.to_string())?;
    aws.create_auto_scaling_group(
        TOKYO,
        "app-asg",
        LaunchTemplateSpec { id: template.id.clone(), version: "1".into() },
        stack_tags,
    );
    let origin = Origin::new(ACCOUNT, TOKYO, "002-asg");
    demo.send("CloudTrail CreateAutoScalingGroup", origin.create_auto_scaling_group("app-asg", &template.id, "1"))
        .await?;
    let group = aws.auto_scaling_group(TOKYO, "app-asg");
    demo.check(
        "app-asg launches from $Latest",
        group.and_then(|g| g.launch_template).is_some_and(|t| t.version == "$Latest"),
    )?;
    for day in 1..=4 {
        let description = format!("Created for policy: policy-0abc schedule: daily EC2_BACKUP day {day}");
        let image = aws.add_image(TOKYO, ImageSeed::new(format!("app-dlm-{day}")).description(&description));
        let origin = Origin::new(ACCOUNT, TOKYO, &format!("002-dlm-{day}"));
        let event = origin.create_image(image.as_str(), "i-0123456789abcdef0", &format!("app-dlm-{day}"), &description);
        demo.send(&format!("CloudTrail CreateImage by DLM, day {day}"), event).await?;
    }
    let versions = aws.launch_template_versions(TOKYO, &template.id);
    let lt = aws.launch_template(TOKYO, &template.id);
    demo.check(
        "launch template: version 5 is the default, only the 3 newest versions remain",
        versions.len() == 3 && lt.is_some_and(|t| t.default_version == 5),
    )?;
    println!();
    Ok(())
}

async fn seed_003(demo: &mut Demo) -> Result<(), String> {
    println!("== Seed 003: a nightly schedule bakes the builder instance, then moves the launch template and the ASG");
    let aws = demo.aws.clone();
    aws.add_instance(TOKYO, Some(BUILDER), tags(&[("Name", "builder")]));
    let base = aws.add_image(TOKYO, ImageSeed::new("web-base"));
    aws.create_launch_template_and_group(TOKYO, "web", "web-asg", base);
    let origin = Origin::new(ACCOUNT, TOKYO, "003-schedule");
    let report = demo.send("Scheduled Event from rule nightly-ami", origin.scheduled("nightly-ami")).await?;
    let baked = report.targets.first().and_then(|t| t.outcome.to.clone()).ok_or("no image was baked")?;
    let origin = Origin::new(ACCOUNT, TOKYO, "003-available");
    demo.send("EC2 AMI State Change: available", origin.image_state_change(&baked, "available")).await?;
    let group = aws.auto_scaling_group(TOKYO, "web-asg");
    demo.check(
        "web-asg launches from version 2, which launches the baked AMI",
        group.and_then(|g| g.launch_template).is_some_and(|t| t.version == "2"),
    )?;
    println!();
    Ok(())
}

async fn safety(demo: &mut Demo) -> Result<(), String> {
    println!("== What the hand-written Lambdas get wrong, refused");
    let aws = demo.aws.clone();
    let seed = ImageSeed::new("web-older").tag("ImageIdParameterName", "/ami/web").created(amikeeper::memory::EPOCH);
    let older = aws.add_image(TOKYO, seed);
    let current = aws.parameter(TOKYO, "/ami/web").map(|p| p.value);
    let origin = Origin::new(ACCOUNT, TOKYO, "late");
    demo.send(
        "a late Backup event for an AMI older than the one published",
        origin.backup_job(older.as_str(), "i-0123456789abcdef0", "COMPLETED"),
    )
    .await?;
    demo.check("/ami/web did not move back", aws.parameter(TOKYO, "/ami/web").map(|p| p.value) == current)?;
    let hostile = aws.add_image(TOKYO, ImageSeed::new("evil").tag("ImageIdParameterName", "/prod/db/password"));
    let origin = Origin::new(ACCOUNT, TOKYO, "hostile");
    demo.send(
        "an AMI whose tag names /prod/db/password",
        origin.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED"),
    )
    .await?;
    demo.check("/prod/db/password untouched", aws.parameter(TOKYO, "/prod/db/password").is_none())?;
    let foreign = Origin::new("999999999999", TOKYO, "foreign");
    demo.send(
        "an event from account 999999999999",
        foreign.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED"),
    )
    .await?;
    Ok(())
}

async fn retention(demo: &mut Demo) -> Result<(), String> {
    println!("== Retention: sweep Tokyo, never retiring what a pointer names; seed 004's snapshot generations");
    let aws = demo.aws.clone();
    for month in 1..=3 {
        let created = amikeeper::memory::EPOCH - time::Duration::days(30 * (4 - month));
        aws.add_image(TOKYO, ImageSeed::new(format!("web-2025-{:02}", month + 8)).created(created));
    }
    let volume = aws.add_volume(TOKYO, tags(&[("Daily_Gens", "3")]), Some(BUILDER));
    let mut snapshots = Vec::new();
    for day in 0..5 {
        let started = amikeeper::memory::EPOCH + time::Duration::days(day);
        snapshots.push(aws.add_snapshot(TOKYO, &volume, started, amikeeper::model::SnapshotState::Completed));
    }
    let region = amikeeper::model::Region::from(TOKYO);
    let options = amikeeper::SweepOptions::default().apply(true).now(aws.now());
    let report = demo.keeper.sweep(&region, &options).await.map_err(|e| e.to_string())?;
    for decision in &report.plan.images {
        let action = match decision.action {
            amikeeper::retain::Action::Keep => "keep",
            amikeeper::retain::Action::Retire(_) => "RETIRE",
        };
        let name = aws.image(TOKYO, &decision.image_id).map(|i| i.name).unwrap_or_default();
        println!("    - {action:<6} {} {name:<28} {}", decision.image_id, decision.reason);
    }
    for version in &report.plan.launch_template_versions {
        println!("    - delete launch template {} version {}", version.template_name, version.version);
    }
    let summary = &report.summary;
    println!(
        "    {}: {} AMIs retired, {} snapshots deleted, {} launch template versions deleted, {} snapshots tagged ({} AWS calls)",
        report.status,
        summary.images_retired,
        summary.snapshots_deleted,
        summary.launch_template_versions_deleted,
        summary.snapshots_tagged,
        report.aws_calls
    );
    if let Some(json) = demo.json.then(|| serde_json::to_string_pretty(&report)) {
        println!("{}", json.map_err(|e| e.to_string())?);
    }
    demo.check(
        "the sweep finished without a failure",
        report.status == SweepStatus::Ok && summary.images_retired >= 3,
    )?;

    // Every pointer still names an AMI that exists.
    let inventory =
        amikeeper::retain::gather(aws.as_ref(), demo.keeper.config(), &region, 4).await.map_err(|e| e.to_string())?;
    let exists = |id: &str| {
        aws.image(TOKYO, &amikeeper::model::ImageId::new(id))
            .is_some_and(|i| i.state != amikeeper::model::ImageState::Deregistered)
    };
    let mut pointers: Vec<String> = inventory.parameters.iter().map(|p| p.value.clone()).collect();
    pointers.extend(inventory.stacks.iter().flat_map(|s| s.parameters.values().cloned()));
    pointers.extend(inventory.instances.iter().map(|i| i.image_id.to_string()));
    for (_, versions) in &inventory.launch_templates {
        pointers.extend(versions.iter().filter_map(|v| v.image_id.as_ref().map(|i| i.to_string())));
    }
    pointers.retain(|value| value.starts_with("ami-"));
    demo.check(
        &format!("all {} pointers still name an AMI that exists", pointers.len()),
        pointers.iter().all(|id| exists(id)),
    )?;
    let left = aws.snapshots(TOKYO);
    demo.check(
        "the Daily_Gens=3 volume kept its 3 newest snapshots",
        !left.contains(&snapshots[0])
            && !left.contains(&snapshots[1])
            && snapshots[2..].iter().all(|s| left.contains(s)),
    )?;
    let again = demo.keeper.sweep(&region, &options).await.map_err(|e| e.to_string())?;
    demo.check("a second sweep has nothing to do", again.results.is_empty())?;
    Ok(())
}
