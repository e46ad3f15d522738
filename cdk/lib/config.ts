/**
 * What the construct reads of an amikeeper configuration: the event kinds its rules take, the
 * schedule rules its bakes wait for, and whether it sweeps. The configuration itself is checked
 * by amikeeper (`amikeeper iam-policy --config F` loads and validates it); this reads only what
 * decides the resources to deploy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { EVENT_KINDS, EventKind, IMAGE_EVENT_KINDS, isEventKind } from './events';

/** What the construct deploys for a configuration. */
export interface ConfigSummary {
  /**
   * The event kinds the configuration's rules take, in the order of `EVENT_KINDS`; with a bake,
   * `image_state_changed` too, which finishes a bake still pending when its run ended.
   */
  readonly eventKinds: EventKind[];
  /** The `match.schedule_rule` names of the rules that take `scheduled` events. */
  readonly scheduleRules: string[];
  /** Whether a rule takes every `scheduled` event (it names no `schedule_rule`). */
  readonly takesAnySchedule: boolean;
  /** Whether the configuration has `[retention]`: a scheduled event no rule takes sweeps. */
  readonly sweeps: boolean;
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a configuration file: TOML, or JSON when its name ends in `.json` (as amikeeper does). */
export function readConfig(file: string): Table {
  const text = fs.readFileSync(file, 'utf8');
  const parsed: unknown = path.extname(file) === '.json' ? JSON.parse(text) : parseToml(text);
  if (!isTable(parsed)) {
    throw new Error(`${file}: an amikeeper configuration is a table`);
  }
  return parsed;
}

/** The kinds a rule takes: its `on`, or by default `scheduled` for a bake, else the image kinds. */
function ruleKinds(rule: Table, where: string): readonly EventKind[] {
  const on = rule.on;
  if (on === undefined || (Array.isArray(on) && on.length === 0)) {
    return rule.bake === undefined ? IMAGE_EVENT_KINDS : ['scheduled'];
  }
  if (!Array.isArray(on)) {
    throw new Error(`${where}.on: a list of event kinds`);
  }
  return on.map((kind, i) => {
    if (typeof kind !== 'string' || !isEventKind(kind)) {
      throw new Error(`${where}.on[${i}]: \`${String(kind)}\` is no event kind (one of: ${EVENT_KINDS.join(', ')})`);
    }
    return kind;
  });
}

/** What the construct deploys for the configuration `config` (read from `file`). */
export function summarize(config: Table, file: string): ConfigSummary {
  const rules = config.rules ?? [];
  if (!Array.isArray(rules)) {
    throw new Error(`${file}: rules: a list of rules`);
  }
  const kinds = new Set<EventKind>();
  const scheduleRules = new Set<string>();
  let takesAnySchedule = false;
  rules.forEach((rule: unknown, i) => {
    const where = `${file}: rules[${i}]`;
    if (!isTable(rule)) {
      throw new Error(`${where}: a rule is a table`);
    }
    const taken = ruleKinds(rule, where);
    taken.forEach((kind) => kinds.add(kind));
    if (rule.bake !== undefined) {
      // A bake whose image is still pending when its run ends is finished by the image's state
      // change: the image's `amikeeper:rule` tag names the rule again.
      kinds.add('image_state_changed');
    }
    if (taken.includes('scheduled')) {
      const matcher = isTable(rule.match) ? rule.match : {};
      if (typeof matcher.schedule_rule === 'string') {
        scheduleRules.add(matcher.schedule_rule);
      } else {
        takesAnySchedule = true;
      }
    }
  });
  return {
    eventKinds: EVENT_KINDS.filter((kind) => kinds.has(kind)),
    scheduleRules: [...scheduleRules].sort(),
    takesAnySchedule,
    sweeps: config.retention !== undefined,
  };
}
