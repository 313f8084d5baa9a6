"""The firmware on older MicroPython API shapes (v1.22 .. today): each shape of
host_tests/compat/ is imposed on the unix port, which runs the .mpy build (as a board
does), and the demo chain runs through it:
app.notify() -> TLS -> the local AWS stand-in -> the Lambda function -> moto's SNS.
The firmware detects features, never versions: the same code runs on every shape."""
import json
import time
import uuid

import pytest

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401
from device import FAST, Device, assert_error, mpy_build, notify
from local_aws_fixtures import aws, stand_in  # noqa: F401

# The first WiFi connect fails with status 203, which v1.22-v1.24 name STAT_ASSOC_FAIL
# only (STAT_CONNECT_FAIL later): the notify that needed it fails naming the status.
WIFI_FAILS_ONCE = [{"op": "world", "wifi_fail": [1, 203]}, notify("compat", "not sent: no WiFi")]
WIFI = dict(CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD="lab-password-123", CONFIG_NTP_HOSTS=["ntp1"])


@pytest.fixture(scope="module")
def mpy_firmware(mpy_cross, tmp_path_factory):
    """firmware/ compiled as `make build` compiles it: the .mpy an ESP32 runs."""
    return mpy_build(mpy_cross, tmp_path_factory.mktemp("mpy") / "firmware")


@pytest.fixture
def mp_device(micropython, mpy_firmware, tmp_path):
    return Device("micropython", tmp_path, micropython, firmware=mpy_firmware)


def demo_chain(device, aws, notifies=2, before=(), after=(), **keys):
    """The steps before, then notifies x app.notify() on one connection, each delivered
    once to SNS, then the steps after and the compat report."""
    device.write_config(**aws.device_config(False, CONFIG_TIMEOUT=15, **keys))
    bodies = ["compat %d %s" % (i, uuid.uuid4().hex[:12]) for i in range(notifies)]
    steps = list(before) + [notify("compat", body) for body in bodies] + list(after) + [{"op": "compat"}]
    run = device.run(steps, timeout=60)
    sent = run.results[len(before) : len(before) + notifies]
    for result in sent:
        assert result.get("ok") and result["status"] == 200, run
    assert sent[-1]["handshakes"] == 1, run  # kept alive: both on one connection
    for body in bodies:
        assert [m["message"] for m in aws.sns_messages() if m["message"] == body] == [body], run
    return run, run.results[-1]


@pytest.mark.parametrize("shape", ["v122_ssl", "v123_tls"])
def test_tls_sockets_without_recv(mp_device, stand_in, shape):
    # v1.22's `ssl` and v1.23's `tls`: TLS sockets with read/readinto/write only. A read
    # that waited for a full buffer would wait out the timeout on every reply.
    run, report = demo_chain(mp_device.impose(shape), stand_in)
    assert report["imposed"] == [shape] and report["tls_sockets"] == 1, run


def test_v122_ssl_whose_load_verify_locations_takes_no_keyword(mp_device, stand_in):
    # The CA is loaded by position when the C method refuses cadata= (TypeError).
    run, report = demo_chain(mp_device.impose("v122_ssl", "v122_ssl_positional"), stand_in)
    assert report["imposed"] == ["v122_ssl", "v122_ssl_positional"] and report["cadata_by_position"] >= 1, run


def test_time_epoch_2000(mp_device, stand_in):
    # The request is signed with the date from gmtime() on the 2000 epoch: a wrong date
    # would be refused by the stand-in's signature check (clock skew).
    run, report = demo_chain(mp_device.impose("epoch2000"), stand_in)
    assert report["imposed"] == ["epoch2000"], run


@pytest.mark.parametrize("shape,method", [("wlan_ifconfig", "ifconfig"), ("wlan_ipconfig", "ipconfig")])
def test_wlan_address(mp_device, stand_in, shape, method):
    # The simulated board's WiFi with one of the two address methods: the connect log and
    # app.status() name the address.
    mp_device.sim = True
    run, report = demo_chain(mp_device.impose(shape), stand_in, before=WIFI_FAILS_ONCE, after=[{"op": "status"}],
                             **WIFI)
    assert report["imposed"] == [shape] and set(report["address_calls"]) == {method}, run
    assert_error(run.results[1], "NetworkError", "failed (status 203)")
    assert "connected to 'lab', address 192.168.4.2" in run.log, run
    assert run.results[-2]["wifi"] == "connected, address 192.168.4.2", run


def test_getaddrinfo_esp32(mp_device, stand_in):
    # The ESP32's getaddrinfo(): the address an (ip, port) tuple, which connect() takes.
    run, report = demo_chain(mp_device.impose("getaddrinfo_esp32"), stand_in)
    assert report["imposed"] == ["getaddrinfo_esp32"], run
    assert report["resolved"] == [["127.0.0.1", stand_in.port]], run  # one connection, one look-up


def test_v122_all_at_once(mp_device, stand_in):
    # Every v1.22 shape together, on the simulated board.
    mp_device.sim = True
    shapes = ["epoch2000", "getaddrinfo_esp32", "v122_ssl", "wlan_ifconfig"]
    run, report = demo_chain(mp_device.impose(*shapes), stand_in, before=WIFI_FAILS_ONCE, after=[{"op": "status"}],
                             **WIFI)
    assert_error(run.results[1], "NetworkError", "failed (status 203)")
    assert run.results[-2]["wifi"] == "connected, address 192.168.4.2", run
    assert sorted(report["imposed"]) == shapes and report["tls_sockets"] == 1, run


# -- a TLS socket without recv(), where replies come in pieces, late, or not at all ------


@pytest.fixture
def read_only_tls(mp_device, aws_server):
    """The device on v1.23's TLS shape against the test AWS server (host_tests/aws_server.py)."""
    mp_device.impose("v123_tls").use_server(aws_server)
    return mp_device


def test_read_only_tls_chunked_reply_in_small_pieces(read_only_tls, aws_server):
    # Chunks of 1, 7 and 700 bytes, sent 20 ms apart: each read returns what has arrived.
    aws_server.register_function("notify", lambda e: {"filler": "y" * 3000})
    aws_server.chunk_next((1, 7, 700), count=2, chunk_delay=0.02)
    run = read_only_tls.run([notify("first", "b"), notify("second", "b"), {"op": "compat"}])
    for result in run.results[:2]:
        assert result.get("ok") and json.loads(result["payload"])["filler"] == "y" * 3000, run
    assert aws_server.handshakes == 1 and run.results[2]["tls_sockets"] == 1, run


def test_read_only_tls_reply_slower_than_the_timeout(read_only_tls, aws_server):
    # CONFIG_TIMEOUT = 0.5 s, reply after 1.5 s: errors.Timeout after about 0.5 s.
    read_only_tls.use_server(aws_server, CONFIG_TIMEOUT=0.5)
    aws_server.delay_next(1.5)
    started = time.monotonic()
    result = read_only_tls.run([dict(FAST, max_attempts=1), notify()]).results[1]
    assert_error(result, "Timeout", "localhost:%d" % aws_server.port)
    assert time.monotonic() - started < 1.4 and len(aws_server.requests) == 1


def test_read_only_tls_connection_closed_while_idle_is_reopened(read_only_tls, aws_server):
    # The server closes the kept-alive connection after the first reply: the second notify
    # reads the end of the stream (b"") before any reply byte, opens a new connection and
    # sends once.
    aws_server.close_after_next()
    run = read_only_tls.run([notify("first", "b"), notify("second", "b"), {"op": "compat"}])
    assert run.results[0].get("ok") and run.results[1].get("ok"), run
    assert aws_server.handshakes == 2 and run.results[2]["tls_sockets"] == 2, run
    assert len(aws_server.invocations("notify")) == 2
