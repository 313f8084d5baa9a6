"""`make demo`: the whole chain on this machine, no AWS account and no board needed.

    python tools/demo.py [--device micropython|cpython] [--subject TEXT] [--body TEXT]
                         [--fail-with STATUS] [--mode lambda|api|api-iam]

1. starts the local AWS stand-in (tools/localaws/local_aws.py: moto behind TLS, with the Lambda
   function cloud/lambda_function.py and an SNS topic) as a separate process;
2. runs the firmware's app.notify(subject, body) under the MicroPython unix port (or
   CPython) with a config.py the stand-in wrote for it, in a temporary directory;
3. prints the signed request as it went over the wire, the Lambda reply and the SNS
   message as delivered, then stops the stand-in.
With --fail-with 429 (or a 5xx status) the stand-in answers every device request with
that error, to show what a device does when AWS fails: it retries, gives up and keeps the
message in its outbox. With --mode api the device POSTs to the function through API
Gateway (the stand-in's REST API, with an API key and no AWS key on the device); with
--mode api-iam through its HTTP API, signed for execute-api (IAM). Exits 1 if the message
did not arrive in the topic. The environment variables DEVICE,
SUBJECT, BODY and MODE are defaults for the options (what `make demo DEVICE=... SUBJECT=...
BODY=...` sets).

StandIn (the stand-in as a process, driven through its control port) and run_device()
are also what tools/bench/bench_demo.py measures.
"""
import argparse
import base64
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
LOCAL_AWS = os.path.join(REPO, "tools", "localaws", "local_aws.py")
DEVICE_SCRIPT = os.path.join(REPO, "tools", "demo_device.py")
MICROPYTHON = os.path.join(REPO, ".venv", "bin", "micropython")
SUBJECT = "Door open"
BODY = "The front door opened at 07:42. Température intérieure 21.5 °C ✓"
DEVICES = ("micropython", "cpython")
SHOWN_BODY_BYTES = 1500  # longer bodies are cut in the printout (not on the wire)
FAULTS = 10  # requests answered with --fail-with's status: more than the device's attempts


class StandIn:
    """tools/localaws/local_aws.py as a subprocess in folder (ca.pem, ca.der, config.py, state.json)."""

    def __init__(self, folder, api=None):
        self.folder = folder
        self.api = api  # "key" or "iam": config.py for API Gateway mode
        self.proc = None
        self.state = None
        self.banner = []

    def start(self, timeout=60, options=()):
        api = ["--api", self.api] if self.api else []
        self.proc = subprocess.Popen([sys.executable, LOCAL_AWS, "--dir", self.folder] + api + list(options),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd=REPO)
        lines = queue.Queue()  # read in a thread, so that a stand-in that hangs cannot hang us
        threading.Thread(target=_pump, args=(self.proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:  # the stand-in prints "ready" once it serves
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the local AWS stand-in did not start:\n" + "\n".join(self.banner))
            if line.strip() == "ready":
                break
            self.banner.append(line.rstrip("\n"))
        with open(os.path.join(self.folder, "state.json")) as f:
            self.state = json.load(f)
        return self

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.state["control"] + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())

    def requests(self, since=0, api=False):
        """The recorded exchanges from position since, with raw and reply decoded to bytes
        (api: those of the API Gateway ports)."""
        out = self.call("GET", "/%s?since=%d" % ("api_requests" if api else "requests", since))
        for r in out:
            r["raw"] = base64.b64decode(r["raw"])
            r["reply"] = base64.b64decode(r["reply"]) if r["reply"] is not None else None
        return out

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                if self.state is None:
                    raise OSError("no control port yet")
                self.call("POST", "/stop")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _pump(stream, lines):
    """Puts each line of stream in the queue lines, then None at its end."""
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def device_command(runtime, config_dir, subject, body, count=0):
    executable = MICROPYTHON if runtime == "micropython" else sys.executable
    command = [executable, DEVICE_SCRIPT, config_dir, FIRMWARE, subject, body]
    return command + [str(count)] if count else command


def run_device(runtime, config_dir, subject, body, cwd, count=0, timeout=120):
    """Runs the firmware's notify (count times on one connection if count) in a fresh
    process; returns (exit status, output, wall seconds)."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    proc = subprocess.run(device_command(runtime, config_dir, subject, body, count), cwd=cwd, env=env,
                          capture_output=True, timeout=timeout)
    seconds = time.perf_counter() - started
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace"), seconds


def as_text(packet, limit=SHOWN_BODY_BYTES):
    """An HTTP message as printable text: CRLF shown as line ends, a long body cut."""
    head, sep, body = packet.partition(b"\r\n\r\n")
    text = head.decode("latin-1").replace("\r\n", "\n") + ("\n\n" if sep else "")
    shown = body[:limit].decode("utf-8", "replace")
    if len(body) > limit:
        shown += "... (%d more bytes)" % (len(body) - limit)
    return text + shown


def _token_hidden(text):
    """text with a session token's value replaced by its length: a secret (AWS honours it,
    with the signature, for as long as the temporary credentials live)."""
    out = []
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if sep and name.lower() == "x-amz-security-token":
            line = "%s: (the session token, %d characters: not shown)" % (name, len(value))
        out.append(line)
    return "\n".join(out)


def _section(title):
    print("\n--- %s %s" % (title, "-" * max(3, 76 - len(title))))


MODES = {"lambda": None, "api": "key", "api-iam": "iam"}


def demo(runtime, subject, body, fail_with=None, auth="keys", mode="lambda"):
    """The demo; returns the exit status. fail_with: an HTTP status (429 or 5xx) the
    stand-in answers the device's requests with. auth: "keys" (an IAM user's key pair in
    config.py) or "cert" (a device certificate and temporary credentials from the AWS IoT
    credentials provider). mode: lambda, api (API Gateway, API key) or api-iam (API
    Gateway, IAM)."""
    folder = tempfile.mkdtemp(prefix="mpaws-demo-")
    api = MODES[mode]
    stand_in = StandIn(os.path.join(folder, "aws"), api)
    os.makedirs(stand_in.folder)
    device_dir = os.path.join(folder, "device")  # the device's working directory (its flash)
    os.makedirs(device_dir)
    try:
        stand_in.start(options=["--cert-auth"] if auth == "cert" else [])
        state = stand_in.state
        print("local AWS stand-in (moto) on %s: topic %s, function %s" % (state["endpoint"], state["topic_arn"],
                                                                           state["function_name"]))
        print("device config written for it: %s (CONFIG_TLS_CA = %s)" % (state["device_config"], state["ca_der"]))
        if api:
            gateway = state["api_gateway"]["rest_api" if api == "key" else "http_api"]
            print("through API Gateway: %s (%s), POST /notify" % (gateway["url"], gateway["auth"]))
        if fail_with:
            stand_in.call("POST", "/faults", {"status": fail_with, "count": FAULTS, "api": api})
            print("the stand-in answers the device's requests with HTTP %d (--fail-with)" % fail_with)
        before = stand_in.call("GET", "/state")["requests"]

        print("\ndevice (%s, tools/demo_device.py): import app; app.notify(%r, %r)" % (runtime, subject, _short(body)))
        status, output, seconds = run_device(runtime, os.path.dirname(state["device_config"]), subject, body,
                                             device_dir)
        print(output.rstrip())
        print("(notify step: %.0f ms wall time, including the %s start-up)" % (seconds * 1000, runtime))

        if auth == "cert":  # what the credentials provider handed out (never the secret or token)
            _section("the credentials call (mutual TLS, device certificate)")
            for call in stand_in.call("GET", "/credentials"):
                print("GET /role-aliases/.../credentials, thing %s, certificate %s...: HTTP %s, temporary key %s"
                      % (call["thing"], (call["certificate"] or "?")[:16], call["status"], call["access_key"]))
        invokes = [r for r in (stand_in.requests(0, api=True) if api else stand_in.requests(before))
                   if r["source"] == "client"]
        for n, exchange in enumerate(invokes):
            attempt = " (attempt %d of %d)" % (n + 1, len(invokes)) if len(invokes) > 1 else ""
            _section("the %s, as it went over the wire%s" % ("request" if api == "key" else "signed request", attempt))
            print(_without_api_key(_token_hidden(as_text(exchange["raw"]))))
            _section("the %s reply%s" % ("API Gateway" if api else "Lambda", attempt))
            print(as_text(exchange["reply"]) if exchange["reply"] else "(none: the connection was dropped)")

        delivered = [m for m in stand_in.call("GET", "/messages") if m["subject"] == subject and
                     m["message"] == body]
        _section("the SNS message, as delivered")
        for message in delivered:
            print("Topic:      %s" % message["topic"])
            print("MessageId:  %s" % message["message_id"])
            for name, value in sorted((message["attributes"] or {}).items()):
                print("Attribute:  %s = %s" % (name, value.get("Value", value)))
            print("Subject:    %s" % message["subject"])
            print("Message:    %s" % _short(message["message"], SHOWN_BODY_BYTES))
        if status != 0 or len(delivered) != 1:
            print("FAILED: the device %s, %d matching message(s) in the topic"
                  % ("exited with status %d" % status if status else "reported success", len(delivered)))
            return 1
        print("\nOK: delivered once, %d request(s) on the wire." % len(invokes))
        return 0
    finally:
        try:
            stand_in.stop()
        finally:  # also after a Ctrl-C that cut the stop short
            shutil.rmtree(folder, ignore_errors=True)


def _without_api_key(text):
    """The request as text with its API key's value left out (a secret: never printed)."""
    return re.sub(r"(?im)^(x-api-key: )(\S+)$", lambda m: "%s(%d characters, not shown)" % (m.group(1),
                                                                                        len(m.group(2))), text)


def _short(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "... (%d characters)" % len(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=DEVICES, default=os.environ.get("DEVICE") or "micropython")
    parser.add_argument("--subject", default=os.environ.get("SUBJECT") or SUBJECT)
    parser.add_argument("--body", default=os.environ.get("BODY") or BODY)
    parser.add_argument("--fail-with", type=int, metavar="STATUS",
                        help="the stand-in answers every device request with this HTTP status (429 or 5xx)")
    parser.add_argument("--auth", choices=("keys", "cert"), default=os.environ.get("AUTH") or "keys",
                        help="keys: an IAM key pair in config.py; cert: a device certificate and temporary "
                             "credentials from the AWS IoT credentials provider")
    parser.add_argument("--mode", choices=tuple(MODES), default=os.environ.get("MODE") or "lambda",
                        help="lambda: Invoke; api: POST through API Gateway with an API key; api-iam: POST "
                             "through API Gateway signed for execute-api")
    args = parser.parse_args(argv)
    if args.auth not in ("keys", "cert"):
        parser.error("AUTH=%s: choose keys or cert" % args.auth)
    if args.mode not in MODES:  # argparse does not check a default (MODE= from make)
        parser.error("MODE=%s: choose one of %s" % (args.mode, ", ".join(MODES)))
    if args.auth == "cert" and args.mode != "lambda":
        parser.error("AUTH=cert goes with the Lambda mode (MODE=lambda) in this demo")
    if args.fail_with is not None and args.fail_with != 429 and not 500 <= args.fail_with <= 599:
        parser.error("--fail-with %d: choose 429 or a 5xx status" % args.fail_with)
    if args.device not in DEVICES:  # argparse does not check a default (DEVICE= from make)
        parser.error("DEVICE=%s: choose one of %s" % (args.device, ", ".join(DEVICES)))
    if args.device == "micropython" and not os.path.exists(MICROPYTHON):
        parser.error("%s not found: run `make setup`" % MICROPYTHON)
    return demo(args.device, args.subject, args.body, args.fail_with, args.auth, args.mode)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: demo() has stopped the stand-in and removed its files
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
