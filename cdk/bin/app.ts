#!/usr/bin/env node
/**
 * A sample app: one stack with an `AmiKeeper` for examples/python-lambda/keeper.toml, on arm64,
 * from the layer `scripts/build-layers.sh` builds. Context values change it (paths are relative
 * to the working directory):
 *
 *   cdk synth -c config=../my/keeper.toml -c architecture=x86_64 -c layerZip=my-layer.zip
 *   cdk synth -c bootstrap=../target/lambda/amikeeper-lambda/bootstrap      # the Rust function
 *   cdk synth -c policyFile=policy.json    # the output of `amikeeper iam-policy`; default: run the CLI
 *
 * The policy is what `amikeeper iam-policy --config <config>` prints: the CLI runs at synth time
 * (`AMIKEEPER_CLI` names it, else `amikeeper` on the PATH) unless `policyFile` is given.
 */
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AmiKeeper, AmiKeeperCode, AmiKeeperPolicy } from '../lib';

const app = new App();
const repository = path.resolve(__dirname, '..', '..', '..');
const context = (key: string): string | undefined => app.node.tryGetContext(key) as string | undefined;

const configFile = path.resolve(context('config') ?? path.join(repository, 'examples', 'python-lambda', 'keeper.toml'));
const arch = context('architecture') ?? 'arm64';
if (arch !== 'arm64' && arch !== 'x86_64') {
  throw new Error(`-c architecture=${arch}: arm64 or x86_64`);
}
const architecture = arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
const bootstrap = context('bootstrap');
const code =
  bootstrap !== undefined
    ? AmiKeeperCode.rustBinary({ bootstrap: path.resolve(bootstrap) })
    : AmiKeeperCode.pythonLayer({
        layerZip: path.resolve(context('layerZip') ?? path.join(repository, 'target', 'layers', `amikeeper-python-${arch}.zip`)),
      });
const policyFile = context('policyFile');

const stack = new Stack(app, 'Amikeeper', {
  description: 'amikeeper keeps the pointers to the current AMI right and sweeps old AMIs',
});
new AmiKeeper(stack, 'Amikeeper', {
  configFile,
  code,
  architecture,
  policy: policyFile !== undefined ? AmiKeeperPolicy.fromFile(path.resolve(policyFile)) : undefined,
});
