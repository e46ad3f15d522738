/**
 * The EventBridge rules select the events amikeeper acts on: each of the repository's event
 * fixtures is matched by the rule of the kind `amikeeper parse` gives it and by no other, and
 * AWS's documented examples of events amikeeper does not act on (a failed job, an AMI
 * deregistered) are matched by none. The patterns are read from the synthesized template.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AmiKeeper, AmiKeeperCode, AmiKeeperPolicy, EVENT_KINDS, EventKind, IMAGE_EVENT_KINDS } from '../lib';
import { cliPolicy, matches, repo } from './support';

const FIXTURES = repo('crates', 'amikeeper', 'src', 'events', 'fixtures');
const CONFIG = repo('examples', 'python-lambda', 'keeper.toml');

/** The event pattern of each kind's rule, as synthesized, with a rule for every kind. */
function synthesizedPatterns(): Map<EventKind, unknown> {
  const stack = new Stack(new App(), 'Patterns');
  const keeper = new AmiKeeper(stack, 'Keeper', {
    configFile: CONFIG,
    code: AmiKeeperCode.pythonLayer({
      layer: lambda.LayerVersion.fromLayerVersionArn(stack, 'Layer', 'arn:aws:lambda:eu-west-1:111122223333:layer:amikeeper:1'),
    }),
    policy: AmiKeeperPolicy.fromJson(cliPolicy(CONFIG)),
    eventKinds: [...EVENT_KINDS],
  });
  const resources = Template.fromStack(stack).findResources('AWS::Events::Rule');
  const patterns = new Map<EventKind, unknown>();
  for (const [kind, rule] of Object.entries(keeper.rules) as Array<[EventKind, events.Rule]>) {
    const id = stack.getLogicalId(rule.node.defaultChild as events.CfnRule);
    patterns.set(kind, resources[id].Properties.EventPattern);
  }
  return patterns;
}

const patterns = synthesizedPatterns();

/** The kinds whose rule matches `event`. */
function kindsMatching(event: unknown): EventKind[] {
  return [...patterns].filter(([, pattern]) => matches(pattern, event)).map(([kind]) => kind);
}

function fixture(...parts: string[]): unknown {
  return JSON.parse(fs.readFileSync(`${FIXTURES}/${parts.join('/')}`, 'utf8'));
}

describe('event kinds', () => {
  it("are the core's, and a rule takes the kinds about an image by default as the core says", () => {
    // crates/amikeeper/src/events/event.rs: `ImageCreated = "image_created", about_an_image: true;`
    const source = fs.readFileSync(repo('crates', 'amikeeper', 'src', 'events', 'event.rs'), 'utf8');
    const kinds = [...source.matchAll(/^\s*[A-Za-z]+ = "([a-z_]+)", about_an_image: (true|false);$/gm)];
    assert.deepEqual(kinds.map((m) => m[1]), [...EVENT_KINDS]);
    assert.deepEqual(kinds.filter((m) => m[2] === 'true').map((m) => m[1]), [...IMAGE_EVENT_KINDS]);
  });
});

describe('event rules', () => {
  it('has a rule for every kind but scheduled, which a schedule makes', () => {
    assert.deepEqual([...patterns.keys()].sort(), EVENT_KINDS.filter((kind) => kind !== 'scheduled').sort());
  });

  it('matches each EventBridge fixture by the rule of the kind amikeeper parses it as, and no other', () => {
    const names = fs.readdirSync(FIXTURES).filter((name) => name.endsWith('.json'));
    let checked = 0;
    for (const name of names) {
      const event = fixture(name) as Record<string, unknown>;
      if (!('detail-type' in event)) {
        continue; // SQS and SNS records: the queue's records, not EventBridge's.
      }
      const parsed = fixture('parsed', name) as Array<{ kind: EventKind }>;
      assert.equal(parsed.length, 1, name);
      const expected = parsed[0].kind === 'scheduled' ? [] : [parsed[0].kind];
      assert.deepEqual(kindsMatching(event), expected, name);
      checked += 1;
    }
    assert.ok(checked >= 10, `only ${checked} EventBridge fixtures`);
  });

  it("matches AWS's documented examples of what amikeeper acts on, and none of the rest", () => {
    const expected: Record<string, EventKind[]> = {
      'ami_state_change_available.json': ['image_state_changed'],
      'ami_state_change_deregistered.json': [],
      'ami_state_change_disabled.json': [],
      'ami_state_change_failed.json': [],
      // AWS's example names the resource type `type` (a placeholder): the rule takes EC2's.
      'backup_job_completed.json': [],
      'backup_job_aborted.json': [],
      'backup_job_created.json': [],
      'backup_job_expired.json': [],
      'backup_job_failed.json': [],
      'backup_job_pending.json': [],
      'backup_job_running.json': [],
      // AWS's example copies an EBS volume's backup, which makes no AMI.
      'copy_job_completed.json': [],
      'copy_job_created.json': [],
      'copy_job_failed.json': [],
      'copy_job_running.json': [],
      'ebs_create_snapshot.json': ['snapshot_created'],
      'ebs_create_snapshots_succeeded.json': ['snapshot_created'],
      'ebs_create_snapshots_failed.json': [],
      'ebs_copy_snapshot.json': ['snapshot_created'],
      'ebs_copy_snapshot_failed.json': [],
      'scheduled_event.json': [],
    };
    for (const [name, kinds] of Object.entries(expected)) {
      assert.deepEqual(kindsMatching(fixture('aws_docs', name)), kinds, name);
    }
    // The same examples with the resource type an AMI's job has.
    for (const [name, kind] of [
      ['backup_job_completed.json', 'backup_job'],
      ['copy_job_completed.json', 'backup_copy_job'],
    ] as const) {
      const event = fixture('aws_docs', name) as { detail: Record<string, unknown> };
      event.detail.resourceType = 'EC2';
      assert.deepEqual(kindsMatching(event), [kind], `${name} with resourceType EC2`);
    }
  });
});
