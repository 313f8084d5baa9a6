"""The `demo` group of `make bench`: the chain `make demo` shows (device -> TLS -> local AWS
stand-in -> Lambda function -> SNS), timed, against one stand-in process started for the
group (tools/localaws/local_aws.py, as make demo runs it).

    python tools/bench/bench.py --only demo

Figures:
  demo_total      wall time of `python tools/demo.py` (what `make demo` runs after setup:
                  stand-in start-up, notify, printout, stop); target well under 30 s.
  notify_step     wall time of the demo's notify step: a fresh device process (micropython
                  or CPython) that loads config.py, connects (TLS handshake), signs and
                  invokes; the function runs and publishes to SNS before the reply.
  burst           notifies per second for 50 notifies in one device process, timed inside
                  it (one kept-alive connection; the TLS handshake counts); boto3
                  `lambda.invoke` of the same payloads, on one client, in this process;
                  ratio mpaws / boto3 (above 1: mpaws is faster). Each of the 50 messages is
                  checked to have arrived in the topic, and the handshakes are counted.
Each figure is the median of interleaved rounds (3, 1 with --quick).
"""
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
sys.path.insert(0, os.path.join(REPO, "tools"))

import demo  # noqa: E402  (StandIn, run_device: what make demo runs)

BURST = 50
RUNTIMES = ("micropython", "cpython")


def _bench_module(bench):
    # tools/bench/bench.py (as __main__ or imported): its BenchError, so a failure is reported
    # like any other group's.
    return sys.modules[type(bench).__module__]


def _device_config(folder):
    config = {}
    with open(os.path.join(folder, "config.py"), encoding="utf-8") as f:
        exec(f.read(), config)
    return config


class _Run:
    """One stand-in process and the device's working directory, for every round."""

    def __init__(self, bench):
        self.fail = _bench_module(bench).BenchError
        self.folder = os.path.join(bench.tmp, "demo")
        self.device_dir = os.path.join(self.folder, "device")
        os.makedirs(self.device_dir)
        self.stand_in = demo.StandIn(os.path.join(self.folder, "aws"))
        os.makedirs(self.stand_in.folder)
        self.config_dir = self.stand_in.folder

    def delivered(self, tag):
        return [m for m in self.stand_in.call("GET", "/messages") if tag in m["message"]]

    def notify_step(self, runtime):
        tag = uuid.uuid4().hex
        status, output, seconds = demo.run_device(runtime, self.config_dir, demo.SUBJECT, "notify step " + tag,
                                                  self.device_dir)
        if status != 0 or len(self.delivered(tag)) != 1:
            raise self.fail("%s notify failed (status %d):\n%s" % (runtime, status, output[-2000:]))
        return seconds * 1000

    def mpaws_burst(self, runtime):
        """(notifies per second, TLS handshakes) for BURST notifies in one device process."""
        tag = uuid.uuid4().hex
        mark = self.stand_in.call("GET", "/state")["requests"]
        status, output, _ = demo.run_device(runtime, self.config_dir, demo.SUBJECT, "burst " + tag,
                                            self.device_dir, count=BURST)
        lines = [line for line in output.splitlines() if line.startswith("burst: ")]
        if status != 0 or not lines:
            raise self.fail("%s burst failed (status %d):\n%s" % (runtime, status, output[-2000:]))
        self._check_burst(tag, mark, runtime)
        ms = float(lines[-1].split(" in ")[1].split()[0])
        connections = {r["connection"] for r in self.stand_in.requests(mark) if r["source"] == "client"}
        return BURST / (ms / 1000.0), len(connections)

    def boto3_burst(self, client, topic_arn):
        tag = uuid.uuid4().hex
        mark = self.stand_in.call("GET", "/state")["requests"]
        payloads = [json.dumps({"topic": topic_arn, "subject": demo.SUBJECT, "body": "burst %s #%d" % (tag, i + 1)})
                    for i in range(BURST)]
        started = time.perf_counter()
        for payload in payloads:
            reply = client.invoke(FunctionName=self.stand_in.state["function_name"], Payload=payload)
            if reply["StatusCode"] != 200 or "FunctionError" in reply:
                raise self.fail("boto3 invoke failed: %r" % reply["Payload"].read())
            reply["Payload"].read()
        seconds = time.perf_counter() - started
        self._check_burst(tag, mark, "boto3")
        return BURST / seconds

    def _check_burst(self, tag, mark, who):
        bodies = sorted(m["message"] for m in self.delivered(tag))
        expected = sorted("burst %s #%d" % (tag, i + 1) for i in range(BURST))
        if bodies != expected:
            raise self.fail("%s burst: %d of %d messages arrived" % (who, len(bodies), BURST))


def _demo_total_s(fail):
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py")], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise fail("tools/demo.py failed:\n%s%s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
    return seconds


def group_demo(bench):
    import boto3
    import botocore.config

    group = "demo"
    run = _Run(bench)
    total = _demo_total_s(run.fail)
    bench.add(group, "demo_total_s", "make demo, wall time after setup", total, "s", ("<=", 30))
    rounds = 1 if bench.quick else 3
    steps = {runtime: [] for runtime in RUNTIMES}
    rates = {runtime: [] for runtime in RUNTIMES + ("boto3",)}
    handshakes = {runtime: [] for runtime in RUNTIMES}
    run.stand_in.start()
    try:
        state = run.stand_in.state
        config = _device_config(run.config_dir)
        client = boto3.client("lambda", endpoint_url=state["endpoint"], region_name=state["region"],
                              verify=state["ca_pem"], aws_access_key_id=config["CONFIG_AWS_ACCESS_KEY"],
                              aws_secret_access_key=config["CONFIG_AWS_SECRET_KEY"],
                              config=botocore.config.Config(retries={"total_max_attempts": 1}))
        for _ in range(rounds):  # interleaved, so that a change in machine load hits every case alike
            for runtime in RUNTIMES:
                steps[runtime].append(run.notify_step(runtime))
                rate, count = run.mpaws_burst(runtime)
                rates[runtime].append(rate)
                handshakes[runtime].append(count)
            rates["boto3"].append(run.boto3_burst(client, state["topic_arn"]))
    finally:
        run.stand_in.stop()

    for runtime in RUNTIMES:
        bench.add(group, "notify_step_ms_%s" % runtime, "demo notify step, %s (process start to exit)" % runtime,
                  statistics.median(steps[runtime]), "ms")
    boto3_rate = statistics.median(rates["boto3"])
    for runtime in RUNTIMES:
        rate = statistics.median(rates[runtime])
        bench.add(group, "burst_per_s_%s" % runtime, "50-notify burst, mpaws on %s" % runtime, rate, "notify/s")
        bench.add(group, "burst_handshakes_%s" % runtime, "TLS handshakes per burst, %s" % runtime,
                  max(handshakes[runtime]), "count", ("<=", 1))
    bench.add(group, "burst_per_s_boto3", "50-invoke burst, boto3 lambda.invoke", boto3_rate, "notify/s")
    for runtime in RUNTIMES:
        target = (">=", 1.0) if runtime == "cpython" else None  # issue 3: mpaws on CPython no slower than boto3
        bench.add(group, "burst_ratio_%s" % runtime, "burst rate ratio mpaws %s / boto3" % runtime,
                  statistics.median(rates[runtime]) / boto3_rate, "x", target)
