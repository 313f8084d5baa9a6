"""The firmware on older MicroPython API shapes (v1.22 .. today): each shape of
host_tests/compat/ is imposed on the unix port and the demo chain runs through it:
app.notify() -> TLS -> the local AWS stand-in -> the Lambda function -> moto's SNS.
The firmware detects features, never versions: the same code runs on every shape."""
import uuid

import pytest

from device import Device, notify
from local_aws_fixtures import aws, stand_in  # noqa: F401


@pytest.fixture
def mp_device(micropython, tmp_path):
    return Device("micropython", tmp_path, micropython)


def _notify_delivered(device, aws, direct_sns=False, steps=2):
    device.write_config(**aws.device_config(direct_sns, CONFIG_TIMEOUT=15))
    bodies = ["shape %d %s" % (i, uuid.uuid4().hex[:12]) for i in range(steps)]
    run = device.run([notify("compat", body) for body in bodies])
    for result in run.results:
        assert result.get("ok") and result["status"] == 200, run
    for body in bodies:
        assert [m["message"] for m in aws.sns_messages() if m["message"] == body] == [body]
    return run


def test_tls_socket_without_recv(mp_device, stand_in):
    # v1.22/v1.23: the TLS socket has read/readinto/write only. Two notifies on one kept-alive
    # connection: a read that waited for a full buffer would hang until the timeout.
    run = _notify_delivered(mp_device.impose("tls_read_only"), stand_in)
    assert run.results[-1].get("handshakes", 1) == 1, run
