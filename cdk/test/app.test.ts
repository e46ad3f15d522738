/**
 * The sample app (bin/app.ts) as `cdk synth` wrote it: scripts/test-cdk.sh synthesizes it and
 * names the template in AMIKEEPER_CDK_TEMPLATE, and the layer's architecture in AMIKEEPER_CDK_ARCH.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { deployedStatements, functionStatements, repo } from './support';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) {
    throw new Error(`${name} is not set: run scripts/test-cdk.sh, which synthesizes the app first`);
  }
  return value;
}

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, string> };

describe('the sample app, synthesized', () => {
  const templateFile = required('AMIKEEPER_CDK_TEMPLATE');
  const arch = required('AMIKEEPER_CDK_ARCH');
  const out = path.dirname(templateFile);
  const resources = JSON.parse(fs.readFileSync(templateFile, 'utf8')).Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  it('deploys the layer and the function for one architecture', () => {
    const [[layerId, layer]] = ofType('AWS::Lambda::LayerVersion');
    const [[, fn]] = ofType('AWS::Lambda::Function');
    assert.deepEqual(layer.Properties.CompatibleArchitectures, [arch]);
    assert.deepEqual(fn.Properties.Architectures, [arch]);
    assert.deepEqual(fn.Properties.Layers, [{ Ref: layerId }]);
    // The layer's asset is the zip as it was built, with python/ at its root.
    const zip = path.join(out, layer.Metadata?.['aws:asset:path'] ?? '');
    assert.ok(zip.endsWith('.zip') && fs.statSync(zip).size > 1_000_000, `${zip}: the layer zip`);
  });

  it("deploys the one-line handler beside the example's configuration", () => {
    const [[, fn]] = ofType('AWS::Lambda::Function');
    const code = path.join(out, fn.Metadata?.['aws:asset:path'] ?? '');
    assert.deepEqual(fs.readdirSync(code).sort(), ['handler.py', 'keeper.toml']);
    assert.match(fs.readFileSync(path.join(code, 'handler.py'), 'utf8'), /^handler = amikeeper\.lambda_handler\("keeper\.toml"\)$/m);
    assert.equal(
      fs.readFileSync(path.join(code, 'keeper.toml'), 'utf8'),
      fs.readFileSync(repo('examples', 'python-lambda', 'keeper.toml'), 'utf8'),
    );
  });

  it('grants what `amikeeper iam-policy` prints for it', () => {
    assert.deepEqual(deployedStatements(resources), functionStatements(repo('examples', 'python-lambda', 'keeper.toml')));
  });

  it('has the rule, the queues, the mapping, the schedule and the alarms', () => {
    const counts = Object.fromEntries(
      ['AWS::Events::Rule', 'AWS::SQS::Queue', 'AWS::Lambda::EventSourceMapping', 'AWS::CloudWatch::Alarm'].map((t) => [t, ofType(t).length]),
    );
    assert.deepEqual(counts, {
      'AWS::Events::Rule': 2,
      'AWS::SQS::Queue': 2,
      'AWS::Lambda::EventSourceMapping': 1,
      'AWS::CloudWatch::Alarm': 2,
    });
  });
});
