/**
 * The function's IAM policy: the document `amikeeper iam-policy --config F` prints for the
 * configuration. amikeeper, not this package, knows which actions each pointer kind, sweep and
 * copy needs and on which ARNs; the construct only deploys what it printed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as iam from 'aws-cdk-lib/aws-iam';

/** The jobs `amikeeper iam-policy` writes statements for (their `Sid` is `Amikeeper<Job>...`). */
export enum PolicyJob {
  /** Handling events and bakes. */
  HANDLE = 'Handle',
  /** Sweeping. */
  SWEEP = 'Sweep',
  /** Rolling back (`amikeeper rollback`): an operator's job, not the function's. */
  ROLLBACK = 'Rollback',
  /** Reading every pointer back (`amikeeper status`): an operator's job, not the function's. */
  STATUS = 'Status',
}

/** The jobs the function does not do: their statements are left out by default. */
export const OPERATOR_JOBS: readonly PolicyJob[] = [PolicyJob.ROLLBACK, PolicyJob.STATUS];

/** How to run the amikeeper CLI at synth time. */
export interface CliOptions {
  /** The `amikeeper` executable. Default: `AMIKEEPER_CLI` from the environment, else `amikeeper` on the PATH. */
  readonly command?: string;
  /** The partition the ARNs name: `aws`, `aws-cn` or `aws-us-gov`. Default `aws`. */
  readonly partition?: string;
}

/** One statement of the document, as IAM's JSON writes it. */
interface StatementJson {
  readonly Sid?: string;
  readonly [key: string]: unknown;
}

/** The least-privilege IAM policy document amikeeper printed for a configuration. */
export class AmiKeeperPolicy {
  /** The document as `amikeeper iam-policy` printed it (its JSON, parsed). */
  public static fromJson(document: unknown): AmiKeeperPolicy {
    const statements = (document as { Statement?: unknown } | null)?.Statement;
    if (!Array.isArray(statements) || statements.some((s) => typeof s !== 'object' || s === null)) {
      throw new Error('an IAM policy document has a Statement list (the output of `amikeeper iam-policy`)');
    }
    return new AmiKeeperPolicy(statements as StatementJson[]);
  }

  /** The document in a file: `amikeeper iam-policy --config keeper.toml > policy.json`. */
  public static fromFile(file: string): AmiKeeperPolicy {
    return AmiKeeperPolicy.fromJson(JSON.parse(fs.readFileSync(file, 'utf8')));
  }

  /**
   * Runs `amikeeper iam-policy --config <configFile>` at synth time and takes what it prints.
   * The CLI validates the configuration: an invalid one fails the synth with its message. What
   * a policy cannot say (its caveats) goes to the synth's stderr, as the CLI prints it.
   */
  public static fromCli(configFile: string, options: CliOptions = {}): AmiKeeperPolicy {
    const command = options.command ?? process.env.AMIKEEPER_CLI ?? 'amikeeper';
    const args = ['iam-policy', '--config', configFile, '--partition', options.partition ?? 'aws'];
    let stdout: string;
    try {
      stdout = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    } catch (error) {
      throw new Error(`\`${command} ${args.join(' ')}\` failed: ${(error as Error).message}`);
    }
    return AmiKeeperPolicy.fromJson(JSON.parse(stdout));
  }

  private constructor(private readonly statements: readonly StatementJson[]) {}

  /**
   * The statements the function needs: every statement but those of the jobs left out (by
   * default rollback and status, which an operator does, not the function). `sts:AssumeRole`
   * on the configured roles and `events:PutEvents` for `[notify]` are kept.
   */
  public document(omit: readonly PolicyJob[] = OPERATOR_JOBS): iam.PolicyDocument {
    const kept = this.statements.filter(
      (statement) => !omit.some((job) => statement.Sid?.startsWith(`Amikeeper${job}`) ?? false),
    );
    if (kept.length === 0) {
      throw new Error('the amikeeper policy has no statement for the function: a configuration with no rule and no [retention]?');
    }
    return iam.PolicyDocument.fromJson({ Version: '2012-10-17', Statement: kept });
  }
}
