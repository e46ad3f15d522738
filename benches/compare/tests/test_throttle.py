"""The throttling proxy's model of AWS's request token buckets (benches/compare/throttle.py),
checked against the documented figures with a scripted sequence of requests and an injected
clock, and its throttled answers parsed by botocore as each service's error. Not timed.

Run by scripts/test.sh: .venv/bin/python -m pytest benches/compare/tests
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.retries.standard import ThrottledRetryableChecker

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from throttle import Throttle, floor_seconds, limit_of, throttled_reply  # noqa: E402

NO_PARAMS: dict[str, str] = {}


def run(throttle: Throttle, action: str, times: int, at: float, service: str = "ec2", params=NO_PARAMS) -> list[bool]:
    return [throttle.admit(service, action, params, at)[0] for _ in range(times)]


def test_the_documented_example_describe_hosts_bursts_100_then_20_a_second():
    # "the bucket size for DescribeHosts ... is 100 tokens and the refill rate is 20 tokens per
    # second. If you make 100 DescribeHosts requests in one second, the bucket is reduced to
    # zero ... you can continue to make 20 API requests per second".
    t = Throttle()
    assert run(t, "DescribeHosts", 100, 0.0) == [True] * 100
    assert run(t, "DescribeHosts", 1, 0.0) == [False]
    for second in (1.0, 2.0, 3.0):
        assert run(t, "DescribeHosts", 21, second) == [True] * 20 + [False]
    # "an empty bucket reaches its maximum capacity after 5 seconds": never more.
    assert run(t, "DescribeHosts", 101, 60.0) == [True] * 100 + [False]


def test_deregister_image_and_delete_snapshot_have_their_own_buckets_of_100_at_5_a_second():
    t = Throttle()
    assert run(t, "DeregisterImage", 101, 0.0) == [True] * 100 + [False]
    # Another API is not affected ("requests for other API are not affected").
    assert run(t, "DeleteSnapshot", 100, 0.0) == [True] * 100
    assert run(t, "DescribeImages", 100, 0.0) == [True] * 100
    # 5 tokens a second, usable as they arrive: one every 200 ms.
    assert run(t, "DeregisterImage", 6, 1.0) == [True] * 5 + [False]
    assert run(t, "DeregisterImage", 1, 1.1) == [False]
    assert run(t, "DeregisterImage", 2, 1.2) == [True, False]
    assert run(t, "DeleteSnapshot", 2, 1.0) == [True, True], "refilled on its own"


def test_unfiltered_and_unpaginated_describes_use_the_smaller_bucket():
    t = Throttle()
    assert run(t, "DescribeSnapshots", 51, 0.0) == [True] * 50 + [False]
    # With a filter, or paginated, the standard non-mutating bucket (100, its own).
    assert run(t, "DescribeSnapshots", 100, 0.0, params={"Filter.1.Name": "owner-id"}) == [True] * 100
    assert run(t, "DescribeSnapshots", 1, 0.0, params={"MaxResults": "1000"}) == [False]
    assert run(t, "DescribeSnapshots", 11, 1.0) == [True] * 10 + [False]
    assert limit_of("ec2", "DescribeInstances", {"NextToken": "x"}).capacity == 100
    assert limit_of("ec2", "DescribeImages", NO_PARAMS).capacity == 100, "not in the unfiltered list"


def test_categories_and_uncategorized_actions():
    mutating = limit_of("ec2", "DeleteLaunchTemplateVersions", NO_PARAMS)
    assert (mutating.capacity, mutating.refill, mutating.bucket) == (50, 5, "ec2:DeleteLaunchTemplateVersions")
    assert (limit_of("ec2", "CreateTags", NO_PARAMS).capacity, limit_of("ec2", "CreateTags", NO_PARAMS).refill) == (100, 10)
    assert (limit_of("ec2", "RunInstances", NO_PARAMS).capacity, limit_of("ec2", "RunInstances", NO_PARAMS).refill) == (5, 2)
    assert limit_of("ec2", "AuthorizeSecurityGroupIngress", NO_PARAMS).refill == 5
    t = Throttle()
    assert run(t, "RunInstances", 6, 0.0) == [True] * 5 + [False]
    assert run(t, "RunInstances", 3, 1.0) == [True, True, False]


def test_parameter_store_actions_share_40_a_second_and_auto_scaling_shares_one_bucket():
    t = Throttle()
    assert run(t, "GetParameter", 30, 0.0, service="ssm") == [True] * 30
    assert run(t, "GetParametersByPath", 11, 0.0, service="ssm") == [True] * 10 + [False]
    assert run(t, "GetParameters", 41, 1.0, service="ssm") == [True] * 40 + [False]
    assert run(t, "DescribeAutoScalingGroups", 15, 0.0, service="autoscaling") == [True] * 15
    assert run(t, "DescribeLaunchConfigurations", 6, 0.0, service="autoscaling") == [True] * 5 + [False]
    assert not limit_of("cloudformation", "DescribeStacks", NO_PARAMS).documented


def test_the_rate_scale_multiplies_refill_rates_not_bursts():
    t = Throttle(scale=4)
    assert run(t, "DeregisterImage", 101, 0.0) == [True] * 100 + [False]
    assert run(t, "DeregisterImage", 21, 1.0) == [True] * 20 + [False]


def test_the_floor_is_the_slowest_bucket_past_its_burst():
    limits = {
        "ec2:DeregisterImage": limit_of("ec2", "DeregisterImage", NO_PARAMS),
        "ec2:DeleteSnapshot": limit_of("ec2", "DeleteSnapshot", NO_PARAMS),
        "ec2:DescribeImages": limit_of("ec2", "DescribeImages", NO_PARAMS),
    }
    floor, bucket = floor_seconds({"ec2:DeregisterImage": 1960, "ec2:DeleteSnapshot": 1000, "ec2:DescribeImages": 3}, limits)
    assert (floor, bucket) == ((1960 - 100) / 5, "ec2:DeregisterImage")
    assert floor_seconds({"ec2:DescribeImages": 99}, limits) == (0.0, "")


# --------------------------------------------------------------------------------------------
# The answers, as botocore parses them for each service's protocol.


def parse(service: str, operation: str, reply: tuple[int, dict[str, str], bytes]) -> dict:
    status, headers, body = reply
    model = ServiceModel(botocore.session.get_session().get_service_data(service))
    parser = create_parser(model.metadata["protocol"])
    return parser.parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": body}, model.operation_model(operation).output_shape
    )


@pytest.mark.parametrize(
    "service, operation, code, status",
    [
        ("ec2", "DeregisterImage", "RequestLimitExceeded", 503),
        ("autoscaling", "DescribeAutoScalingGroups", "Throttling", 400),
        ("cloudformation", "DescribeStacks", "Throttling", 400),
        ("sts", "GetCallerIdentity", "Throttling", 400),
        ("ssm", "GetParametersByPath", "ThrottlingException", 400),
    ],
)
def test_throttled_answers_parse_as_each_services_throttling_error(service, operation, code, status):
    parsed = parse(service, operation, throttled_reply(service, "req-1"))
    assert parsed["Error"]["Code"] == code
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    # botocore's standard retry mode sees it as throttling (and backs off for it).

    class Context:
        def __init__(self, parsed):
            self.parsed_response = parsed
            self.http_response = None

        def get_error_code(self):
            return self.parsed_response["Error"]["Code"]

    assert ThrottledRetryableChecker().is_retryable(Context(parsed))


# --------------------------------------------------------------------------------------------
# End to end: the proxy in front of a stub that answers DeregisterImage.


class Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'<DeregisterImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><return>true</return></DeregisterImageResponse>'
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_proxy_answers_request_limit_exceeded_once_the_bucket_is_empty_and_counts_it(tmp_path):
    import json
    import urllib.request

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port_file = tmp_path / "port"
    proxy = subprocess.Popen(
        [sys.executable, str(HERE / "proxy.py"), "--upstream-port", str(upstream.server_address[1]),
         "--throttle", "--rate-scale", "0.001", "--port-file", str(port_file)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 20
        while not port_file.exists():
            assert time.time() < deadline and proxy.poll() is None, "the proxy did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        ec2 = botocore.session.get_session().create_client(
            "ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id="a", aws_secret_access_key="b",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        for _ in range(100):
            ec2.deregister_image(ImageId="ami-12345678")
        with pytest.raises(ClientError) as error:
            ec2.deregister_image(ImageId="ami-12345678")
        assert error.value.response["Error"]["Code"] == "RequestLimitExceeded"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with urllib.request.urlopen(f"{url}/__counts") as resp:
            counts = json.loads(resp.read())
        assert counts["by_operation"] == {"ec2:DeregisterImage": 101}
        assert counts["throttled"] == {"ec2:DeregisterImage": 1}
        assert counts["passed_by_bucket"] == {"ec2:DeregisterImage": 100}
        assert counts["limits"]["ec2:DeregisterImage"][0] == 100
        # A reset fills the bucket again.
        urllib.request.urlopen(urllib.request.Request(f"{url}/__reset", data=b"", method="POST")).read()
        ec2.deregister_image(ImageId="ami-12345678")
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        upstream.shutdown()
