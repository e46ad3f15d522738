/**
 * The kinds of event amikeeper handles, and the EventBridge event pattern that selects each.
 *
 * The kinds and their names are the core's (`crates/amikeeper/src/events/event.rs`, `kinds!`);
 * the patterns are the ones the repository's guides and SAM examples document (docs/guides/,
 * examples/*\/template.yaml), after AWS's event references. test/events.test.ts checks each
 * pattern against the repository's event fixtures and AWS's documented examples, with the kind
 * `amikeeper parse` gives each fixture.
 */
import type { EventPattern } from 'aws-cdk-lib/aws-events';

/** Every event kind a configuration's `on` may name, as the core names it, and whether it is about an AMI. */
const ABOUT_AN_IMAGE = {
  image_created: true,
  image_copied: true,
  image_registered: true,
  image_state_changed: true,
  backup_job: true,
  backup_copy_job: true,
  asg_created: false,
  snapshot_created: false,
  scheduled: false,
} as const;

/** An event kind, as a configuration's `on` names it. */
export type EventKind = keyof typeof ABOUT_AN_IMAGE;

/** Every event kind, in the core's order. */
export const EVENT_KINDS: readonly EventKind[] = Object.keys(ABOUT_AN_IMAGE) as EventKind[];

/** The kinds a rule takes when it says no `on` and has no `bake`: every event about an AMI. */
export const IMAGE_EVENT_KINDS: readonly EventKind[] = EVENT_KINDS.filter((kind) => ABOUT_AN_IMAGE[kind]);

/** Whether `name` is an event kind amikeeper handles. */
export function isEventKind(name: string): name is EventKind {
  return Object.prototype.hasOwnProperty.call(ABOUT_AN_IMAGE, name);
}

const CLOUDTRAIL = 'AWS API Call via CloudTrail';

/** A CloudTrail management event of `service` (`ec2`, `autoscaling`) named `eventName`. */
function cloudTrail(service: string, eventName: string): EventPattern {
  return {
    source: [`aws.${service}`],
    detailType: [CLOUDTRAIL],
    detail: { eventSource: [`${service}.amazonaws.com`], eventName: [eventName] },
  };
}

/** An AWS Backup job of an EC2 instance (the jobs that make AMIs) that completed. */
function backupJob(detailType: string): EventPattern {
  return {
    source: ['aws.backup'],
    detailType: [detailType],
    detail: { state: ['COMPLETED'], resourceType: ['EC2'] },
  };
}

/**
 * The event pattern of an EventBridge rule that selects the events of `kind`, or `undefined`
 * for `scheduled`, which a rule's schedule expression makes rather than a pattern selects.
 *
 * Each pattern selects only what amikeeper acts on (an AMI `available`, a job `COMPLETED`, a
 * snapshot `succeeded`): it handles the other events too, without an AWS call, so the filter
 * saves invocations and changes nothing else. The CloudTrail kinds need a trail that logs
 * management events in the region.
 */
export function eventPattern(kind: EventKind): EventPattern | undefined {
  switch (kind) {
    case 'image_created':
      return cloudTrail('ec2', 'CreateImage');
    case 'image_copied':
      return cloudTrail('ec2', 'CopyImage');
    case 'image_registered':
      return cloudTrail('ec2', 'RegisterImage');
    case 'image_state_changed':
      return { source: ['aws.ec2'], detailType: ['EC2 AMI State Change'], detail: { State: ['available'] } };
    case 'backup_job':
      return backupJob('Backup Job State Change');
    case 'backup_copy_job':
      return backupJob('Copy Job State Change');
    case 'asg_created':
      return cloudTrail('autoscaling', 'CreateAutoScalingGroup');
    case 'snapshot_created':
      return {
        source: ['aws.ec2'],
        detailType: ['EBS Snapshot Notification', 'EBS Multi-Volume Snapshots Completion Status'],
        detail: { event: ['createSnapshot', 'copySnapshot', 'createSnapshots'], result: ['succeeded'] },
      };
    case 'scheduled':
      return undefined;
  }
}
