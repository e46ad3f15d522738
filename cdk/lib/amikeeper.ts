/**
 * `AmiKeeper`: amikeeper deployed as one Lambda function, with what feeds it and watches it.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AmiKeeperCode } from './code';
import { ConfigSummary, readConfig, summarize } from './config';
import { EventKind, eventPattern } from './events';
import { AmiKeeperPolicy, PolicyJob } from './policy';

/** The properties of an {@link AmiKeeper}. */
export interface AmiKeeperProps {
  /** The amikeeper configuration (TOML, or JSON ending in `.json`), deployed beside the function's code. */
  readonly configFile: string;
  /** How the function runs: `AmiKeeperCode.pythonLayer(...)` or `AmiKeeperCode.rustBinary(...)`. */
  readonly code: AmiKeeperCode;
  /** The policy. Default: `AmiKeeperPolicy.fromCli(configFile)`, the amikeeper CLI run at synth time. */
  readonly policy?: AmiKeeperPolicy;
  /** The jobs whose statements the function's policy leaves out. Default: rollback and status (an operator's jobs). */
  readonly omitJobs?: PolicyJob[];
  /** The function's architecture. Default arm64 (Graviton). */
  readonly architecture?: lambda.Architecture;
  /** The event kinds with an EventBridge rule. Default: those the configuration's rules take. */
  readonly eventKinds?: EventKind[];
  /** The bus the rules read. Default: the account's default bus, where AWS services send their events. */
  readonly eventBus?: events.IEventBus;
  /** When the configuration's `[retention]` sweeps. Default: every day at 18:00 UTC. */
  readonly sweepSchedule?: events.Schedule;
  /** A schedule for each `match.schedule_rule` of a bake rule, by that name (the rule is given that name). */
  readonly bakeSchedules?: Record<string, events.Schedule>;
  /** The function's timeout. Default 5 minutes; a sweep of a large region may need up to 15. */
  readonly timeout?: Duration;
  /** The function's memory. Default 256 MiB. */
  readonly memorySize?: number;
  /** The records of the queue given to one invocation. Default 10. */
  readonly batchSize?: number;
  /** The receives of a record before it goes to the dead-letter queue. Default 5. */
  readonly maxReceiveCount?: number;
  /** How long the function's log is kept. Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** What the alarms do (e.g. an `SnsAction`). Default: nothing but their state. */
  readonly alarmAction?: cloudwatch.IAlarmAction;
}

/** Fails unless every bake rule has a schedule: the one its `schedule_rule` names, or any. */
function checkBakeSchedules(config: ConfigSummary, bakeSchedules: Record<string, events.Schedule>): void {
  const missing = config.scheduleRules.filter((name) => bakeSchedules[name] === undefined);
  if (missing.length > 0) {
    throw new Error(`bakeSchedules needs a schedule for each bake rule's match.schedule_rule: ${missing.join(', ')}`);
  }
  if (config.takesAnySchedule && !config.sweeps && Object.keys(bakeSchedules).length === 0) {
    throw new Error('a rule takes scheduled events: give it a schedule in bakeSchedules');
  }
}

/** The construct id of an event kind's rule: `backup_job` is `BackupJobRule`. */
function ruleId(kind: string): string {
  return kind.replace(/(^|_)([a-z])/g, (_, __, letter: string) => letter.toUpperCase()) + 'Rule';
}

/**
 * amikeeper as one Lambda function (Python with the amikeeper layer, or the Rust binary), fed by
 * an EventBridge rule per configured event kind through an SQS queue (a dead-letter queue after
 * `maxReceiveCount` receives; the event source mapping reports batch item failures, so only the
 * records whose run failed are delivered again), swept on a schedule when the configuration has
 * `[retention]`, allowed what `amikeeper iam-policy` prints for the configuration, and watched
 * by two alarms: the function's errors and the dead-letter queue's messages.
 */
export class AmiKeeper extends Construct {
  /** The function. */
  public readonly function: lambda.Function;
  /** The queue the event rules send to, and the function reads in batches. */
  public readonly queue: sqs.Queue;
  /** Where the records received `maxReceiveCount` times, the events EventBridge could not deliver and the scheduled invocations that failed go. */
  public readonly deadLetterQueue: sqs.Queue;
  /** The event kinds with a rule. */
  public readonly eventKinds: EventKind[];
  /** The EventBridge rule of each event kind (all but `scheduled`). */
  public readonly rules: Partial<Record<EventKind, events.Rule>> = {};
  /** The sweep's schedule, when the configuration has `[retention]`. */
  public readonly sweepRule?: events.Rule;
  /** The bakes' schedules, by their rule name. */
  public readonly bakeRules: Record<string, events.Rule> = {};
  /** The function's role: AWS Lambda's basic execution role and, inline, amikeeper's policy. */
  public readonly role: iam.Role;
  /** In alarm when an invocation failed in the last five minutes. */
  public readonly errorsAlarm: cloudwatch.Alarm;
  /** In alarm when the dead-letter queue holds a message. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AmiKeeperProps) {
    super(scope, id);
    const config = summarize(readConfig(props.configFile), props.configFile);
    checkBakeSchedules(config, props.bakeSchedules ?? {});
    this.eventKinds = props.eventKinds ?? config.eventKinds;
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const timeout = props.timeout ?? Duration.minutes(5);

    // The policy is inline in the role, so that it is in place before the function exists and
    // its queue's first batch arrives.
    const policy = props.policy ?? AmiKeeperPolicy.fromCli(props.configFile);
    this.role = new iam.Role(this, 'Role', {
      description: 'amikeeper: what `amikeeper iam-policy` prints for its configuration',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
      inlinePolicies: { Amikeeper: policy.document(props.omitJobs) },
    });

    const bound = props.code.bind(this, props.configFile, architecture);
    this.function = new lambda.Function(this, 'Function', {
      description: 'amikeeper: keeps the pointers to the current AMI right and sweeps old AMIs',
      code: bound.code,
      handler: bound.handler,
      runtime: bound.runtime,
      layers: bound.layers,
      environment: bound.environment,
      architecture,
      timeout,
      memorySize: props.memorySize ?? 256,
      role: this.role,
      logGroup: new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH }),
    });
    // CDK makes a function depend on its role explicitly as well as through `Role`'s `GetAtt`,
    // which cfn-lint warns of (W3005); the dependency is harmless.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', {
      config: { ignore_checks: ['W3005'] },
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // Lambda advises a visibility timeout of six times the function's timeout, so that a batch
    // still running is not delivered twice.
    this.queue = new sqs.Queue(this, 'Queue', {
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: props.batchSize ?? 10, reportBatchItemFailures: true }),
    );

    // An event EventBridge could not deliver after its retries goes to the dead-letter queue.
    const toQueue = new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue });
    for (const kind of this.eventKinds) {
      const pattern = eventPattern(kind);
      if (pattern !== undefined) {
        this.rules[kind] = new events.Rule(this, ruleId(kind), {
          description: `amikeeper: ${kind} events`,
          eventBus: props.eventBus,
          eventPattern: pattern,
          targets: [toQueue],
        });
      }
    }

    // Scheduled events go to the function directly: EventBridge invokes it asynchronously. An
    // event EventBridge could not deliver, or whose invocation failed Lambda's two retries, goes
    // to the dead-letter queue.
    this.function.configureAsyncInvoke({ retryAttempts: 2, onFailure: new SqsDestination(this.deadLetterQueue) });
    const toFunction = new targets.LambdaFunction(this.function, { deadLetterQueue: this.deadLetterQueue });
    if (config.sweeps) {
      this.sweepRule = new events.Rule(this, 'SweepSchedule', {
        description: 'amikeeper: sweep ([retention])',
        schedule: props.sweepSchedule ?? events.Schedule.cron({ minute: '0', hour: '18' }),
        targets: [toFunction],
      });
      if (config.takesAnySchedule) {
        Annotations.of(this).addWarning(
          'a bake rule without match.schedule_rule takes every scheduled event: the sweep schedule bakes instead of sweeping',
        );
      }
    }
    for (const [name, schedule] of Object.entries(props.bakeSchedules ?? {})) {
      this.bakeRules[name] = new events.Rule(this, `BakeSchedule-${name}`, {
        ruleName: name,
        description: `amikeeper: bake (match.schedule_rule = "${name}")`,
        schedule,
        targets: [toFunction],
      });
    }

    this.errorsAlarm = this.alarm(
      'ErrorsAlarm',
      'amikeeper: an invocation failed (its report is in the function log)',
      this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
    );
    this.deadLetterAlarm = this.alarm(
      'DeadLetterAlarm',
      'amikeeper: events were given up on (in the dead-letter queue)',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    );
    if (props.alarmAction !== undefined) {
      this.errorsAlarm.addAlarmAction(props.alarmAction);
      this.deadLetterAlarm.addAlarmAction(props.alarmAction);
    }
  }

  /** An alarm when `metric` is 1 or more over one period; no data is no alarm. */
  private alarm(id: string, description: string, metric: cloudwatch.IMetric): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
