/** What the tests share: the repository's paths, the amikeeper CLI, and EventBridge's matching. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository's root (the tests run from cdk/dist/test). */
export const REPOSITORY = path.resolve(__dirname, '..', '..', '..');

/** A path in the repository. */
export function repo(...parts: string[]): string {
  return path.join(REPOSITORY, ...parts);
}

/** The amikeeper CLI the tests run: `AMIKEEPER_CLI` (scripts/test-cdk.sh sets it). */
export function cli(): string {
  const command = process.env.AMIKEEPER_CLI;
  if (command === undefined) {
    throw new Error('AMIKEEPER_CLI is not set: run scripts/test-cdk.sh, or set it to a built amikeeper CLI');
  }
  return command;
}

/** What `amikeeper iam-policy --config <file>` prints, parsed. */
export function cliPolicy(configFile: string): { Statement: Array<Record<string, unknown>> } {
  return JSON.parse(execFileSync(cli(), ['iam-policy', '--config', configFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
}

/**
 * Whether the EventBridge event pattern `pattern` (CloudFormation's JSON form) matches `event`,
 * as EventBridge decides for the patterns the construct writes: every field of the pattern must
 * be in the event; a list matches a value equal to one of its items (or, for a list in the
 * event, any of its values); an object matches an object field by field.
 */
export function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(event) ? event : [event];
    return values.some((value) => pattern.some((wanted) => wanted === value));
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      return false;
    }
    const fields = event as Record<string, unknown>;
    return Object.entries(pattern).every(([key, wanted]) => key in fields && matches(wanted, fields[key]));
  }
  throw new Error(`an event pattern's leaves are lists: ${JSON.stringify(pattern)}`);
}

/**
 * One IAM statement as JSON, its keys sorted and a list of one item written as the item (IAM
 * reads both alike, and CDK writes its statements so).
 */
export function normalizeStatement(statement: unknown): string {
  return JSON.stringify(statement, (_, value: unknown) => {
    if (Array.isArray(value)) {
      return value.length === 1 ? value[0] : value;
    }
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
    }
    return value;
  });
}

/** The statements the function gets for `configFile`: the CLI's, but rollback's and status'. */
export function functionStatements(configFile: string): string[] {
  const printed = cliPolicy(configFile).Statement;
  const operators = (s: Record<string, unknown>) => /^Amikeeper(Rollback|Status)/.test(String(s.Sid));
  return printed.filter((s) => !operators(s)).map(normalizeStatement);
}

/** The statements of the one inline policy of `resources`' roles that grants amikeeper's actions. */
export function deployedStatements(resources: Record<string, { Type: string; Properties?: Record<string, any> }>): string[] {
  const policies = Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Role')
    .flatMap((role) => (role.Properties?.Policies ?? []) as Array<{ PolicyDocument: { Statement: unknown[] } }>)
    .filter((policy) => JSON.stringify(policy).includes('"AmikeeperHandle'));
  if (policies.length !== 1) {
    throw new Error(`${policies.length} policies grant amikeeper's actions, not 1`);
  }
  return policies[0].PolicyDocument.Statement.map(normalizeStatement);
}

const scratchDirs: string[] = [];
process.on('exit', () => scratchDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A new directory for a test's files, removed when the tests end. */
export function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amikeeper-cdk-test-'));
  scratchDirs.push(dir);
  return dir;
}
