"""The `apigateway` group of `make bench`: the three ways to the function on one local AWS
stand-in (tools/localaws/local_aws.py, in this process, with its API Gateway, tools/localaws/local_apigw.py):

    python tools/bench/bench.py --only apigateway

Figures:
  ms per notify   a burst of notifies from one device process (kept-alive connection,
                  timed inside the device, tools/demo_device.py), under micropython and
                  CPython, in Lambda mode (Invoke), API mode with IAM (the HTTP API, SigV4 for
                  execute-api) and API mode with an API key (the REST API); and, as the
                  boto3-free host client, urllib3 (what `requests` is built on, one pool) with
                  the request signed by botocore's SigV4Auth for the HTTP API, with the API
                  key for the REST API, and boto3's lambda.invoke for Lambda mode. Every case
                  sends the same JSON to the same function, which publishes it to moto's SNS.
  heap            smallest `micropython -X heapsize=N` that runs one app.notify() from the
                  .mpy firmware in each mode, and with direct SNS Publish (no function):
                  the median over folders of different name lengths (tools/bench.py,
                  notify_heap), the test CA only; target 64 KB each.
The device cases run interleaved, so that a change in the machine's load hits each alike.
"""
import json
import os
import statistics
import sys
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
BURST = 30
RUNTIMES = ("micropython", "cpython")
MODES = (("lambda", None), ("api_iam", "iam"), ("api_key", "key"))
HEAP_MODES = ("lambda", "sns", "api_iam", "api_key")  # "sns": direct SNS Publish, no function
HEAP_TARGET = 64 * 1024
SUBJECT = "subject"
BODY = "body of message"

# A notify returns the function's InvokeResult, or in direct-SNS mode the MessageId (str).
_NOTIFY_PROBE = """\
import app
result = app.notify(%r, %r)
print("ok" if isinstance(result, str) or getattr(result, "status", None) == 200 else "failed: %%r" %% (result,))
"""


def _tools(bench):
    return sys.modules[type(bench).__module__]


class _Case:
    """One mode's config.py (and its .mpy config for the heap runs) for the stand-in."""

    def __init__(self, bench, aws, mode, api):
        self.mode = mode
        self.folder = os.path.join(bench.tmp, "apigw", mode)
        self.device_dir = os.path.join(self.folder, "device")
        os.makedirs(self.device_dir, exist_ok=True)
        self.config = os.path.join(self.folder, "config.py")
        aws.write_device_config(self.config, api=api, CONFIG_TLS_CA=aws.ca_der,
                                CONFIG_OUTBOX_PATH=os.path.join(self.device_dir, "outbox.txt"))


def _burst(bench, aws, case, runtime):
    """ms per notify for BURST notifies in one device process."""
    import demo

    tag = uuid.uuid4().hex
    status, output, _ = demo.run_device(runtime, case.folder, SUBJECT, "burst " + tag, case.device_dir, count=BURST)
    lines = [line for line in output.splitlines() if line.startswith("burst: ")]
    if status != 0 or not lines:
        raise _tools(bench).BenchError("%s %s burst failed (status %d):\n%s" % (case.mode, runtime, status,
                                                                               output[-2000:]))
    arrived = [m for m in aws.sns_messages() if tag in m["message"]]
    if len(arrived) != BURST:
        raise _tools(bench).BenchError("%s %s burst: %d of %d arrived" % (case.mode, runtime, len(arrived), BURST))
    return float(lines[-1].split(" in ")[1].split()[0]) / BURST


def _host_clients(aws):
    """{case: send(body)}: urllib3 + botocore's SigV4Auth (HTTP API), urllib3 + API key (REST
    API), boto3 lambda.invoke (Lambda); each keeps its connection alive."""
    import boto3
    import botocore.config
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    gateway = aws.gateway
    pool = urllib3.PoolManager(ca_certs=aws.ca_pem, retries=False)
    credentials = Credentials(gateway.access_key, gateway.secret_key)

    def event(body):
        return json.dumps({"topic": aws.topic_arn, "subject": SUBJECT, "body": body})

    def signed(body):
        url = gateway.http_api.url + "/notify"
        request = AWSRequest(method="POST", url=url, data=event(body).encode(),
                             headers={"content-type": "application/json"})
        SigV4Auth(credentials, "execute-api", aws.region).add_auth(request)
        reply = pool.request("POST", url, body=request.body, headers=dict(request.headers))
        return reply.status

    def keyed(body):
        reply = pool.request("POST", gateway.rest_api.url + "/notify", body=event(body).encode(),
                             headers={"content-type": "application/json", "x-api-key": gateway.api_key})
        return reply.status

    lam = boto3.client("lambda", endpoint_url=aws.endpoint, region_name=aws.region, verify=aws.ca_pem,
                       aws_access_key_id=aws.access_key, aws_secret_access_key=aws.secret_key,
                       config=botocore.config.Config(retries={"total_max_attempts": 1}))

    def invoke(body):
        reply = lam.invoke(FunctionName=aws.function_name, Payload=event(body))
        reply["Payload"].read()
        return reply["StatusCode"] if "FunctionError" not in reply else 500

    return {"api_iam": signed, "api_key": keyed, "lambda": invoke}


def _host_burst(bench, aws, send, mode):
    tag = uuid.uuid4().hex
    send("warm-up " + tag)  # the connection, as the device's burst has its handshake before the timing
    started = time.perf_counter()
    for i in range(BURST):
        status = send("burst %s #%d" % (tag, i))
        if status != 200:
            raise _tools(bench).BenchError("host %s: HTTP %d" % (mode, status))
    return (time.perf_counter() - started) * 1000 / BURST


def _notify_heap(bench, aws, mode):
    """notify_heap() (tools/bench.py) of one notify in mode, "sns" being direct SNS: the
    median over the layouts, the .mpy firmware and config, the test CA only."""

    def modules(folder):
        os.makedirs(folder, exist_ok=True)
        config = aws.write_device_config(os.path.join(folder, "config.py.src"), direct_sns=mode == "sns",
                                         api=dict(MODES).get(mode), CONFIG_TLS_CA=aws.ca_der,
                                         CONFIG_OUTBOX_PATH=os.path.join(folder, "outbox.txt"))
        with open(config) as f:
            return {"config": f.read(), "notify_probe": _NOTIFY_PROBE % (SUBJECT, BODY)}

    return _tools(bench).notify_heap(bench, "apigw_" + mode, modules)


def group_apigateway(bench):
    tools = _tools(bench)
    from local_aws import LocalAWS

    group = "apigateway"
    rounds = 1 if bench.quick else 3
    per_notify = {(mode, runtime): [] for mode, _ in MODES for runtime in RUNTIMES + ("host",)}
    with LocalAWS() as aws:  # the shared CA, as the tests'
        cases = {mode: _Case(bench, aws, mode, api) for mode, api in MODES}
        host = _host_clients(aws)
        for _ in range(rounds):
            for mode, _api in MODES:
                for runtime in RUNTIMES:
                    per_notify[(mode, runtime)].append(_burst(bench, aws, cases[mode], runtime))
                per_notify[(mode, "host")].append(_host_burst(bench, aws, host[mode], mode))
        heaps = {mode: _notify_heap(bench, aws, mode) for mode in HEAP_MODES}

    labels = {"lambda": "Lambda Invoke", "api_iam": "API Gateway, IAM", "api_key": "API Gateway, API key",
              "sns": "direct SNS Publish"}
    hosts = {"lambda": "boto3 lambda.invoke", "api_iam": "urllib3 + botocore SigV4Auth",
             "api_key": "urllib3 + x-api-key"}
    for mode, _ in MODES:
        for runtime in RUNTIMES:
            bench.add(group, "ms_per_notify_%s_%s" % (mode, runtime), "%s, mpaws on %s" % (labels[mode], runtime),
                      statistics.median(per_notify[(mode, runtime)]), "ms",
                      note="%d-notify burst on one connection, median of %d" % (BURST, rounds))
        bench.add(group, "ms_per_notify_%s_host" % mode, "%s, %s" % (labels[mode], hosts[mode]),
                  statistics.median(per_notify[(mode, "host")]), "ms")
    for mode in HEAP_MODES:
        tools.add_notify_heap(bench, group, "heap_notify_%s" % mode, "min heapsize, one notify, %s" % labels[mode],
                              heaps[mode], ("<=", HEAP_TARGET), note="unix port, 64-bit; test CA only")
    return tools
