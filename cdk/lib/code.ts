/**
 * How the function runs amikeeper: Python with the amikeeper layer and the one-line handler of
 * examples/python-lambda, or the Rust function of examples/rust-lambda on `provided.al2023`.
 * Either way the configuration file is deployed beside the code, under its own name.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** What a function needs from its code: the asset, handler, runtime, layers and environment. */
export interface BoundCode {
  /** The deployment package: the handler (or bootstrap) and the configuration. */
  readonly code: lambda.Code;
  /** The handler. */
  readonly handler: string;
  /** The runtime. */
  readonly runtime: lambda.Runtime;
  /** The layers. */
  readonly layers: lambda.ILayerVersion[];
  /** The environment variables. */
  readonly environment: Record<string, string>;
}

/** The Python function: the amikeeper layer and a one-line handler. */
export interface PythonLayerOptions {
  /**
   * The layer zip for the function's architecture (`python/` at its root), as
   * `scripts/build-layers.sh` makes it: `target/layers/amikeeper-python-{x86_64,arm64}.zip`.
   * Give this or `layer`.
   */
  readonly layerZip?: string;
  /** A layer already published (e.g. `LayerVersion.fromLayerVersionArn`); for the function's architecture. */
  readonly layer?: lambda.ILayerVersion;
  /** The Python runtime. Default Python 3.12 (the wheel is abi3: 3.9 and later). */
  readonly runtime?: lambda.Runtime;
}

/** The Rust function of examples/rust-lambda. */
export interface RustBinaryOptions {
  /** The `bootstrap` executable, built for the function's architecture (`cargo lambda build --release --arm64`). */
  readonly bootstrap: string;
}

/**
 * A directory holding `files` (destination name to a source path, or a text), for an asset. It
 * is named after its contents, so synthesizing again reuses it rather than leaving another
 * behind; CDK copies it into the cloud assembly.
 */
function stage(files: Record<string, string | { text: string }>): string {
  const contents = Object.entries(files).map(
    ([name, source]) => [name, typeof source === 'string' ? fs.readFileSync(source) : Buffer.from(source.text)] as const,
  );
  const hash = crypto.createHash('sha256');
  for (const [name, bytes] of contents) {
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  const dir = path.join(os.tmpdir(), `amikeeper-cdk-${hash.digest('hex').slice(0, 20)}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of contents) {
    const source = files[name];
    const mode = typeof source === 'string' ? fs.statSync(source).mode & 0o777 : 0o644;
    fs.writeFileSync(path.join(dir, name), bytes, { mode });
    fs.chmodSync(path.join(dir, name), mode);
  }
  return dir;
}

/** The function's code, runtime and layers. */
export abstract class AmiKeeperCode {
  /** Python with the amikeeper layer; the handler is `amikeeper.lambda_handler("<config>")`. */
  public static pythonLayer(options: PythonLayerOptions): AmiKeeperCode {
    return new PythonLayerCode(options);
  }

  /** The Rust function (`provided.al2023`); `AMIKEEPER_CONFIG` names the configuration deployed beside it. */
  public static rustBinary(options: RustBinaryOptions): AmiKeeperCode {
    return new RustBinaryCode(options);
  }

  /** The code of the function `scope` makes, for `configFile` on `architecture`. */
  public abstract bind(scope: Construct, configFile: string, architecture: lambda.Architecture): BoundCode;
}

class PythonLayerCode extends AmiKeeperCode {
  constructor(private readonly options: PythonLayerOptions) {
    super();
    if ((options.layerZip === undefined) === (options.layer === undefined)) {
      throw new Error('AmiKeeperCode.pythonLayer: give either layerZip or layer');
    }
  }

  public bind(scope: Construct, configFile: string, architecture: lambda.Architecture): BoundCode {
    const runtime = this.options.runtime ?? lambda.Runtime.PYTHON_3_12;
    const layer =
      this.options.layer ??
      new lambda.LayerVersion(scope, 'Layer', {
        code: lambda.Code.fromAsset(this.options.layerZip as string),
        compatibleArchitectures: [architecture],
        compatibleRuntimes: [runtime],
        description: `amikeeper for Python (${architecture.name})`,
      });
    const name = path.basename(configFile);
    const handler = [
      '"""The amikeeper Lambda function: the configuration beside this file, loaded once per container."""',
      '',
      'import amikeeper',
      '',
      `handler = amikeeper.lambda_handler(${JSON.stringify(name)})`,
      '',
    ].join('\n');
    return {
      code: lambda.Code.fromAsset(stage({ 'handler.py': { text: handler }, [name]: configFile })),
      handler: 'handler.handler',
      runtime,
      layers: [layer],
      environment: {},
    };
  }
}

class RustBinaryCode extends AmiKeeperCode {
  constructor(private readonly options: RustBinaryOptions) {
    super();
  }

  public bind(_scope: Construct, configFile: string): BoundCode {
    const name = path.basename(configFile);
    if (name === 'bootstrap') {
      throw new Error('AmiKeeperCode.rustBinary: the configuration file may not be named bootstrap');
    }
    return {
      code: lambda.Code.fromAsset(stage({ bootstrap: this.options.bootstrap, [name]: configFile })),
      handler: 'bootstrap',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      layers: [],
      // The function's code is unpacked in LAMBDA_TASK_ROOT, /var/task.
      environment: { AMIKEEPER_CONFIG: `/var/task/${name}` },
    };
  }
}
