"""A local AWS for mpaws: moto (Lambda, SNS, IAM, STS) behind TLS on 127.0.0.1, with the
checks and the connection behaviour of the real endpoints that moto lacks, and the
project's Lambda function (cloud/lambda_function.py) running in-process on Invoke.

    python tools/localaws/local_aws.py [--dir DIR] [--port N] [--control-port N] [--function PATH] [--direct-sns]

prints where the CA certificate and the device's config.py are and how to send to it,
then serves until Ctrl-C (or SIGTERM, or POST /stop). In tests, in-process:

    aws = LocalAWS().start()        # or: with LocalAWS() as aws:
    aws.device_config()             # CONFIG_* keys for a device (key pair, host:port, CA)
    aws.device_config(direct_sns=True)  # ... for one that publishes to SNS itself (no function)
    aws.throttle_next(3)            # the next three client requests get 429
    aws.sns_messages()              # what the function published
    aws.stop()

What is moto's and what is added here:
- moto (its WSGI app, called in-process) answers every request: routing, the services'
  behaviour, IAM users and policies, and SigV4 signature checking (moto's own check,
  switched on after set-up with INITIAL_NO_AUTH_ACTION_COUNT = 0).
- Set-up (before the check is on): an IAM user for the device with its access key and a
  policy that allows only lambda:InvokeFunction; a second device user (USER-sns) allowed
  only sns:Publish, for a device in direct-SNS mode; an execution role for the function
  (sns:Publish only) whose temporary credentials, from STS AssumeRole, the function signs
  with; the SNS topic; the function (moto's Lambda, code = the function's source, version 1
  and alias "live", environment ALLOWED_TOPIC_ARNS = the topic).
- Invoke of that function runs lambda_handler(event, context) from the source file in this
  process, with the function's environment and boto3 pointed at this same endpoint
  (AWS_ENDPOINT_URL_SNS, AWS_CA_BUNDLE), so its message really lands in moto's SNS topic.
  A raised exception becomes what Lambda answers: 200, X-Amz-Function-Error: Unhandled,
  body {"errorMessage", "errorType", "requestId", "stackTrace"}. X-Amz-Log-Type: Tail gets
  the START/END/REPORT log with what the function printed.
- Checked here, as AWS does and moto does not: X-Amz-Date more than 5 minutes from the
  server clock -> 403 InvalidSignatureException "Signature expired" / "Signature not yet
  current" (with the server's Date header, as on every reply); an x-amz-content-sha256
  that is not the body's SHA-256 -> 403. moto checks a form body's signature (SNS, IAM)
  over the bytes received, as AWS does, not over its fields re-encoded (a space as '+').
- HTTP/1.1 keep-alive: a connection serves many requests (moto's own server closes after
  each); idle connections are closed after idle_timeout seconds. The listener is
  tls_server.py's (one thread per TLS connection, as the tests' servers), the requests
  are read by the standard library's http.server.
- Every request is recorded with its raw bytes as received and the raw reply (the
  `requests` list of Exchange); TLS handshakes and connections are counted.
- Faults for the next N client requests (never for the function's own SNS calls):
  fail_next(status) (429 TooManyRequestsException, 5xx ServiceException), drop_next()
  (the connection is closed without a reply), delay_next(seconds); clock_offset shifts the
  server clock (its Date header and the clock clients' X-Amz-Date is checked against; the
  function lives on that clock too, so its own calls are not checked); restart() closes
  every connection and the listener and listens again on the same port, keeping moto's
  state.

API Gateway (tools/localaws/local_apigw.py, `gateway`): an HTTP API with IAM authorization and a
REST API with an API key, both in front of the same function, each on a TLS port of its
own (gateway.http_api.port, gateway.rest_api.port); api_config() / --api iam|key write a
device config for them. GET /api_requests on the control port lists their requests.

moto keeps its state in module globals: one LocalAWS runs at a time in a process.

Control interface (when run as a program): plain HTTP on 127.0.0.1:CONTROL_PORT, JSON.
    GET  /state                 endpoint, ports, CA paths, device config path, topic,
                                function, counters (never the secret key)
    GET  /messages              [{"message_id", "subject", "message", "attributes", "topic"}]
    GET  /requests?since=N      [{"seq", "connection", "source", "method", "target",
                                  "status", "raw" (base64), "reply" (base64)}]
    POST /faults                {"status": 429, "count": 3} | {"drop": true, "count": 1} |
                                {"delay": 2.5, "count": 1};   DELETE /faults clears them
    POST /clock                 {"offset": -3600}  (seconds added to the server clock)
    POST /restart               drop every connection, listen again on the same port
    POST /stop                  stop serving and exit
The directory (--dir, kept on exit; by default a new temporary one, removed on every way
out) holds ca.pem, ca.der, config.py (the device's config: key pair, host:port, CA; mode
0600) and state.json (GET /state).
"""
import argparse
import base64
import datetime
import email.utils
import errno
import hashlib
import http
import http.server
import io
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

try:
    import boto3
    import botocore.config
    import moto  # noqa: F401  (used in start(); imported here so that a missing moto shows at once)
    import trustme  # noqa: F401  (tls_server.py's certificates; a missing one shows at once)
except ImportError as missing:
    if __name__ != "__main__":
        raise
    print("error: local_aws.py needs %s: run `make setup` and use .venv/bin/python" % missing.name, file=sys.stderr)
    sys.exit(2)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
if os.path.join(REPO, "tools") not in sys.path:  # demo.py, beside the folder, when run as a script
    sys.path.append(os.path.join(REPO, "tools"))

import local_apigw  # noqa: E402  (API Gateway in front of the function: its own ports)
from aws_errors import Reply, json_error, service_error  # noqa: E402
from tls_server import TLS_CIPHERS, TlsListener, leaf_cert, server_context, shared_ca, write_ca_files  # noqa: E402
from demo import device_command  # noqa: E402
from local_aws_function import FunctionRuntime  # noqa: E402
FUNCTION_SOURCE = os.path.join(REPO, "cloud", "lambda_function.py")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
MAX_SKEW = 300  # seconds AWS accepts between X-Amz-Date and its clock
MAX_BODY = 16 * 1024 * 1024
_MAX_HEAD = 64 * 1024
_SETUP_KEY = dict(access_key="AKIASETUPSETUPSETUP0", secret_key="setup")  # any key works before auth is on
# Reply headers set here, or moto's own that AWS does not send (Flask's CORS header).
_DROPPED_HEADERS = ("connection", "keep-alive", "content-length", "transfer-encoding", "date", "status",
                    "access-control-allow-origin")
_active = []  # the LocalAWS running in this process (moto's state is global)


def amz_date(seconds):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def http_date(seconds):
    return email.utils.formatdate(seconds, usegmt=True)


_ECHO = "def lambda_handler(event, context):\n    return event\n"  # moto's docker-free Lambda echoes anyway


def _zip(source_text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", source_text)
    return buf.getvalue()


def _policy(*actions):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def _device_user(iam, name, actions):
    """Creates an IAM user allowed only `actions`; returns its (access key, secret key)."""
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="device", PolicyDocument=_policy(*actions))
    return key["AccessKeyId"], key["SecretAccessKey"]


# moto verifies a form-encoded request (SNS, IAM) against its fields encoded again, with a
# space as '+': a client that sends %20, as AWS accepts, would fail. The body as received
# (set per request by _call_moto, in the thread that calls moto) is what gets checked.
_received = threading.local()


def _request_as_received(create_aws_request):
    def create(iam_request):
        request = create_aws_request(iam_request)
        body = getattr(_received, "body", None)
        if body:
            request.data = body
        return request

    return create


# -- records and faults ------------------------------------------------------------------


class Exchange:
    """One request as received and the reply sent. raw: the request's bytes as they came
    off the (decrypted) connection; method, target, path, headers ((name, value) pairs),
    body; connection (1-based TCP connection id) and index (0-based on it); seq (0-based
    over the server's life); source: "function" for the function's own calls, "client"
    for everything else; service: the credential scope's service (or None); status,
    reply (raw bytes sent, or None when dropped); fault (the Fault applied, or None)."""

    def __init__(self, raw, method, target, headers, body, connection, index):
        self.raw = raw
        self.method = method
        self.target = target
        self.path = target.partition("?")[0]
        self.headers = headers
        self.body = body
        self.connection = connection
        self.index = index
        self.seq = None
        self.source = "client"
        self.service = None
        self.access_key = None
        self.status = None
        self.reply = None
        self.fault = None

    def header(self, name, default=None):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ",".join(values) if values else default

    @property
    def is_invoke(self):
        return self.method == "POST" and self.path.startswith("/2015-03-31/functions/") and \
            self.path.endswith("/invocations")

    def as_json(self):
        return {"seq": self.seq, "connection": self.connection, "index": self.index, "source": self.source,
                "service": self.service, "method": self.method, "target": self.target, "status": self.status,
                "fault": repr(self.fault) if self.fault else None,
                "raw": base64.b64encode(self.raw).decode(),
                "reply": base64.b64encode(self.reply).decode() if self.reply is not None else None}

    def __repr__(self):
        return "<Exchange #%s %d.%d %s %s %s -> %s>" % (self.seq, self.connection, self.index, self.source,
                                                        self.method, self.target, self.status)


class Fault:
    """What happens to one client request instead of (or before) moto's answer: status
    (reply this AWS error), drop (close the connection without a reply), delay (seconds to
    wait before handling it)."""

    def __init__(self, status=None, drop=False, delay=0.0):
        self.status = status
        self.drop = drop
        self.delay = delay

    def __repr__(self):
        if self.status:
            return "Fault(status=%d)" % self.status
        return "Fault(drop)" if self.drop else "Fault(delay=%gs)" % self.delay


def _fault_reply(status):
    """What Lambda answers for a throttled request (429) or a failure on its side (5xx)."""
    if status == 429:
        return json_error(429, "TooManyRequestsException", "Rate exceeded", Reason="CallerRateLimitExceeded",
                           Type="User")
    return json_error(status, "ServiceException", "Service error (injected): %d %s"
                       % (status, http.HTTPStatus(status).phrase), Type="Service")


# -- the function --------------------------------------------------------------------------


def _invoke_in_moto(backend, function_name, qualifier, body, headers, response_headers):
    """Replaces moto's docker-free Lambda invoke while a LocalAWS with a function runs:
    moto resolves the function (name, ARN, version, alias; 404 if unknown), the function's
    source runs here."""
    fn = backend.get_function(function_name, qualifier)
    runtime = _active[0].runtime if _active else None
    invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    response_headers["X-Amz-Executed-Version"] = fn.version
    if runtime is None or invocation_type == "DryRun":
        return b""
    arn = fn.function_arn if not qualifier else "%s:%s" % (fn.function_arn.rsplit(":" + fn.version, 1)[0],
                                                          qualifier)
    kind, payload, log = runtime.invoke(fn, arn, body, headers.get("X-Amz-Log-Type") == "Tail")
    if kind:
        response_headers["X-Amz-Function-Error"] = kind
    if log:
        response_headers["X-Amz-Log-Result"] = base64.b64encode(log.encode()[-4096:]).decode()
    return payload if invocation_type == "RequestResponse" else b""


# -- the server ------------------------------------------------------------------------------


class LocalAWS(TlsListener):
    """moto behind TLS on 127.0.0.1 (see the module docstring). Arguments, all optional:

    function_source: the Lambda handler's file (cloud/lambda_function.py); None keeps
    moto's docker-free Lambda, which echoes the payload. ca: a trustme.CA (by default the
    process's shared one, tls_server.shared_ca()); ca_dir: where ca.pem and ca.der are
    written (by default a temporary directory, removed by stop()); port: 0 for an
    ephemeral one; device_actions: what the device's IAM user may do
    (lambda:InvokeFunction); max_skew: seconds X-Amz-Date may be off (300; None: not
    checked); idle_timeout: seconds a connection may wait for a request or for the rest of
    one before it is closed (60); function_name, topic_name, user_name: what set-up creates (mpaws-notify, mpaws-alerts, mpaws-device).

    After start(): port, endpoint, host ("localhost"), region, account_id, ca_pem, ca_der,
    access_key / secret_key (the device's), sns_access_key / sns_secret_key (the
    direct-SNS device's: sns:Publish only; device_config(direct_sns=True)), user_name,
    topic_arn, function_name,
    function_arn, function_alias ("live" -> version "1"), function_access_key (the role
    session the function signs with), requests ([Exchange]), handshakes, connections.
    """

    def __init__(self, function_source=FUNCTION_SOURCE, ca=None, ca_dir=None, port=0,
                 device_actions=("lambda:InvokeFunction",), max_skew=MAX_SKEW, idle_timeout=60.0,
                 function_name="mpaws-notify", topic_name="mpaws-alerts", user_name="mpaws-device",
                 cert_auth=False, credentials_duration=3600):
        self.host = "localhost"
        self.region = REGION
        self.account_id = ACCOUNT_ID
        self.function_source = function_source
        self.runtime = FunctionRuntime(function_source) if function_source else None
        self.device_actions = tuple(device_actions)
        self.max_skew = max_skew
        self.idle_timeout = idle_timeout
        self.clock_offset = 0.0
        self.ca = ca or shared_ca()
        self._own_dir = ca_dir is None  # removed by stop()
        self.ca_dir = ca_dir or tempfile.mkdtemp(prefix="local_aws_")
        os.makedirs(self.ca_dir, exist_ok=True)
        self.ca_pem, self.ca_der = write_ca_files(self.ca, self.ca_dir)
        self.access_key = self.secret_key = self.function_access_key = None
        self.sns_access_key = self.sns_secret_key = None
        self.user_name = user_name
        self.function_name = function_name
        self.topic_name = topic_name
        self.function_alias = "live"
        self.function_arn = self.topic_arn = None

        self.requests = []
        self._faults = []
        self._init_listener(server_context(leaf_cert("localhost", "127.0.0.1", ca=self.ca)), port)
        self._app = None
        self.gateway = None  # local_apigw.Gateway: the HTTP API (IAM) and REST API (API key), after start()
        self._patches = []
        # -- certificate auth: the AWS IoT credentials provider (tools/localaws/local_credentials.py)
        self.iot = None
        if cert_auth:
            from local_credentials import CredentialsProvider

            self.iot = CredentialsProvider(self, credentials_duration)
        # -- end certificate auth

    # -- life cycle --------------------------------------------------------------------------

    @property
    def endpoint(self):
        return "https://%s:%d" % (self.host, self.port)

    def start(self):
        """Resets moto, serves on 127.0.0.1:port, creates the user, topic, role and function,
        then turns signature checking on."""
        if _active:
            raise RuntimeError("a LocalAWS is already running in this process (moto's state is global)")
        from moto import settings
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.config import default_user_config
        from moto.iam.access_control import IAMRequestBase
        from moto.moto_api._internal.models import moto_api_backend
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        _active.append(self)
        moto_api_backend.reset()
        self._patches = [
            mock.patch.dict(default_user_config, {"lambda": {"use_docker": False}}),
            mock.patch.object(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf")),
            mock.patch.object(ActionAuthenticatorMixin, "request_count", 0),
        ]
        if self.runtime is not None:
            self._patches.append(mock.patch.object(LambdaSimpleBackend, "invoke", _invoke_in_moto))
        self._patches.append(mock.patch.object(IAMRequestBase, "_create_aws_request",
                                               _request_as_received(IAMRequestBase._create_aws_request)))
        for patch in self._patches:
            patch.start()
        self._app = DomainDispatcherApplication(create_backend_app)
        try:
            self.listen()
            self._setup()
            # -- API Gateway (tools/localaws/local_apigw.py): both APIs in moto, each on a port of its own
            self.gateway = local_apigw.Gateway(self, TLS_CIPHERS)
            self.gateway.setup(lambda service: self.client(service, **_SETUP_KEY), _RequestHandler)
        except Exception:
            self.stop()
            raise
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
        return self

    def _setup(self):
        iam = self.client("iam", **_SETUP_KEY)
        # moto names the Invoke action after the operation ("lambda:Invoke"), AWS "lambda:InvokeFunction".
        actions = self.device_actions + (("lambda:Invoke",) if "lambda:InvokeFunction" in self.device_actions else ())
        self.access_key, self.secret_key = _device_user(iam, self.user_name, actions)
        self.sns_access_key, self.sns_secret_key = _device_user(iam, self.user_name + "-sns", ("sns:Publish",))
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName=self.function_name + "-role",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="publish", PolicyDocument=_policy("sns:Publish"))
        self.topic_arn = self.client("sns", **_SETUP_KEY).create_topic(Name=self.topic_name)["TopicArn"]
        lam = self.client("lambda", **_SETUP_KEY)
        self.function_arn = lam.create_function(
            FunctionName=self.function_name, Runtime="python3.12", Role=role["Arn"],
            Handler="lambda_function.lambda_handler", Publish=True, Timeout=30,
            Code={"ZipFile": _zip(self._source_text())},
            Environment={"Variables": {"ALLOWED_TOPIC_ARNS": self.topic_arn}},
        )["FunctionArn"]
        lam.create_alias(FunctionName=self.function_name, Name=self.function_alias, FunctionVersion="1")
        if self.iot is not None:  # certificate auth: roles for the role aliases, and the endpoint
            self.iot.setup(iam, actions)
            self.iot.start()
        if self.runtime is not None:
            session = self.client("sts", **_SETUP_KEY).assume_role(
                RoleArn=role["Arn"], RoleSessionName=self.function_name, DurationSeconds=43200)["Credentials"]
            self.function_access_key = session["AccessKeyId"]
            self.runtime.environment = {
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": session["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
                "AWS_SESSION_TOKEN": session["SessionToken"], "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_ENDPOINT_URL_SNS": self.endpoint, "AWS_CA_BUNDLE": self.ca_pem,
            }

    def _source_text(self):
        if not self.function_source:
            return _ECHO
        with open(self.function_source, encoding="utf-8") as f:
            return f.read()

    def _serve_tls(self, sock, conn_id):
        _RequestHandler(sock, sock.getpeername(), self, conn_id)

    def restart(self):
        """Like a restarted endpoint: every connection and the listener are closed, then it
        listens again on the same port. moto's state (keys, topic, messages) is kept."""
        self.close_listener()  # also ends injected delays
        self.listen()
        return self

    def stop(self):
        """Closes everything, restores moto's settings and resets its state."""
        from moto.moto_api._internal.models import moto_api_backend

        self.close_listener()
        if self.iot is not None:
            self.iot.stop()
        if self.gateway is not None:
            self.gateway.close()
        for patch in reversed(self._patches):
            patch.stop()
        self._patches = []
        if self in _active:
            _active.remove(self)
            moto_api_backend.reset()
        if self._own_dir:
            shutil.rmtree(self.ca_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what a client needs -----------------------------------------------------------------

    def client(self, service, access_key=None, secret_key=None, session_token=None, **config):
        """A boto3 client for this endpoint (the device's key unless another is given)."""
        config.setdefault("retries", {"total_max_attempts": 1})
        return boto3.client(service, endpoint_url=self.endpoint, verify=self.ca_pem, region_name=self.region,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            aws_session_token=session_token, config=botocore.config.Config(**config))

    def device_config(self, direct_sns=False, **overrides):
        """The CONFIG_* keys of a device's config.py for this endpoint (with the secret key).
        direct_sns: the direct-SNS device's (its key, no function)."""
        config = {
            "CONFIG_AWS_ACCESS_KEY": self.sns_access_key if direct_sns else self.access_key,
            "CONFIG_AWS_SECRET_KEY": self.sns_secret_key if direct_sns else self.secret_key,
            "CONFIG_AWS_REGION": self.region,
            "CONFIG_AWS_LAMBDA_FUNCTION": None if direct_sns else self.function_name,
            "CONFIG_AWS_SNS_TOPIC_ARN": self.topic_arn,
            "CONFIG_AWS_HOST": "%s:%d" % (self.host, self.port),
            "CONFIG_TLS_CA": self.ca_der,
        }
        config.update(overrides)
        return config

    def cert_device_config(self, certificate, direct_sns=False, **overrides):
        """The CONFIG_* keys of a device with certificate auth (no key pair): the
        credentials endpoint, role alias, thing and the certificate's DER files
        (certificate: a local_credentials.Certificate, from iot.issue())."""
        from local_credentials import ROLE_ALIAS, SNS_ROLE_ALIAS

        config = self.device_config(direct_sns, CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                                    CONFIG_AWS_CREDENTIALS_ENDPOINT=self.iot.endpoint,
                                    CONFIG_AWS_ROLE_ALIAS=SNS_ROLE_ALIAS if direct_sns else ROLE_ALIAS,
                                    CONFIG_AWS_THING_NAME=certificate.thing, CONFIG_TLS_CERT=certificate.cert_der,
                                    CONFIG_TLS_KEY=certificate.key_der)
        config.update(overrides)
        return config

    def api_config(self, api_key=True, **overrides):
        """The CONFIG_* keys of a device in API Gateway mode: the REST API and its API key (no
        AWS key), or (api_key=False) the HTTP API with IAM authorization and its key pair."""
        config = self.device_config(CONFIG_AWS_LAMBDA_FUNCTION=None)
        config.update(self.gateway.device_config(api_key))
        config.update(overrides)
        return config

    def write_device_config(self, path, direct_sns=False, api=None, **overrides):
        """Writes config.py for a device (mode 0600: it holds the secret key); returns path.
        api: "key" or "iam" for API Gateway mode. With certificate auth, the device's
        certificate and key are issued next to it."""
        lines = ["# A device config for the local AWS stand-in at %s (tools/localaws/local_aws.py)." % self.endpoint]
        if api:
            config = self.api_config(api == "key", **overrides)
        elif self.iot is not None:
            config = self.cert_device_config(self.iot.issue(folder=os.path.dirname(os.path.abspath(path))),
                                             direct_sns, **overrides)
        else:
            config = self.device_config(direct_sns, **overrides)
        lines += ["%s = %r" % kv for kv in config.items()]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path

    # -- what arrived ------------------------------------------------------------------------

    def sns_messages(self, topic_arn=None):
        """Messages published to a topic (default: every topic), oldest first: dicts with
        message_id, topic, subject, message, attributes."""
        from moto.sns.models import sns_backends

        out = []
        for arn, topic in sns_backends[self.account_id][self.region].topics.items():
            if topic_arn in (None, arn):
                for message_id, message, subject, attributes, _group in topic.sent_notifications:
                    out.append({"message_id": message_id, "topic": arn, "subject": subject, "message": message,
                                "attributes": attributes})
        return out

    def client_requests(self, since=0):
        """The recorded client requests (not the function's own), from position `since` of
        `requests`."""
        with self._lock:
            return [r for r in self.requests[since:] if r.source == "client"]

    def wait_for_requests(self, n, timeout=10.0, replied=True):
        """Waits until n requests are recorded (and, with replied, answered or dropped)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < n or (replied and any(r.status is None and r.fault is None
                                                             for r in self.requests[:n])):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected %d requests, got %r" % (n, self.requests))
                self._changed.wait(left)
            return list(self.requests)

    def now(self):
        """The server clock: real time + clock_offset."""
        return time.time() + self.clock_offset

    # -- faults ------------------------------------------------------------------------------

    def inject(self, fault, count=1):
        with self._lock:
            self._faults.extend([fault] * count)

    def fail_next(self, status, count=1):
        """The next `count` client requests get `status`: 429 TooManyRequestsException, or
        a 5xx ServiceException, as Lambda words them."""
        if status != 429 and not 500 <= status <= 599:
            raise ValueError("status must be 429 or 5xx, not %r" % status)
        self.inject(Fault(status=status), count)

    def throttle_next(self, count=1):
        self.fail_next(429, count)

    def drop_next(self, count=1):
        """The next `count` client requests are read and recorded, then their connection is
        closed without a reply."""
        self.inject(Fault(drop=True), count)

    def delay_next(self, seconds, count=1):
        """The next `count` client requests are answered `seconds` late."""
        self.inject(Fault(delay=float(seconds)), count)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
        if self.gateway is not None:
            self.gateway.clear_faults()

    # -- one request -------------------------------------------------------------------------

    def _answer(self, exchange, close):
        """The reply to one request, as bytes, or None to drop the connection without one.
        close: the reply announces that the connection closes after it."""
        scope = re.search(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/", exchange.header("Authorization") or "")
        if scope:
            exchange.access_key, exchange.service = scope.groups()
        fault = None
        with self._changed:
            if exchange.access_key and exchange.access_key == self.function_access_key:
                exchange.source = "function"  # the function's own calls are never faulted
            elif self._faults:
                fault = self._faults.pop(0)
            exchange.fault = fault
            exchange.seq = len(self.requests)
            self.requests.append(exchange)
            self._changed.notify_all()

        if fault is not None and (fault.drop or fault.delay and self._stopping.wait(fault.delay)):
            return None
        if fault is not None and fault.status:
            reply = _fault_reply(fault.status)
        else:
            reply = self._check(exchange) or self._call_moto(exchange)
        data = self._head(reply, close) + reply.body
        with self._changed:
            exchange.status = reply.status
            exchange.reply = data
            self._changed.notify_all()
        return data

    def _check(self, exchange):
        """What AWS checks and moto does not: the request time and the payload hash (and,
        with certificate auth, the expiry of the temporary credentials)."""
        if self.iot is not None and exchange.source == "client":
            expired = self.iot.check(exchange)
            if expired is not None:
                return expired
        date = exchange.header("X-Amz-Date")
        # The function runs inside "AWS", on its clock: clock_offset shifts both, so only
        # clients are checked against the shifted clock.
        if self.max_skew is not None and date and exchange.header("Authorization") and exchange.source == "client":
            try:
                when = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
            except ValueError:
                when = None
            now = self.now()
            minutes = "%g min." % (self.max_skew / 60.0)
            if when is not None and when < now - self.max_skew:
                return self._signature_error(exchange, "Signature expired: %s is now earlier than %s (%s - %s)" % (
                    date, amz_date(now - self.max_skew), amz_date(now), minutes))
            if when is not None and when > now + self.max_skew:
                return self._signature_error(exchange, "Signature not yet current: %s is still later than %s "
                                             "(%s + %s)" % (date, amz_date(now + self.max_skew), amz_date(now),
                                                            minutes))
        content_sha = exchange.header("X-Amz-Content-SHA256")
        if content_sha and re.fullmatch(r"[0-9a-fA-F]{64}", content_sha) and \
                content_sha.lower() != hashlib.sha256(exchange.body).hexdigest():
            return self._signature_error(exchange, "The provided 'x-amz-content-sha256' header does not match "
                                         "what was computed.")
        return None

    def _signature_error(self, exchange, message):
        return service_error(exchange.service, 403, "SignatureDoesNotMatch", "InvalidSignatureException", message)

    def _call_moto(self, exchange):
        split = urlsplit(exchange.target)
        environ = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(exchange.body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "SERVER_SOFTWARE": "local_aws", "REQUEST_METHOD": exchange.method,
            "SCRIPT_NAME": "", "PATH_INFO": unquote(split.path).encode().decode("latin-1"),
            "QUERY_STRING": split.query, "REQUEST_URI": exchange.target, "RAW_URI": exchange.target,
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": 0, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.port), "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for name, value in exchange.headers:
            key = name.upper().replace("-", "_")
            if "_" in name:
                continue  # as werkzeug's server: X_Foo could pass for X-Foo
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = environ[key] + "," + value if key in environ else value
        started = []

        def start_response(status, headers, exc_info=None):
            started[:] = [int(status.split(" ", 1)[0]), headers]

        _received.body = exchange.body  # for moto's signature check, in this thread
        try:
            body_parts = self._app(environ, start_response)
            try:
                body = b"".join(body_parts)
            finally:
                if hasattr(body_parts, "close"):
                    body_parts.close()
        finally:
            _received.body = None
        status, headers = started
        return Reply(status, [(n, v) for n, v in headers if n.lower() not in _DROPPED_HEADERS], body)

    def _head(self, reply, close=False):
        headers = [("Date", http_date(self.now())), ("Content-Length", str(len(reply.body))),
                   ("Connection", "close" if close else "keep-alive")]
        given = {n.lower() for n, _ in reply.headers}
        if "x-amzn-requestid" not in given:
            headers.append(("x-amzn-RequestId", str(uuid.uuid4())))
        lines = ["HTTP/1.1 %d %s" % (reply.status, http.HTTPStatus(reply.status).phrase)]
        lines += ["%s: %s" % nv for nv in headers + reply.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    # -- the control interface -----------------------------------------------------------------

    def state(self):
        """What a program needs to use this stand-in (no secret key)."""
        return {"endpoint": self.endpoint, "host": self.host, "port": self.port, "region": self.region,
                "account_id": self.account_id, "ca_pem": self.ca_pem, "ca_der": self.ca_der,
                "access_key": self.access_key, "sns_access_key": self.sns_access_key, "topic_arn": self.topic_arn,
                "function_name": self.function_name,
                "function_arn": self.function_arn, "function_alias": self.function_alias,
                "function_source": self.function_source, "handshakes": self.handshakes,
                "connections": self.connections, "requests": len(self.requests), "clock_offset": self.clock_offset,
                "credentials_endpoint": self.iot.endpoint if self.iot else None,
                "api_gateway": self.gateway.state() if self.gateway is not None else None}

    def control(self, method, path, body=None):
        """One control request (what the HTTP control port serves): (status, JSON value)."""
        split = urlsplit(path)
        query = parse_qs(split.query)
        route = (method, split.path)
        if route == ("GET", "/state"):
            return 200, self.state()
        if route == ("GET", "/messages"):
            return 200, self.sns_messages()
        if route == ("GET", "/credentials") and self.iot is not None:  # certificate auth: the calls, no secrets
            return 200, [{"thing": c.thing, "certificate": c.certificate, "status": c.status,
                          "access_key": c.access_key, "connection": c.connection} for c in self.iot.client_calls()]
        if route == ("GET", "/requests"):
            since = int(query.get("since", ["0"])[0])
            with self._lock:
                return 200, [r.as_json() for r in self.requests[since:]]
        if route == ("GET", "/api_requests"):  # API Gateway's (tools/localaws/local_apigw.py), both APIs, in order
            since = int(query.get("since", ["0"])[0])
            out = sorted((r for e in self.gateway.endpoints for r in e.client_requests()), key=lambda r: r.time)
            return 200, [dict(r.as_json(), api=r.api) for r in out[since:]]
        if route == ("POST", "/faults") and (body or {}).get("api"):  # API Gateway: 429 throttles, 5xx breaks
            endpoint = self.gateway.rest_api if body["api"] == "key" else self.gateway.http_api
            count = int(body.get("count", 1))
            (endpoint.throttle_next if int(body.get("status") or 0) == 429 else endpoint.fail_integration_next)(count)
            return 200, {"pending": count}
        if route == ("POST", "/faults"):
            body = body or {}
            count = int(body.get("count", 1))
            if body.get("status"):
                self.fail_next(int(body["status"]), count)
            elif body.get("drop"):
                self.drop_next(count)
            elif body.get("delay"):
                self.delay_next(float(body["delay"]), count)
            else:
                return 400, {"error": "give status (429 or 5xx), drop (true) or delay (seconds)"}
            return 200, {"pending": len(self._faults)}
        if route == ("DELETE", "/faults"):
            self.clear_faults()
            return 200, {"pending": 0}
        if route == ("POST", "/clock"):
            self.clock_offset = float((body or {}).get("offset", 0))
            return 200, {"clock_offset": self.clock_offset}
        if route == ("POST", "/restart"):
            self.restart()
            return 200, self.state()
        return 404, {"error": "unknown control request %s %s" % route}


# -- HTTP/1.1 over TLS: the standard library's server, with keep-alive and raw records -----


class _RecordingReader:
    """A connection's read side that keeps every byte read until take() is called."""

    def __init__(self, stream):
        self.stream = stream
        self.data = bytearray()

    def readline(self, *limit):
        line = self.stream.readline(*limit)
        self.data += line
        return line

    def read(self, *size):
        data = self.stream.read(*size)
        self.data += data
        return data

    def take(self):
        out = bytes(self.data)
        self.data.clear()
        return out

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    """Serves the requests of one TLS connection, kept alive (HTTP/1.1), each answered by
    server._answer with the bytes it read (server: the LocalAWS, or an API Gateway endpoint)."""

    protocol_version = "HTTP/1.1"

    def __init__(self, sock, address, server, connection_id):
        self.connection_id = connection_id
        self.index = 0
        self.timeout = server.idle_timeout
        super().__init__(sock, address, server)

    def setup(self):
        super().setup()
        self.rfile = _RecordingReader(self.rfile)

    def log_message(self, *args):  # quiet
        pass

    def handle_one_request(self):
        self.rfile.take()
        super().handle_one_request()

    def _serve(self):
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or not length.isdigit() or int(length) > MAX_BODY:
            self.send_error(411 if self.headers.get("Transfer-Encoding") else 413,
                            "send the body with a Content-Length of at most %d bytes" % MAX_BODY)
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        exchange = Exchange(self.rfile.take(), self.command, self.path, list(self.headers.items()), body,
                            self.connection_id, self.index)
        self.index += 1
        reply = self.server._answer(exchange, self.close_connection)
        if reply is None:
            self.close_connection = True  # dropped: closed without a reply
        else:
            self.wfile.write(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


# -- the control interface -------------------------------------------------------------------


class ControlServer(http.server.ThreadingHTTPServer):
    """The control port: plain HTTP on 127.0.0.1, JSON in and out (see the module docstring)."""

    daemon_threads = True

    def __init__(self, aws, port=0):
        self.aws = aws
        self.stopped = threading.Event()
        super().__init__(("127.0.0.1", port), _ControlHandler)


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        stop = (self.command, self.path) == ("POST", "/stop")
        try:
            body = json.loads(self.rfile.read(length)) if length else None
            if stop:
                status, value = 200, {"stopping": True}
            else:
                status, value = self.server.aws.control(self.command, self.path, body)
        except (ValueError, TypeError) as exc:
            status, value = 400, {"error": str(exc)}
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if stop:
            self.wfile.flush()
            self.server.stopped.set()  # after the reply: the process may end at once

    do_GET = do_POST = do_DELETE = _handle


# -- the program -------------------------------------------------------------------------------

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ProgramError(Exception):
    """A problem the program's user can fix; the message says how."""


def _port(text):
    """argparse type: a TCP port, 0 for a free one."""
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("%r is not a port number (1 to 65535, or 0 for a free one)" % text)
    return port


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM and SIGHUP stop the program as Ctrl-C does, cleaning up


def _shown(path):
    """path as the user can type it from here: relative below the current directory, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _listen_error(error, what, port, option):
    """ProgramError for an OSError of binding 127.0.0.1:port, or None for any other error."""
    reasons = {errno.EADDRINUSE: "port %d is in use (another local_aws.py?)" % port,
               errno.EACCES: "port %d needs privileges" % port, errno.EADDRNOTAVAIL: error.strerror}
    if error.errno not in reasons:
        return None
    return ProgramError("cannot serve the %s on 127.0.0.1:%d: %s. Give another %s, or leave it out for a free "
                        "port" % (what, port, reasons[error.errno], option))


def _folder(path):
    """The folder for the CA and config.py: `path` (created if needed), or a new temporary one."""
    if path is None:
        return tempfile.mkdtemp(prefix="mpaws-local-aws-")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ProgramError("--dir %s: cannot create it: %s" % (path, e.strerror or e)) from None
    return os.path.abspath(path)


def _banner(aws, state, direct_sns, kept):
    config, control = state["device_config"], state["control"]
    folder = os.path.dirname(config)
    send = device_command("micropython", folder, "Door open", "Hello from mpaws")  # what make demo runs
    print("local AWS (moto) on %s, region %s" % (aws.endpoint, aws.region))
    print("  CA certificate   %s (PEM: %s)" % (aws.ca_der, aws.ca_pem))
    print("  device config    %s (access key %s; the secret key is in the file)%s"
          % (config, aws.sns_access_key if direct_sns else aws.access_key, ", direct SNS" if direct_sns else ""))
    if aws.iot is not None:
        print("  credentials      https://%s (AWS IoT credentials provider, mutual TLS; the device's certificate "
              "and key are next to config.py; credentials live %d s)" % (aws.iot.endpoint, aws.iot.duration))
    print("  SNS topic        %s" % aws.topic_arn)
    print("  Lambda function  %s (alias %s) runs %s" % (aws.function_name, aws.function_alias, aws.function_source))
    api = aws.gateway.state()
    print("  API Gateway      %s (HTTP API, IAM), %s (REST API, API key)%s" % (
        api["http_api"]["url"], api["rest_api"]["url"],
        ", config.py: %s mode" % state["api_mode"] if state.get("api_mode") else ""))
    print("  control          %s (GET /state /messages /requests, POST /faults /clock /restart /stop)" % control)
    print("send from the firmware, in another terminal (its outbox file goes to the current directory):")
    print("  %s" % " ".join(shlex.quote(_shown(word)) for word in send))
    print("  and read what arrived: curl %s/messages" % control)
    print("stop with Ctrl-C (or POST %s/stop); %s is then %s" % (control, folder, "kept (--dir)" if kept
                                                                   else "removed"))


def _serve(args, folder, function):
    """Serves until Ctrl-C, SIGTERM, SIGHUP or POST /stop; then stops everything it started."""
    aws = LocalAWS(function_source=function, ca_dir=folder, port=args.port, cert_auth=args.cert_auth,
                   credentials_duration=args.credentials_duration)
    control = None
    serving = False
    try:
        try:
            aws.start()
        except OSError as e:
            raise _listen_error(e, "TLS endpoint", args.port, "--port") or e
        try:
            control = ControlServer(aws, args.control_port)
        except OSError as e:
            raise _listen_error(e, "control port", args.control_port, "--control-port") or e
        threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        serving = True
        config = aws.write_device_config(os.path.join(folder, "config.py"), args.direct_sns, args.api)
        state = dict(aws.state(), control="http://127.0.0.1:%d" % control.server_port, device_config=config,
                     pid=os.getpid(), api_mode=args.api)
        with open(os.path.join(folder, "state.json"), "w") as f:
            json.dump(state, f, indent=1)
        _banner(aws, state, args.direct_sns, args.dir is not None)
        print("ready", flush=True)
        control.stopped.wait()
    finally:
        for signum in _STOP_SIGNALS:  # the clean-up runs to its end
            signal.signal(signum, signal.SIG_IGN)
        if control is not None:
            if serving:
                control.shutdown()
            control.server_close()
        aws.stop()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local AWS (moto behind TLS) for mpaws devices and tests. "
                                                 "Serves until Ctrl-C (or SIGTERM, or POST /stop to the control "
                                                 "port).")
    parser.add_argument("--dir", help="where to write ca.pem, ca.der, config.py, state.json, kept on exit "
                                      "(default: a new temporary directory, removed on exit)")
    parser.add_argument("--port", type=_port, default=0, help="TLS port (default: a free one)")
    parser.add_argument("--control-port", type=_port, default=0, help="control port (default: a free one)")
    parser.add_argument("--function", default=FUNCTION_SOURCE, help="the Lambda handler's source file "
                                                                    "(default: cloud/lambda_function.py)")
    parser.add_argument("--direct-sns", action="store_true", help="write config.py for a device that publishes "
                                                                  "to the topic itself (no function)")
    parser.add_argument("--cert-auth", action="store_true", help="serve the AWS IoT credentials provider too, and "
                        "write config.py for a device that authenticates with a certificate (no key pair)")
    parser.add_argument("--credentials-duration", type=int, default=3600, metavar="SECONDS",
                        help="with --cert-auth: how long the temporary credentials live (default 3600)")
    parser.add_argument("--api", choices=("iam", "key"), help="write config.py for a device that POSTs to the "
                        "function through API Gateway: the HTTP API with IAM authorization, or the REST API "
                        "with an API key")
    args = parser.parse_args(argv)
    function = os.path.abspath(args.function)
    if not os.path.isfile(function):
        parser.error("--function %s: no such file (give the Lambda handler's .py file)" % args.function)
    if args.port and args.port == args.control_port:
        parser.error("--port and --control-port must differ")
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    folder = None
    try:
        folder = _folder(args.dir)
        return _serve(args, folder, function)
    except KeyboardInterrupt:
        return 0
    except ProgramError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        if folder is not None and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)  # it holds the device's secret key


if __name__ == "__main__":
    sys.exit(main())
