#!/usr/bin/env python3
"""amikeeper's sweep against aws-amicleaner and Cloud Custodian (c7n), on moto.

Run it through the one command, which sets up the pinned tools and builds amikeeper first:

    scripts/bench-compare.sh            # both settings: 5,000 AMIs on plain moto, 1,000 behind +50 ms
    scripts/bench-compare.sh --quick    # 200 AMIs plain, 100 behind +50 ms (a few minutes)
    scripts/bench-compare.sh --amis 1000 --delay-ms 0

What is compared (each pair must leave the same AMIs and snapshots, compared by AMI name):

* keep-N: `amicleaner --mapping-key tags --mapping-values Group --keep-previous 2 -f` against
  `amikeeper sweep --apply` with `group_by = { tag = "Group" }, keep_newest = 2`.
* unused: Cloud Custodian's nearest policy (resource `ami`, filters `tag:Group: present` and
  `unused: true`, action `deregister` with `delete-snapshots: true`) against amikeeper with
  `keep_newest = 0` (delete every AMI of a group that nothing uses).

Every run starts from the same fill: `POST /moto-api/reset`, one builder instance, then N AMIs
made with CreateImage (so each has its own snapshot) in 10 groups (tag `Group=g0..g9`, names
`g{k}-{i:05d}`, i = 0 oldest). Fill time is not measured.

Ordering: moto stamps CreationDate with the wall clock to the second (`...T12:34:56.000Z`), so
most AMIs share a second with others. amikeeper breaks such ties by image id; aws-amicleaner
sorts by the date string alone, so a tie at the keep-2 boundary would make the two keep
different AMIs for no fault of either. The fill therefore makes every AMI except the two newest
of each group first (in a thread pool, ties allowed: all of them are older than the boundary),
waits for the next wall-clock second, makes image `per-2` of every group, waits for the next
second again and makes image `per-1`. The two newest of each group are then strictly ordered and
strictly newer than the rest, which the fill checks before any tool runs.

In use (what every compared tool can see): in each group, image `per//4` is the image of a
running instance (RunInstances), and image `per//2` is the image of a launch template whose
Auto Scaling group (desired capacity 1) moto has launched an instance from. aws-amicleaner
finds in-use AMIs through DescribeInstances (and launch configurations, which are not used
here); c7n through instances, launch configurations and the launch templates of ASGs; amikeeper
through instances (any state), launch template versions, ASGs, SSM parameters and
CloudFormation stack parameters. Both in-use images are old (not among the two newest), because
the tools count differently: aws-amicleaner sets in-use AMIs aside and then keeps the 2 newest
of the rest, while amikeeper keeps the 2 newest of the group and, besides, whatever is in use.
With the in-use images old the two rules keep the same AMIs.

The `--hidden` scenario (on by default, small) adds per group one AMI named only by an SSM
parameter under /bench/ (amikeeper's config there adds `parameter_paths = ["/bench/"]`: it reads
only the parameter paths it is given), one only by version 2 of the group's launch template (the
ASG names version 1), and one only by a CloudFormation stack parameter: usages that only
amikeeper looks at. It reports how many of these each tool
deletes; it is a safety figure, not a pair comparison.

Measured per tool run: wall time, client CPU (user + sys of the tool's process, from wait4),
peak RSS of the tool's process (GNU time's %M; see measure()), and AWS calls, counted by the proxy
(benches/compare/proxy.py) that all three tools talk to: plain (delay 0) and +50 ms per request.
The check of what is left goes to moto directly, not through the proxy.

Caveats: moto is a single Python process, so on plain moto every tool is mostly waiting on
moto; the +50 ms setting shows what a real region's round trip does to a sequential client.
aws-amicleaner 0.2.2 (2018) does not paginate DescribeImages/DescribeInstances (moto answers
everything in one page, so that does not matter here). Peak RSS includes the Python interpreter
for the two Python tools.

Exit status: 0 if every pair agrees, matches the expected result and nothing in use was deleted
(targets missed are reported, not failed); 1 otherwise; 2 for a setup error.
"""

from __future__ import annotations

import argparse
from collections import Counter
import concurrent.futures as cf
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

import throttled as throttled_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
GROUPS = 10


def retention_toml(name: str, keep_newest: int) -> str:
    """amikeeper's configuration: image policy `name` keeps the `keep_newest` newest of each group."""
    return f"""accounts = ["{ACCOUNT}"]
[retention]
concurrency = 16
[[retention.images]]
name = "{name}"
group_by = {{ tag = "Group" }}
keep_newest = {keep_newest}
"""


KEEP2_TOML = retention_toml("groups", 2)
UNUSED_TOML = retention_toml("unused", 0)

C7N_POLICY = """policies:
  - name: unused-grouped-amis
    resource: ami
    filters:
      - "tag:Group": present
      - type: unused
        value: true
    actions:
      - type: deregister
        delete-snapshots: true
"""

CFN_TEMPLATE = json.dumps(
    {
        "Parameters": {"ImageId": {"Type": "String"}},
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            if time.time() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
            time.sleep(0.2)


def http_post(url: str) -> bytes:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.read()


def http_get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------------------------
# Servers


class Servers:
    """moto_server (or scripts/moto-server) and the proxy, both on loopback; stopped on exit."""

    def __init__(self, moto_cmd: list[str], workdir: Path) -> None:
        self.moto_cmd = moto_cmd
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.moto_port = 0
        self.proxy_port = 0
        self.proxy: subprocess.Popen | None = None

    def start_moto(self) -> None:
        self.moto_port = free_port()
        out = open(self.workdir / "moto.log", "wb")
        proc = subprocess.Popen(
            [*self.moto_cmd, "-H", "127.0.0.1", "-p", str(self.moto_port)], stdout=out, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{self.moto_port}/moto-api/")
        log(f"moto: {' '.join(self.moto_cmd)} on 127.0.0.1:{self.moto_port}")

    def start_proxy(self, delay_ms: float, rate_scale: float | None = None) -> None:
        """Starts the proxy with `delay_ms`; throttling as AWS does if `rate_scale` is given."""
        self.stop_proxy()
        port_file = self.workdir / "proxy.port"
        if port_file.exists():
            port_file.unlink()
        out = open(self.workdir / f"proxy-{delay_ms:g}ms.log", "wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "proxy.py"),
                "--upstream-port",
                str(self.moto_port),
                "--delay-ms",
                str(delay_ms),
                "--port-file",
                str(port_file),
                *(["--throttle", "--rate-scale", str(rate_scale)] if rate_scale else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.proxy = proc
        self.procs.append(proc)
        deadline = time.time() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the proxy did not start")
            time.sleep(0.05)
        self.proxy_port = int(port_file.read_text())
        wait_http(f"http://127.0.0.1:{self.proxy_port}/__counts")

    def stop_proxy(self) -> None:
        if self.proxy is not None:
            self._stop(self.proxy)
            self.procs.remove(self.proxy)
            self.proxy = None

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            self._stop(proc)
        self.procs.clear()

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def reset_counts(self) -> None:
        http_post(f"{self.proxy_url}/__reset")

    def counts(self) -> dict:
        return http_get_json(f"{self.proxy_url}/__counts")


# --------------------------------------------------------------------------------------------
# Fill


def clients(endpoint: str, pool: int = 16):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    cfg = BotoConfig(max_pool_connections=pool, retries={"max_attempts": 8, "mode": "standard"})
    return {
        name: session.client(name, endpoint_url=endpoint, config=cfg)
        for name in ("ec2", "autoscaling", "ssm", "cloudformation")
    }


@dataclass
class Fill:
    per: int
    name_of_image: dict[str, str] = field(default_factory=dict)  # ami id -> name
    name_of_snapshot: dict[str, str] = field(default_factory=dict)  # snapshot id -> AMI name
    in_use: set[str] = field(default_factory=set)  # AMI names every tool can see in use
    hidden: dict[str, str] = field(default_factory=dict)  # AMI name -> what uses it (amikeeper only)
    all_names: set[str] = field(default_factory=set)


def name(group: int, index: int) -> str:
    return f"g{group}-{index:05d}"


def wait_next_second() -> None:
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.05)


def fill(moto_url: str, n: int, workers: int, hidden: bool) -> Fill:
    per = n // GROUPS
    if per < 6:
        raise ValueError("need at least 6 AMIs per group (--amis >= 60)")
    http_post(f"{moto_url}/moto-api/reset")
    c = clients(moto_url, pool=workers + 4)
    ec2, asg = c["ec2"], c["autoscaling"]
    base = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0][
        "InstanceId"
    ]
    result = Fill(per=per)
    ids: dict[str, str] = {}  # name -> ami id

    def make(group: int, index: int) -> None:
        nm = name(group, index)
        resp = ec2.create_image(
            InstanceId=builder,
            Name=nm,
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Group", "Value": f"g{group}"}]}],
        )
        ids[nm] = resp["ImageId"]

    def make_all(pairs) -> None:
        with cf.ThreadPoolExecutor(workers) as pool:
            for fut in cf.as_completed([pool.submit(make, g, i) for g, i in pairs]):
                fut.result()

    # Interleave groups so each group's bulk spans the same seconds.
    make_all([(g, i) for i in range(per - 2) for g in range(GROUPS)])
    wait_next_second()
    make_all([(g, per - 2) for g in range(GROUPS)])
    wait_next_second()
    make_all([(g, per - 1) for g in range(GROUPS)])

    # In use, seen by every tool: an instance, and an ASG (through a launch template).
    inst_idx, asg_idx = per // 4, per // 2
    for g in range(GROUPS):
        ec2.run_instances(ImageId=ids[name(g, inst_idx)], MinCount=1, MaxCount=1, InstanceType="t3.micro")
        lt = ec2.create_launch_template(
            LaunchTemplateName=f"bench-g{g}",
            LaunchTemplateData={"ImageId": ids[name(g, asg_idx)], "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"bench-g{g}",
            LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
            MinSize=1,
            MaxSize=1,
            DesiredCapacity=1,
            AvailabilityZones=[f"{REGION}a"],
        )
        result.in_use |= {name(g, inst_idx), name(g, asg_idx)}

    if hidden:
        # Named only where amikeeper looks: an SSM parameter, a launch template version that
        # no ASG uses (version 2 of the group's template; the ASG names version 1), a
        # CloudFormation stack parameter. Not a template of its own: moto 5.2.5's
        # DescribeLaunchTemplates returns at most 15 templates and no NextToken, so a 16th
        # template would be invisible to any client.
        ssm, cfn = c["ssm"], c["cloudformation"]
        picks = {"ssm": per // 4 + 1, "lt": per // 2 + 1, "stack": per // 2 + 2}
        if len({inst_idx, asg_idx, *picks.values()}) != 5 or max(picks.values()) > per - 3:
            raise ValueError("--hidden needs at least 90 AMIs (9 per group)")
        for g in range(GROUPS):
            ssm.put_parameter(Name=f"/bench/g{g}/ami", Value=ids[name(g, picks["ssm"])], Type="String")
            ec2.create_launch_template_version(
                LaunchTemplateName=f"bench-g{g}",
                LaunchTemplateData={"ImageId": ids[name(g, picks["lt"])], "InstanceType": "t3.micro"},
            )
            cfn.create_stack(
                StackName=f"bench-g{g}",
                TemplateBody=CFN_TEMPLATE,
                Parameters=[{"ParameterKey": "ImageId", "ParameterValue": ids[name(g, picks["stack"])]}],
            )
            result.hidden[name(g, picks["ssm"])] = "SSM parameter"
            result.hidden[name(g, picks["lt"])] = "launch template version (no ASG)"
            result.hidden[name(g, picks["stack"])] = "stack parameter"

    # Every AMI, its snapshots and its creation date, straight from moto; check the ordering.
    images = list_images(ec2)
    if len(images) != per * GROUPS:
        raise RuntimeError(f"fill made {len(images)} AMIs, expected {per * GROUPS}")
    created: dict[str, str] = {}
    for img in images:
        result.name_of_image[img["ImageId"]] = img["Name"]
        created[img["Name"]] = img["CreationDate"]
        for bdm in img.get("BlockDeviceMappings", []):
            snap = bdm.get("Ebs", {}).get("SnapshotId")
            if snap:
                result.name_of_snapshot[snap] = img["Name"]
    result.all_names = set(created)
    for g in range(GROUPS):
        newest, second = created[name(g, per - 1)], created[name(g, per - 2)]
        rest = max(created[name(g, i)] for i in range(per - 2))
        if not newest > second > rest:
            raise RuntimeError(f"group g{g}: the two newest are not strictly ordered ({newest}, {second}, {rest})")
    # The ASGs must have launched their instances, or aws-amicleaner cannot see those AMIs.
    running = {
        i["ImageId"]
        for page in ec2.get_paginator("describe_instances").paginate()
        for r in page["Reservations"]
        for i in r["Instances"]
    }
    seen = {result.name_of_image[a] for a in running if a in result.name_of_image}
    if seen != result.in_use:
        raise RuntimeError(f"in-use AMIs without an instance: {sorted(result.in_use - seen)[:5]}")
    return result


def list_images(ec2) -> list[dict]:
    return [img for page in ec2.get_paginator("describe_images").paginate(Owners=["self"]) for img in page["Images"]]


def remaining(moto_url: str, f: Fill) -> tuple[set[str], set[str]]:
    """AMI names left, and names of the AMIs whose snapshots are left (fill's snapshots only)."""
    ec2 = clients(moto_url)["ec2"]
    amis = {img["Name"] for img in list_images(ec2) if img["ImageId"] in f.name_of_image}
    snaps = {
        f.name_of_snapshot[s["SnapshotId"]]
        for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
        for s in page["Snapshots"]
        if s["SnapshotId"] in f.name_of_snapshot
    }
    return amis, snaps


# --------------------------------------------------------------------------------------------
# Running one tool


@dataclass
class Run:
    setting: str
    job: str
    tool: str
    wall: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    calls: int = 0
    by_op: dict = field(default_factory=dict)
    amis_left: set = field(default_factory=set)
    snaps_left: set = field(default_factory=set)
    exit_code: int = 0
    in_use_deleted: list = field(default_factory=list)
    hidden_deleted: list = field(default_factory=list)
    expected_ok: bool = True
    note: str = ""
    self_reported: dict | None = None
    # The throttled setting only (throttled.py).
    throttled: dict = field(default_factory=dict)
    floor: float = 0.0
    floor_bucket: str = ""
    failed: int = 0


def tool_env(endpoint: str, workdir: Path) -> dict:
    # Empty AWS config and credentials files: nothing from ~/.aws takes part.
    for empty in ("aws-config-none", "aws-credentials-none"):
        (workdir / empty).touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(workdir / "aws-config-none"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "aws-credentials-none"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_COLOR="1",
        TERM="dumb",
    )
    return env


def gnu_time() -> str | None:
    """GNU time, if installed: it reports its child's own peak RSS (see measure)."""
    path = shutil.which("time", path="/usr/bin:/bin") or None
    if path:
        probe = subprocess.run([path, "--version"], capture_output=True, text=True)
        if "GNU" not in probe.stdout + probe.stderr:
            path = None
    return path


GNU_TIME = gnu_time()


def measure(cmd: list[str], env: dict, out: Path, timeout: float) -> tuple[int, float, float, float]:
    """Runs cmd; returns (exit code, wall s, user+sys CPU s, peak RSS MiB) of that process.

    CPU comes from wait4 (it includes the children the tool waited for). Peak RSS does not: a
    process started from this (large) Python process inherits its high-water mark through
    fork/exec, so wait4's ru_maxrss would read at least this process's own peak. With GNU time
    in between (a tiny C program that forks the tool), `%M` is the tool's own peak; without it
    the figure is ru_maxrss from wait4, an upper bound, marked with `<=` in the table.
    """
    rss_file = out.with_suffix(".rss")
    if GNU_TIME:
        cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd]
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kib = float(usage.ru_maxrss)
    if GNU_TIME:
        try:
            rss_kib = float(rss_file.read_text().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            rss_kib = float("nan")
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, rss_kib / 1024.0


def parse_report(text: str) -> dict | None:
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start = text.find("{")
        try:
            return json.loads(text[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            return None


# --------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args, servers: Servers, workdir: Path) -> None:
        self.args = args
        self.servers = servers
        self.workdir = workdir
        self.venv_bin = Path(sys.executable).parent
        self.runs: list[Run] = []
        self.problems: list[str] = []
        self.rate_scale: float | None = None  # the throttled setting's refill factor

    def command(self, tool: str, job: str, cfgdir: Path, hidden: bool = False) -> list[str]:
        if tool == "aws-amicleaner":
            return [
                str(self.venv_bin / "amicleaner"),
                "--mapping-key",
                "tags",
                "--mapping-values",
                "Group",
                "--keep-previous",
                "2",
                "-f",
                "--full-report",
            ]
        if tool == "c7n":
            policy = cfgdir / "c7n-policy.yml"
            policy.write_text(C7N_POLICY)
            outdir = cfgdir / f"c7n-out-{time.time_ns()}"
            return [
                str(self.venv_bin / "custodian"),
                "run",
                "--cache-period",
                "0",
                "-s",
                str(outdir),
                "--region",
                REGION,
                str(policy),
            ]
        if tool == "amikeeper":
            cfg = cfgdir / f"amikeeper-{job}{'-hidden' if hidden else ''}.toml"
            text = KEEP2_TOML if job == "keep-2" else UNUSED_TOML
            if hidden:
                # amikeeper reads SSM parameters under the paths it is given (and those its
                # rules name); it does not list every parameter of the account.
                text = text.replace("[retention]\n", '[retention]\nparameter_paths = ["/bench/"]\n')
            cfg.write_text(text)
            return [
                self.args.amikeeper,
                "sweep",
                "--config",
                str(cfg),
                "--apply",
                "--region",
                REGION,
                "--endpoint-url",
                self.servers.proxy_url,
            ]
        raise ValueError(tool)

    def expected(self, f: Fill, job: str) -> set[str]:
        keep = set(f.in_use)
        if job == "keep-2":
            keep |= {name(g, i) for g in range(GROUPS) for i in (f.per - 1, f.per - 2)}
        return keep

    def run_one(self, setting: str, n: int, job: str, tool: str, hidden: bool) -> Run:
        log(f"{setting} {job} {tool}: filling {n} AMIs")
        t0 = time.perf_counter()
        f = fill(self.servers.moto_url, n, self.args.workers, hidden)
        log(f"  filled in {time.perf_counter() - t0:.1f} s; running {tool}")
        self.servers.reset_counts()
        stem = self.workdir / f"{setting.replace(' ', '_').replace(',', '')}-{job}-{tool}"
        cmd = self.command(tool, job, self.workdir, hidden)
        code, wall, cpu, rss = measure(cmd, tool_env(self.servers.proxy_url, self.workdir), stem.with_suffix(".out"), self.args.timeout)
        counts = self.servers.counts()
        amis, snaps = remaining(self.servers.moto_url, f)
        run = Run(setting, job, tool, wall, cpu, rss, counts["total"], counts["by_operation"], amis, snaps, code)
        if tool == "amikeeper":
            run.self_reported = parse_report(stem.with_suffix(".out").read_text(errors="replace"))
        if code != 0:
            run.note = f"exit {code}, see {stem}.out/.err"
            self.problems.append(f"{setting} {job} {tool}: exit code {code} (see {stem}.err)")
        run.in_use_deleted = sorted(f.in_use - amis) + [f"snapshot of {x}" for x in sorted(f.in_use - snaps)]
        if run.in_use_deleted:
            self.problems.append(f"{setting} {job} {tool}: deleted in-use {run.in_use_deleted[:6]}")
        run.hidden_deleted = [(x, f.hidden[x]) for x in sorted(set(f.hidden) - amis)]
        if self.rate_scale:
            run.throttled = counts.get("throttled", {})
            run.floor, run.floor_bucket = throttled_bench.floor_of(counts)
            run.failed = throttled_bench.failed_actions(run, self.expected(f, job))
        if not hidden:
            want = self.expected(f, job)
            if amis != want or snaps != want:
                run.expected_ok = False
                self.problems.append(
                    f"{setting} {job} {tool}: left {len(amis)} AMIs/{len(snaps)} snapshots, expected {len(want)};"
                    f" missing {sorted(want - amis)[:4]}, extra AMIs {sorted(amis - want)[:4]},"
                    f" extra snapshots {sorted(snaps - want)[:4]}"
                )
        log(
            f"  {tool}: exit {code}, {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB, {counts['total']} calls;"
            f" {len(amis)} AMIs, {len(snaps)} snapshots left"
        )
        self.runs.append(run)
        return run

    def pair(self, setting: str, n: int, job: str, peer: str, hidden: bool = False) -> None:
        tools = [t for t in (peer, "amikeeper") if t in self.args.tools]
        runs = [self.run_one(setting, n, job, t, hidden) for t in tools]
        if len(runs) == 2 and not hidden:
            a, b = runs
            if a.amis_left != b.amis_left or a.snaps_left != b.snaps_left:
                self.problems.append(
                    f"MISMATCH {setting} {job}: {peer} left {len(a.amis_left)} AMIs/{len(a.snaps_left)} snapshots,"
                    f" amikeeper {len(b.amis_left)}/{len(b.snaps_left)};"
                    f" only {peer}: {sorted(a.amis_left - b.amis_left)[:4]},"
                    f" only amikeeper: {sorted(b.amis_left - a.amis_left)[:4]}"
                )
                a.note = b.note = (a.note + " MISMATCH").strip()

    def setting(self, n: int, delay_ms: float) -> None:
        label = f"{n} AMIs, +{delay_ms:g} ms"
        self.servers.start_proxy(delay_ms)
        log(f"== {label} (proxy 127.0.0.1:{self.servers.proxy_port})")
        self.pair(label, n, "keep-2", "aws-amicleaner")
        self.pair(label, n, "unused", "c7n")

    def throttled(self, n: int, rate_scale: float) -> None:
        label = f"{n} AMIs, throttled"
        self.rate_scale = rate_scale
        self.servers.start_proxy(0, rate_scale)
        log(f"== {label} (refill x{rate_scale:g}; proxy 127.0.0.1:{self.servers.proxy_port})")
        self.pair(label, n, "keep-2", "aws-amicleaner")
        self.pair(label, n, "unused", "c7n")

    def hidden(self, n: int) -> None:
        label = f"hidden in-use, {n} AMIs"
        self.servers.start_proxy(0)
        log(f"== {label}")
        self.pair(label, n, "keep-2", "aws-amicleaner", hidden=True)
        self.pair(label, n, "unused", "c7n", hidden=True)


# --------------------------------------------------------------------------------------------
# Report


def top_ops(by_op: dict, k: int = 3) -> str:
    items = sorted(by_op.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{op.split(':', 1)[-1]} {c}" for op, c in items)


def table(runs: list[Run]) -> list[str]:
    lines = [
        "| setting | job | tool | wall s | client CPU s | peak RSS MiB | AWS calls | top calls | AMIs / snapshots left | check |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.setting} | {r.job} | {r.tool} | {r.wall:.2f} | {r.cpu:.2f} | {'' if GNU_TIME else '<= '}{r.rss_mib:.0f} | {r.calls} |"
            f" {top_ops(r.by_op)} | {len(r.amis_left)} / {len(r.snaps_left)} | {throttled_bench.check_cell(r)} |"
        )
    return lines


def targets(runs: list[Run]) -> list[str]:
    out = []
    settings = []
    for r in runs:
        if r.setting not in settings and not r.setting.startswith("hidden"):
            settings.append(r.setting)
    for s in settings:
        here = [r for r in runs if r.setting == s]
        peers = [r for r in here if r.tool != "amikeeper"]
        mine = [r for r in here if r.tool == "amikeeper"]
        if not peers or not mine:
            continue
        plain = s.endswith("+0 ms")
        for job in ("keep-2", "unused"):
            p = [r for r in peers if r.job == job]
            m = [r for r in mine if r.job == job]
            if not p or not m:
                continue
            p, m = p[0], m[0]
            if plain:
                ok_wall = m.wall <= p.wall
                ok_cpu = m.cpu <= p.cpu / 10
                ok_calls = m.calls <= p.calls
                out.append(
                    f"- {s}, {job} vs {p.tool}: wall {m.wall:.2f} s vs {p.wall:.2f} s ({'met' if ok_wall else 'MISSED'}:"
                    f" no slower); CPU {m.cpu:.2f} s vs {p.cpu:.2f} s = {m.cpu / p.cpu if p.cpu else 0:.3f}x"
                    f" ({'met' if ok_cpu else 'MISSED'}: at most 0.1x); calls {m.calls} vs {p.calls}"
                    f" ({'met' if ok_calls else 'MISSED'}: no more)"
                )
            else:
                speedup = p.wall / m.wall if m.wall else float("inf")
                out.append(
                    f"- {s}, {job} vs {p.tool}: {speedup:.1f}x faster ({m.wall:.2f} s vs {p.wall:.2f} s;"
                    f" {'met' if speedup >= 5 else 'MISSED'}: at least 5x)"
                )
        # Against the faster of the two peers, as the issue words it.
        fastest = min(peers, key=lambda r: r.wall)
        out.append(f"- {s}: the faster peer is {fastest.tool} ({fastest.job}, {fastest.wall:.2f} s)")
    return out


def versions(args) -> list[str]:
    out = []
    try:
        from importlib.metadata import version

        for pkg in ("moto", "aws-amicleaner", "c7n", "boto3", "botocore"):
            out.append(f"{pkg} {version(pkg)}")
    except Exception:
        pass
    try:
        v = subprocess.run([args.amikeeper, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        out.append(v)
    except Exception:
        pass
    return out


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amis", type=int, help="one setting with this many AMIs (with --delay-ms)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="the proxy's delay for --amis")
    parser.add_argument("--settings", default="5000:0,1000:50", help="AMIS:DELAY_MS,... (default: the issue's two)")
    parser.add_argument("--quick", action="store_true", help="200 AMIs plain and 100 behind +50 ms")
    parser.add_argument("--hidden", type=int, default=100, help="AMIs for the hidden in-use scenario (0: skip)")
    parser.add_argument("--tools", default="aws-amicleaner,c7n,amikeeper")
    parser.add_argument("--amikeeper", default=os.environ.get("AMIKEEPER_BIN", str(REPO / "target/release/amikeeper")))
    parser.add_argument("--moto-server", default=None, help="moto launcher (default: scripts/moto-server, else moto_server)")
    parser.add_argument("--workers", type=int, default=8, help="fill threads")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool run")
    parser.add_argument("--results", default=str(HERE / "results.md"))
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--throttled", action="store_true", help="behind AWS's request throttling: 2,000 AMIs (throttled.py)")
    parser.add_argument("--long", action="store_true", help="with --throttled: 10,000 AMIs")
    parser.add_argument("--rate-scale", default="auto", help="with --throttled: multiply every refill rate (auto: fit --floor-budget)")
    parser.add_argument("--floor-budget", type=float, default=120.0, help="with --throttled --rate-scale auto: seconds of floor a run may take")
    args = parser.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]

    throttled_n = (args.amis or (10000 if args.long else 2000)) if args.throttled else 0
    scale_note = ""
    if throttled_n:
        # keep-2 keeps 2 newest and 2 in use per group; unused keeps the 2 in use: the larger floor.
        rate_scale, scale_note = throttled_bench.choose_scale(args.rate_scale, throttled_n, 2 * GROUPS, args.floor_budget)
        log(scale_note)
    if args.throttled:
        settings, args.hidden = [], 0
    elif args.amis:
        settings = [(args.amis, args.delay_ms)]
    elif args.quick:
        settings = [(200, 0.0), (100, 50.0)]
    else:
        settings = [(int(a), float(d)) for a, d in (s.split(":") for s in args.settings.split(",") if s and s != "none")]

    if "amikeeper" in args.tools and not (Path(args.amikeeper).exists() or shutil.which(args.amikeeper)):
        print(f"run.py: amikeeper binary {args.amikeeper} not found", file=sys.stderr)
        return 2
    if args.moto_server:
        moto_cmd = args.moto_server.split()
    elif (REPO / "scripts/moto-server").exists():
        moto_cmd = [str(REPO / "scripts/moto-server")]
    else:
        moto_cmd = [str(Path(sys.executable).parent / "moto_server")]

    workdir = Path(tempfile.mkdtemp(prefix="amikeeper-bench-"))
    servers = Servers(moto_cmd, workdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args, servers, workdir)
    started = dt.datetime.now(dt.timezone.utc)
    try:
        servers.start_moto()
        for n, delay in settings:
            bench.setting(n, delay)
        if throttled_n:
            bench.throttled(throttled_n, rate_scale)
        if args.hidden:
            bench.hidden(args.hidden)
    except KeyboardInterrupt:
        bench.problems.append("interrupted")
    except Exception as error:  # still print what was measured
        bench.problems.append(f"error: {type(error).__name__}: {error}")
        import traceback

        traceback.print_exc()
    finally:
        servers.stop()

    if throttled_n:
        return throttled_report(args, bench, started, moto_cmd, workdir, throttled_n, scale_note)
    main_runs = [r for r in bench.runs if not r.setting.startswith("hidden")]
    hidden_runs = [r for r in bench.runs if r.setting.startswith("hidden")]
    for r in hidden_runs:
        if r.tool == "amikeeper" and r.hidden_deleted:
            bench.problems.append(f"{r.job}: amikeeper deleted hidden in-use AMIs {r.hidden_deleted[:6]}")
    lines = [
        "# amikeeper sweep vs aws-amicleaner and Cloud Custodian on moto",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `scripts/bench-compare.sh"
        f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`"
        f" on {os.cpu_count()} cores. Moto: `{' '.join(Path(c).name for c in moto_cmd)}`.",
        "Versions: " + ", ".join(versions(args)) + ".",
        "",
        "keep-2 = keep the 2 newest AMIs of each of 10 groups (tag `Group`); unused = delete every grouped",
        "AMI nothing uses. Each group has 2 old AMIs in use (a running instance; an ASG's launch template).",
        "Client CPU is user+sys of the tool's process (wait4); peak RSS is its own (GNU time `%M`); AWS calls are counted",
        "by the proxy in front of moto. `check` compares what is left with the expected set and the peer.",
        "",
        *table(main_runs),
        "",
    ]
    tlines = targets(main_runs)
    if tlines:
        lines += ["Targets (plain moto: no slower than the peer, at most 0.1x its CPU, no more calls;", "+50 ms: at least 5x faster):", "", *tlines, ""]
    if hidden_runs:
        lines += [
            "Hidden in-use (only amikeeper looks at these; its config adds `parameter_paths = [\"/bench/\"]`):",
            "per group one AMI named only by an SSM parameter under /bench/,",
            "one only by a launch template version no ASG uses, one only by a CloudFormation stack parameter",
            f"({GROUPS * 3} in all). How many each tool deleted:",
            "",
            "| job | tool | SSM parameter (of 10) | launch template, no ASG (of 10) | stack parameter (of 10) | AWS calls | wall s |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in hidden_runs:
            by_kind = Counter(kind for _, kind in r.hidden_deleted)
            lines.append(
                f"| {r.job} | {r.tool} | {by_kind['SSM parameter']} | {by_kind['launch template version (no ASG)']}"
                f" | {by_kind['stack parameter']} | {r.calls} | {r.wall:.2f} |"
            )
        lines.append("")
    if bench.problems:
        lines += ["Problems:", "", *[f"- {p}" for p in bench.problems], ""]
    return finish(args, bench, workdir, "\n".join(lines), throttled=False)


def finish(args, bench: Bench, workdir: Path, text: str, throttled: bool) -> int:
    """Prints `text`, writes it into the results file (its own section), and says how it went."""
    print(text)
    throttled_bench.write_results(Path(args.results), text, throttled)
    log(f"wrote {args.results}; logs in {workdir}")
    if not args.keep_logs and not bench.problems:
        shutil.rmtree(workdir, ignore_errors=True)
    if bench.problems:
        print("\nFAILED:\n" + "\n".join(bench.problems), file=sys.stderr)
        return 1
    return 0


def throttled_report(args, bench: Bench, started, moto_cmd, workdir: Path, n: int, scale_note: str) -> int:
    runs = bench.runs
    for r in runs:
        if r.tool == "amikeeper" and r.failed:
            bench.problems.append(f"{r.job}: amikeeper left {r.failed} actions failed")
    lines = [
        throttled_bench.SECTION,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `scripts/bench-compare.sh {' '.join(sys.argv[1:])}`"
        f" on {os.cpu_count()} cores (load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}).",
        f"Moto: `{' '.join(Path(c).name for c in moto_cmd)}`. Versions: " + ", ".join(versions(args)) + ".",
        "",
        f"{n} AMIs in 10 groups; keep-2 and unused as above, each tool behind the throttling proxy (proxy.py --throttle:",
        "EC2's request token bucket per API action, as documented; benches/compare/README.md, \"Throttling\"). Every run",
        "starts with full buckets. " + scale_note,
        "",
        "floor = the least time the run's own answered requests need through their buckets: max over buckets of",
        "(requests - capacity) / refill (buckets refill side by side). failed actions = AMIs or snapshots the job should have",
        "deleted and did not (or the tool's own count of failures, if larger).",
        "",
        *throttled_bench.table(runs),
        "",
    ]
    tlines = throttled_bench.targets(runs)
    if tlines:
        lines += ["Target (amikeeper):", "", *tlines, ""]
    by_op = throttled_bench.throttled_by_operation(runs)
    if by_op:
        lines += ["Throttled answers by operation:", "", *by_op, ""]
    if bench.problems:
        lines += ["Problems:", "", *[f"- {p}" for p in bench.problems], ""]
    return finish(args, bench, workdir, "\n".join(lines), throttled=True)


if __name__ == "__main__":
    sys.exit(main())
