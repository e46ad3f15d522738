"""Cold start: seed 001's boto3 handler against amikeeper's one-line handler, on moto.

Each repetition resets moto and sets up the same state (an instance, an older AMI named by the
SSM parameter /ami/web, and a newer AMI tagged ImageIdParameterName=/ami/web), then runs each
handler in a fresh Python process (``invoke.py``: import the handler, handle one AWS Backup
``COMPLETED`` event for the newer AMI) and checks that the parameter names the newer AMI. The two
handlers alternate which goes first. Per run: wall time from spawn to exit, and peak RSS
(``ru_maxrss`` of the handler's process, read by GNU time, which spawns it from its own small
process: a child of this process would inherit this process's peak through fork).

    python run.py --moto-server scripts/moto-server [--repetitions 15]

Prints a markdown table of medians and the ratios amikeeper / boto3, and exits 1 when a handler
did not do the job.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
PARAMETER = "/ami/web"
GNU_TIME = "/usr/bin/time"
#: The handlers: (label, directory, module, function).
HANDLERS = [
    ("boto3 (seed 001)", HERE / "boto3_seed_001", "lambda_function", "lambda_handler"),
    ("amikeeper", HERE / "amikeeper", "handler", "handler"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto(executable: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return process, endpoint
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"moto ({executable}) did not start")
            time.sleep(0.1)


def after_this_second(moment: datetime.datetime) -> None:
    """moto dates images to the second: the newer AMI must be a second newer."""
    wait = (moment.replace(microsecond=0) + datetime.timedelta(seconds=1) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait + 0.02)


def set_up(endpoint: str) -> str:
    """Resets moto and makes the state every run starts from; returns the newer AMI's id."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b""), timeout=30)
    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    ssm = session.client("ssm", endpoint_url=endpoint)
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    older = ec2.create_image(InstanceId=instance, Name="web-older")["ImageId"]
    ssm.put_parameter(Name=PARAMETER, Value=older, Type="String", Overwrite=True)
    created = ec2.describe_images(ImageIds=[older])["Images"][0]["CreationDate"]
    after_this_second(datetime.datetime.fromisoformat(created.replace("Z", "+00:00")))
    tags = [{"ResourceType": "image", "Tags": [{"Key": "ImageIdParameterName", "Value": PARAMETER}]}]
    return str(ec2.create_image(InstanceId=instance, Name="web-newer", TagSpecifications=tags)["ImageId"])


def backup_completed(image: str) -> dict[str, object]:
    """The AWS Backup ``Backup Job State Change`` event, ``COMPLETED``, for ``image``."""
    arn = f"arn:aws:ec2:{REGION}::image/{image}"
    return {
        "version": "0",
        "id": "b1c2d3e4-0000-4000-8000-000000000001",
        "detail-type": "Backup Job State Change",
        "source": "aws.backup",
        "account": ACCOUNT,
        "time": "2026-11-24T03:00:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "backupJobId": "job-1",
            "backupVaultName": "Default",
            "recoveryPointArn": arn,
            "resourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",
            "resourceType": "EC2",
            "state": "COMPLETED",
            "percentDone": "100.0",
        },
    }


def run_handler(handler: tuple[str, Path, str, str], event_file: str, env: dict[str, str]) -> tuple[float, float]:
    """One cold start: (wall seconds, peak RSS in MiB)."""
    _, directory, module, function = handler
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        command = [GNU_TIME, "-f", "%M", "-o", rss.name, sys.executable, str(HERE / "invoke.py"), str(directory), module, function, event_file]
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - started
        if finished.returncode != 0:
            raise SystemExit(f"{handler[0]} failed:\n{finished.stderr.decode()}")
        return wall, int(rss.read().split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moto-server", required=True)
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--output", type=Path, help="also write the table here")
    args = parser.parse_args()
    if not os.access(GNU_TIME, os.X_OK):
        raise SystemExit(f"{GNU_TIME} (GNU time) is needed to read each run's own peak RSS: apt-get install time")

    moto, endpoint = start_moto(args.moto_server)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    ssm = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION).client(
        "ssm", endpoint_url=endpoint
    )
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in HANDLERS}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            event_file = os.path.join(scratch, "event.json")
            # Warm-up, not measured: each handler once, so that both import from compiled bytecode.
            for repetition in range(-1, args.repetitions):
                order = HANDLERS if repetition % 2 == 0 else HANDLERS[::-1]
                for handler in order:
                    image = set_up(endpoint)
                    Path(event_file).write_text(json.dumps(backup_completed(image)))
                    measured = run_handler(handler, event_file, env)
                    value = ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]
                    if value != image:
                        raise SystemExit(f"{handler[0]} did not move {PARAMETER} to {image} (it names {value})")
                    if repetition >= 0:
                        results[handler[0]].append(measured)
    finally:
        moto.kill()
        moto.wait()

    boto3_label, amikeeper_label = HANDLERS[0][0], HANDLERS[1][0]
    wall = {label: statistics.median(w for w, _ in runs) * 1000 for label, runs in results.items()}
    rss = {label: statistics.median(r for _, r in runs) for label, runs in results.items()}
    pairs = list(zip(results[boto3_label], results[amikeeper_label]))
    wall_ratio = statistics.median(a[0] / b[0] for b, a in pairs)
    rss_ratio = statistics.median(a[1] / b[1] for b, a in pairs)
    lines = [
        f"{args.repetitions} repetitions, medians; Python {sys.version.split()[0]}; moto on 127.0.0.1",
        "",
        "| handler | wall (ms) | peak RSS (MiB) |",
        "|---|---:|---:|",
        *(f"| {label} | {wall[label]:.0f} | {rss[label]:.1f} |" for label in results),
        f"| **amikeeper / boto3** | **{wall[amikeeper_label] / wall[boto3_label]:.2f}** (target <= 0.3) | "
        f"**{rss[amikeeper_label] / rss[boto3_label]:.2f}** (target <= 0.6) |",
        "",
        f"Median of the per-repetition ratios: wall {wall_ratio:.2f}, peak RSS {rss_ratio:.2f}.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.output:
        args.output.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
