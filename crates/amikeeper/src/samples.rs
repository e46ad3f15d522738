//! Real-shaped event payloads, built from a few values, and the seed configurations
//! ([`configs`]): for tests, demos and documentation.
//!
//! Each function returns the JSON that AWS delivers to an EventBridge target, with the fields
//! amikeeper reads and the envelope around them.

use serde_json::{json, Value};

/// Where and when a sample event happens.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The event time, RFC 3339.
    pub time: String,
    /// The event id.
    pub id: String,
}

impl Origin {
    /// An origin with a fixed time and an id derived from `id`.
    pub fn new(account: &str, region: &str, id: &str) -> Self {
        Self {
            account: account.to_owned(),
            region: region.to_owned(),
            time: "2026-11-24T03:00:00Z".to_owned(),
            id: id.to_owned(),
        }
    }

    fn envelope(&self, source: &str, detail_type: &str, resources: Vec<String>, detail: Value) -> Value {
        json!({
            "version": "0",
            "id": self.id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": resources,
            "detail": detail,
        })
    }

    fn cloudtrail(&self, source: &str, event_name: &str, request: Value, response: Value) -> Value {
        let service = source.trim_start_matches("aws.");
        self.envelope(
            source,
            "AWS API Call via CloudTrail",
            vec![],
            json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "AssumedRole", "accountId": self.account},
                "eventTime": self.time,
                "eventSource": format!("{service}.amazonaws.com"),
                "eventName": event_name,
                "awsRegion": self.region,
                "sourceIPAddress": "backup.amazonaws.com",
                "userAgent": "backup.amazonaws.com",
                "requestParameters": request,
                "responseElements": response,
                "requestID": format!("req-{}", self.id),
                "eventID": format!("ct-{}", self.id),
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": self.account,
                "eventCategory": "Management",
            }),
        )
    }

    /// CloudTrail `CreateImage` (seed 000 from AWS Backup, seed 002 from DLM).
    pub fn create_image(&self, image_id: &str, instance_id: &str, name: &str, description: &str) -> Value {
        self.cloudtrail(
            "aws.ec2",
            "CreateImage",
            json!({"instanceId": instance_id, "name": name, "description": description, "noReboot": true}),
            json!({"requestId": format!("req-{}", self.id), "imageId": image_id}),
        )
    }

    /// CloudTrail `CopyImage`, seen in the destination region (seed 000's DR site).
    pub fn copy_image(&self, image_id: &str, source_image_id: &str, source_region: &str, name: &str) -> Value {
        self.cloudtrail(
            "aws.ec2",
            "CopyImage",
            json!({"sourceRegion": source_region, "sourceImageId": source_image_id, "name": name}),
            json!({"requestId": format!("req-{}", self.id), "imageId": image_id}),
        )
    }

    /// CloudTrail `CreateAutoScalingGroup` (seed 002).
    pub fn create_auto_scaling_group(&self, group: &str, launch_template_id: &str, version: &str) -> Value {
        self.cloudtrail(
            "aws.autoscaling",
            "CreateAutoScalingGroup",
            json!({
                "autoScalingGroupName": group,
                "launchTemplate": {"launchTemplateId": launch_template_id, "version": version},
                "minSize": 1,
                "maxSize": 1,
            }),
            Value::Null,
        )
    }

    /// AWS Backup `Backup Job State Change` for an EC2 instance (seed 001).
    pub fn backup_job(&self, image_id: &str, instance_id: &str, state: &str) -> Value {
        let image_arn = format!("arn:aws:ec2:{}::image/{image_id}", self.region);
        self.envelope(
            "aws.backup",
            "Backup Job State Change",
            vec![image_arn.clone()],
            json!({
                "backupJobId": format!("job-{}", self.id),
                "backupVaultName": "Default",
                "backupVaultArn": format!("arn:aws:backup:{}:{}:backup-vault:Default", self.region, self.account),
                "recoveryPointArn": image_arn,
                "resourceArn": format!("arn:aws:ec2:{}:{}:instance/{instance_id}", self.region, self.account),
                "resourceType": "EC2",
                "state": state,
                "percentDone": "100.0",
                "creationDate": self.time,
                "completionDate": self.time,
                "iamRoleArn": format!("arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole", self.account),
            }),
        )
    }

    /// `EC2 AMI State Change`.
    pub fn image_state_change(&self, image_id: &str, state: &str) -> Value {
        self.envelope(
            "aws.ec2",
            "EC2 AMI State Change",
            vec![format!("arn:aws:ec2:{}::image/{image_id}", self.region)],
            json!({"RequestId": format!("req-{}", self.id), "ImageId": image_id, "State": state, "ErrorMessage": ""}),
        )
    }

    /// EventBridge `Scheduled Event` from the rule `rule`.
    pub fn scheduled(&self, rule: &str) -> Value {
        self.envelope(
            "aws.events",
            "Scheduled Event",
            vec![format!("arn:aws:events:{}:{}:rule/{rule}", self.region, self.account)],
            json!({}),
        )
    }
}

/// Wraps events in an SQS batch as Lambda receives it (feature `test-util`).
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub fn sqs_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            json!({
                "messageId": format!("msg-{i}"),
                "receiptHandle": format!("handle-{i}"),
                "body": event.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:amikeeper",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The seed configurations: one TOML file per seed scenario, in `src/seeds/` of this crate.
///
/// They are the single source of the configurations that the conformance scenarios
/// ([`crate::conformance`]), the seed tests, `amikeeper demo`, the Python wheel's tests and the
/// guides in `docs/guides/` use: the guides show each file byte for byte, and a test checks it.
/// Each names the sample account [`ACCOUNT`]; [`in_account`] puts another one in.
pub mod configs {
    /// The account the seed configurations name.
    pub const ACCOUNT: &str = "111122223333";

    /// The builder instance of [`SEED_003_NIGHTLY_BAKE`].
    pub const SEED_003_BUILDER: &str = "i-0b0b0b0b0b0b0b0b0";

    /// Seed 000: AWS Backup's AMI into the parameter named after the instance, at version 1,
    /// in the main region (`CreateImage`) and the DR region (`CopyImage`).
    pub const SEED_000_BACKUP_TO_PARAMETER: &str = include_str!("seeds/seed-000-backup-to-parameter.toml");

    /// Seed 001: on a completed AWS Backup job, the parameter and the stack the AMI's tags name.
    pub const SEED_001_PARAMETER_AND_STACK_FROM_TAGS: &str =
        include_str!("seeds/seed-001-parameter-and-stack-from-tags.toml");

    /// Seed 002 (1): a new Auto Scaling group goes to the launch template version `$Latest`.
    pub const SEED_002_ASG_TO_LATEST: &str = include_str!("seeds/seed-002-asg-to-latest.toml");

    /// Seed 002 (2): DLM's `EC2_BACKUP` AMI becomes the default launch template version, keeping 3.
    pub const SEED_002_DLM_TO_LAUNCH_TEMPLATE: &str = include_str!("seeds/seed-002-dlm-to-launch-template.toml");

    /// Seed 003: a schedule bakes the builder instance, then moves the launch template and the group.
    pub const SEED_003_NIGHTLY_BAKE: &str = include_str!("seeds/seed-003-nightly-bake.toml");

    /// Seed 004: snapshot generations per volume tagged `Daily_Gens`.
    pub const SEED_004_SNAPSHOT_GENERATIONS: &str = include_str!("seeds/seed-004-snapshot-generations.toml");

    /// Every seed configuration with its file name in `src/seeds/`.
    pub const ALL: [(&str, &str); 6] = [
        ("seed-000-backup-to-parameter.toml", SEED_000_BACKUP_TO_PARAMETER),
        ("seed-001-parameter-and-stack-from-tags.toml", SEED_001_PARAMETER_AND_STACK_FROM_TAGS),
        ("seed-002-asg-to-latest.toml", SEED_002_ASG_TO_LATEST),
        ("seed-002-dlm-to-launch-template.toml", SEED_002_DLM_TO_LAUNCH_TEMPLATE),
        ("seed-003-nightly-bake.toml", SEED_003_NIGHTLY_BAKE),
        ("seed-004-snapshot-generations.toml", SEED_004_SNAPSHOT_GENERATIONS),
    ];

    /// `config` with `account` in place of [`ACCOUNT`] (e.g. an emulator's account).
    pub fn in_account(config: &str, account: &str) -> String {
        config.replace(&format!("\"{ACCOUNT}\""), &format!("\"{account}\""))
    }
}
