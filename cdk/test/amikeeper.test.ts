/**
 * What an `AmiKeeper` deploys, for the repository's example configurations, with the policy the
 * amikeeper CLI prints for each.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AmiKeeper, AmiKeeperCode, AmiKeeperPolicy, AmiKeeperProps } from '../lib';
import { cli, cliPolicy, deployedStatements, functionStatements, normalizeStatement, repo, scratch } from './support';

const PYTHON_CONFIG = repo('examples', 'python-lambda', 'keeper.toml');
const BAKE_CONFIG = repo('crates', 'amikeeper', 'src', 'seeds', 'seed-003-nightly-bake.toml');
const LAYER_ARN = 'arn:aws:lambda:eu-west-1:111122223333:layer:amikeeper-python-arm64:1';

/** A stack with one `AmiKeeper` for `configFile` (Python, a published layer, the CLI's policy). */
function synth(configFile: string, props: Partial<AmiKeeperProps> = {}): { stack: Stack; keeper: AmiKeeper; template: Template } {
  const stack = new Stack(new App(), 'Test');
  const keeper = new AmiKeeper(stack, 'Keeper', {
    configFile,
    code: AmiKeeperCode.pythonLayer({ layer: lambda.LayerVersion.fromLayerVersionArn(stack, 'Layer', LAYER_ARN) }),
    policy: AmiKeeperPolicy.fromFile(writePolicy(configFile)),
    ...props,
  });
  return { stack, keeper, template: Template.fromStack(stack) };
}

/** Writes what `amikeeper iam-policy` prints for `configFile` to a file, as a user would. */
function writePolicy(configFile: string): string {
  const file = path.join(scratch(), 'policy.json');
  fs.writeFileSync(file, JSON.stringify(cliPolicy(configFile)));
  return file;
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as events.CfnRule);
}

describe('AmiKeeper (Python, examples/python-lambda/keeper.toml)', () => {
  const { stack, keeper, template } = synth(PYTHON_CONFIG);

  it('deploys the function on arm64 with the layer and the one-line handler', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'python3.12',
      Architectures: ['arm64'],
      Handler: 'handler.handler',
      Layers: [LAYER_ARN],
      Timeout: 300,
    });
  });

  it("grants what `amikeeper iam-policy` prints, without rollback's and status' statements", () => {
    const printed = cliPolicy(PYTHON_CONFIG).Statement;
    assert.ok(printed.some((s) => String(s.Sid).startsWith('AmikeeperRollback')), 'the example has rollback statements');
    const statements = deployedStatements(template.toJSON().Resources);
    assert.deepEqual(statements, functionStatements(PYTHON_CONFIG));
    // The configuration's account and allowed prefix, as the CLI wrote them.
    const parameters = printed.find((s) => s.Sid === 'AmikeeperHandleParameters');
    assert.deepEqual(parameters?.Resource, ['arn:aws:ssm:*:111122223333:parameter/ami/*']);
    assert.ok(statements.includes(normalizeStatement(parameters)));
    assert.ok(!statements.some((s) => s.includes('AmikeeperRollback') || s.includes('AmikeeperStatus')));
  });

  it('routes the configured kinds through a queue with a dead-letter queue and ReportBatchItemFailures', () => {
    assert.deepEqual(keeper.eventKinds, ['backup_job']);
    const queue = logicalId(stack, keeper.queue);
    const deadLetters = logicalId(stack, keeper.deadLetterQueue);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 1800,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetters, 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.backup'], 'detail-type': ['Backup Job State Change'], detail: { state: ['COMPLETED'] } },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queue, 'Arn'] }, DeadLetterConfig: Match.anyValue() })],
    });
    // EventBridge may send to the queue.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['sqs:SendMessage']), Principal: { Service: 'events.amazonaws.com' } })]) },
    });
  });

  it('sweeps on a schedule, and alarms on errors and on dead letters', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 18 * * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(stack, keeper.function), 'Arn'] } })],
    });
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack, keeper.deadLetterQueue), 'Arn'] } } },
    });
  });
});

describe('AmiKeeper (a bake, seed 003)', () => {
  it('makes the schedule rule the configuration names, and finishes pending bakes on the AMI state change', () => {
    const schedule = events.Schedule.cron({ minute: '30', hour: '5' });
    const { keeper, template } = synth(BAKE_CONFIG, { bakeSchedules: { 'nightly-ami': schedule } });
    assert.deepEqual(keeper.eventKinds, ['image_state_changed', 'scheduled']);
    template.hasResourceProperties('AWS::Events::Rule', { Name: 'nightly-ami', ScheduleExpression: 'cron(30 5 * * ? *)' });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ 'detail-type': ['EC2 AMI State Change'] }) });
    // No [retention]: no sweep.
    assert.equal(keeper.sweepRule, undefined);
  });

  it("refuses to synthesize without the schedule a bake's schedule_rule names", () => {
    assert.throws(() => synth(BAKE_CONFIG), /bakeSchedules needs a schedule .*: nightly-ami/);
  });
});

describe('AmiKeeper (Rust, x86_64)', () => {
  it('deploys bootstrap on provided.al2023 with the configuration beside it', () => {
    const dir = scratch();
    const bootstrap = path.join(dir, 'bootstrap');
    fs.writeFileSync(bootstrap, '#!/bin/sh\n', { mode: 0o755 });
    const { template } = synth(PYTHON_CONFIG, {
      code: AmiKeeperCode.rustBinary({ bootstrap }),
      architecture: lambda.Architecture.X86_64,
      timeout: Duration.minutes(15),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['x86_64'],
      Environment: { Variables: { AMIKEEPER_CONFIG: '/var/task/keeper.toml' } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 5400 });
    template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
  });
});

describe('AmiKeeperPolicy.fromCli', () => {
  it('runs the CLI, which refuses an invalid configuration', () => {
    const dir = scratch();
    const bad = path.join(dir, 'keeper.toml');
    fs.writeFileSync(bad, 'accounts = ["111122223333"]\n[[rules]]\nname = "r"\non = ["no_such_kind"]\n');
    assert.throws(() => AmiKeeperPolicy.fromCli(bad, { command: cli() }), /iam-policy --config .* failed/);
    const document = AmiKeeperPolicy.fromCli(PYTHON_CONFIG, { command: cli(), partition: 'aws-cn' }).document().toJSON();
    assert.ok(JSON.stringify(document).includes('arn:aws-cn:ssm:*:111122223333:parameter/ami/*'));
  });

  it('is run by the construct when no policy is given, and warns of nothing for the example', () => {
    process.env.AMIKEEPER_CLI = cli();
    const { stack, template } = synth(PYTHON_CONFIG, { policy: undefined });
    assert.ok(JSON.stringify(template.toJSON()).includes('AmikeeperSweepSnapshots'));
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });
});
