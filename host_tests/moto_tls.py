"""moto, in this process, as a TLS endpoint on 127.0.0.1 with SigV4 signature checking on:
tools/localaws/local_aws.py's LocalAWS with moto's own behaviour left as it is.

The differences from LocalAWS's defaults: no function source (moto's docker-free Lambda
answers every Invoke, even of an unknown function, with the payload it was sent, or with
what queue_lambda_results() queued); the IAM user "device" may do anything ("*"), so the
same key calls Lambda, SNS and IoT Data; the request time is not checked (moto does not);
the TLS certificate comes from the shared CA (tls_server.shared_ca()), so a client
trusts it with ca_pem / ca_der. Names: function "notify", topic "alerts".
"""
import os
import ssl

import pytest

from local_aws import LocalAWS
from tls_server import shared_ca

__all__ = ["MotoTLS", "moto_tls"]


class MotoTLS(LocalAWS):
    """moto behind TLS. Attributes: host ("localhost"), port, endpoint, ca_pem, ca_der,
    region, access_key / secret_key (the IAM user's), user_name, topic_arn, function_name,
    function_arn, iot_endpoint (the host name IoT DescribeEndpoint returned); and
    LocalAWS's (requests, handshakes, faults, ...)."""

    def __init__(self, ca_pem, ca_der):
        super().__init__(function_source=None, ca=shared_ca(), ca_dir=os.path.dirname(ca_pem), device_actions=("*",),
                         max_skew=None, function_name="notify", topic_name="alerts", user_name="device")
        self.ca_pem = ca_pem
        self.ca_der = ca_der
        self.iot_endpoint = None

    def _setup(self):
        super()._setup()
        iot = self.client("iot", access_key="AKIASETUPSETUPSETUP0", secret_key="setup")  # before auth is on
        self.iot_endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]

    def sns_messages(self, topic_arn=None):
        """[(message_id, message, subject, attributes, group_id)] published to the topic."""
        from moto.sns.models import sns_backends

        return list(sns_backends[self.account_id][self.region].topics[topic_arn or self.topic_arn].sent_notifications)

    def iot_messages(self):
        """[(topic, payload bytes)] published through IoT Data."""
        from moto.iotdata.models import iotdata_backends

        return list(iotdata_backends[self.account_id][self.region].published_payloads)

    def queue_lambda_results(self, *results):
        """The next Invokes answer these strings instead of echoing the payload."""
        from moto.awslambda_simple.models import lambda_simple_backends

        lambda_simple_backends[self.account_id][self.region].lambda_simple_results_queue.extend(results)


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
