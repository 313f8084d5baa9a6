"""moto, in this process, as a TLS endpoint on 127.0.0.1 with SigV4 signature checking on.

moto's server (the WSGI app behind `moto_server`) is served by werkzeug with an
ssl_context made from the same test CA as aws_server.py, so a client trusts it with
ca_pem / ca_der. Requests are routed to a service by the credential scope of their
Authorization header (the Host is "localhost:PORT").

Setup runs with authentication off (moto's INITIAL_NO_AUTH_ACTION_COUNT = inf): it creates
an IAM user with an access key and an allow-all policy, an SNS topic, a Lambda function
and asks IoT for its data endpoint. Then INITIAL_NO_AUTH_ACTION_COUNT is set to 0: from
there on every request's signature is checked against the IAM user's key (and its
permissions against the user's policies). Lambda uses moto's docker-free backend
(config {"lambda": {"use_docker": False}}), which answers every Invoke with the payload
it was sent. moto keeps its state in module globals, so the fixture resets moto before
and after, and restores the settings it changed.
"""
import io
import json
import ssl
import threading
import zipfile
from unittest import mock

import boto3
import botocore.config
import pytest
from werkzeug.serving import make_server

from aws_server import leaf_cert, shared_ca

__all__ = ["MotoTLS", "moto_tls"]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def _zip(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", source)
    return buf.getvalue()


class MotoTLS:
    """moto behind TLS. Attributes: host ("localhost"), port, endpoint, ca_pem, ca_der,
    region, access_key / secret_key (the IAM user's), user_name, topic_arn, function_name,
    function_arn, iot_endpoint (the host name IoT DescribeEndpoint returned)."""

    def __init__(self, ca_pem, ca_der):
        self.host = "localhost"
        self.ca_pem = ca_pem
        self.ca_der = ca_der
        self.region = REGION
        self.account_id = ACCOUNT_ID
        self.port = None
        self._server = None
        self._thread = None
        self._patches = []

    @property
    def endpoint(self):
        return "https://localhost:%d" % self.port

    def client(self, service, access_key=None, secret_key=None, **config):
        """A boto3 client for this endpoint, signing with the IAM user's key (or the one given)."""
        config.setdefault("retries", {"total_max_attempts": 1})
        return boto3.client(service, endpoint_url=self.endpoint, verify=self.ca_pem, region_name=self.region,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=botocore.config.Config(**config))

    # -- what moto received ---------------------------------------------------------------

    def sns_messages(self):
        """[(message_id, message, subject, attributes, group_id)] published to the topic."""
        from moto.sns.models import sns_backends

        return list(sns_backends[self.account_id][self.region].topics[self.topic_arn].sent_notifications)

    def iot_messages(self):
        """[(topic, payload bytes)] published through IoT Data."""
        from moto.iotdata.models import iotdata_backends

        return list(iotdata_backends[self.account_id][self.region].published_payloads)

    def queue_lambda_results(self, *results):
        """The next Invokes answer these strings instead of echoing the payload."""
        from moto.awslambda_simple.models import lambda_simple_backends

        lambda_simple_backends[self.account_id][self.region].lambda_simple_results_queue.extend(results)

    # -- life cycle -------------------------------------------------------------------------

    def start(self):
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        moto_api_backend.reset()
        self._patches = [
            mock.patch.dict(default_user_config, {"lambda": {"use_docker": False}}),
            mock.patch.object(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf")),
            mock.patch.object(ActionAuthenticatorMixin, "request_count", 0),
        ]
        for patch in self._patches:
            patch.start()

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
        leaf_cert("localhost").configure_cert(ctx)
        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args, **kwargs):  # no access log on stderr
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler,
                                   ssl_context=ctx)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

        self._setup()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
        return self

    def _setup(self):
        """Unauthenticated: IAM user + key + allow-all policy, SNS topic, Lambda function, IoT endpoint."""
        anyone = dict(access_key="AKIASETUPSETUPSETUP0", secret_key="setup")
        iam = self.client("iam", **anyone)
        self.user_name = "device"
        iam.create_user(UserName=self.user_name)
        key = iam.create_access_key(UserName=self.user_name)["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        iam.put_user_policy(UserName=self.user_name, PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        self.topic_arn = self.client("sns", **anyone).create_topic(Name="alerts")["TopicArn"]
        self.function_name = "notify"
        self.function_arn = self.client("lambda", **anyone).create_function(
            FunctionName=self.function_name, Runtime="python3.12", Role=role["Arn"],
            Handler="lambda_function.handler",
            Code={"ZipFile": _zip("def handler(event, context):\n    return event\n")},
        )["FunctionArn"]
        iot = self.client("iot", **anyone)
        self.iot_endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]

    def stop(self):
        from moto.moto_api._internal.models import moto_api_backend

        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
        for patch in reversed(self._patches):
            patch.stop()
        moto_api_backend.reset()


@pytest.fixture
def moto_tls(tmp_path):
    """A started MotoTLS (see its docstring); stopped and reset after the test."""
    ca = shared_ca()
    ca_pem = tmp_path / "moto-ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    ca_der = tmp_path / "moto-ca.der"
    ca_der.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    server = MotoTLS(str(ca_pem), str(ca_der)).start()
    yield server
    server.stop()
