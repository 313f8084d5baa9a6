"""Certificate auth end to end, under MicroPython and CPython: the firmware's app.notify()
-> mutual TLS -> the stand-in's AWS IoT credentials provider (tools/localaws/local_credentials.py:
client certificate verified against its device CA, registered, ACTIVE, attached to the
thing) -> moto STS credentials -> the Invoke signed with them and their session token
(moto checks both; the stand-in their expiry) -> the function -> moto's SNS.

No output of any run may show the private key, the temporary secret or the session token.
"""
import base64
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import trustme

from device import Device, assert_error, device, mpy_build, notify, runtime  # noqa: F401
from local_aws import LocalAWS


@pytest.fixture(scope="module")
def mpy_firmware(mpy_cross, tmp_path_factory):
    return mpy_build(mpy_cross, tmp_path_factory.mktemp("firmware_mpy"))


@pytest.fixture(autouse=True)
def from_mpy(request):
    """Under MicroPython the firmware runs from its .mpy build, as on a board."""
    if "device" in request.fixturenames:
        device = request.getfixturevalue("device")
        if device.runtime == "micropython":
            device.firmware = request.getfixturevalue("mpy_firmware")


@pytest.fixture(scope="module")
def aws():
    with LocalAWS(cert_auth=True) as server:
        yield server


@pytest.fixture
def iot(aws):
    aws.iot.duration = 3600
    yield aws.iot
    aws.clear_faults()


def token():
    return uuid.uuid4().hex[:12]


def use(device, aws, certificate, direct_sns=False, **keys):
    device.write_config(**aws.cert_device_config(certificate, direct_sns, CONFIG_TIMEOUT=15, **keys))
    with open(certificate.key_pem, "rb") as f:
        pem = f.read()
    with open(certificate.key_der, "rb") as f:
        der = f.read()
    # The private key, as any text could show it: a PEM line, the DER as base64 or hex.
    device.secrets += [pem.splitlines()[1].decode(), base64.b64encode(der).decode()[:40], der.hex()[:40]]


def run(device, iot, steps, **kw):
    """Runs the steps; then checks that no temporary secret or token issued meanwhile shows."""
    result = device.run(steps, **kw)
    for call in iot.client_calls():
        for secret in call.secrets:
            assert secret not in result.log and secret not in result.stderr, "a temporary secret is in the output"
    return result


def delivered(aws, body):
    return [m for m in aws.sns_messages() if m["message"] == body]


def invokes(aws, since):
    return [r for r in aws.client_requests(since) if r.is_invoke]


def test_first_notify_fetches_credentials_then_invokes(device, aws, iot, tmp_path):
    cert = iot.issue(folder=str(tmp_path))
    use(device, aws, cert)
    body = "certificate " + token()
    mark, calls = len(aws.requests), len(iot.calls)
    result = run(device, iot, [notify("cert", body)]).result
    assert result.get("ok") and result["status"] == 200, result
    assert ("firmware_mpy" in device.firmware) == (device.runtime == "micropython")
    [call] = iot.client_calls(calls)
    assert (call.status, call.thing, call.certificate) == (200, cert.thing, cert.id)
    [request] = invokes(aws, mark)
    assert request.status == 200 and request.access_key == call.access_key
    assert request.header("X-Amz-Security-Token") == call.secrets[1]  # the token went out, signed
    assert "x-amz-security-token" in request.header("Authorization")
    assert result["credentials_fetches"] == 1 and result["credentials_handshakes"] == 1
    assert len(delivered(aws, body)) == 1


def test_burst_reuses_the_credentials(device, aws, iot, tmp_path):
    cert = iot.issue(folder=str(tmp_path))
    use(device, aws, cert)
    tag = token()
    bodies = ["burst %s #%d" % (tag, i) for i in range(8)]
    mark, calls = len(aws.requests), len(iot.calls)
    results = run(device, iot, [notify("burst", b) for b in bodies], timeout=120).results
    assert all(r["ok"] for r in results), results
    last = results[-1]
    assert (last["credentials_fetches"], last["credentials_handshakes"], last["handshakes"]) == (1, 1, 1)
    assert len(iot.client_calls(calls)) == 1
    assert [r.status for r in invokes(aws, mark)] == [200] * 8
    assert sorted(m["message"] for m in aws.sns_messages() if tag in m["message"]) == sorted(bodies)


def test_expired_token_during_a_burst_refreshes_once_nothing_lost(device, aws, iot, tmp_path):
    cert = iot.issue(folder=str(tmp_path))
    use(device, aws, cert)
    tag = token()
    bodies = ["expiry %s #%d" % (tag, i) for i in range(4)]
    go = tmp_path / "expired"
    steps = [notify("e", bodies[0]), notify("e", bodies[1]), {"op": "wait_for_file", "path": str(go)},
             notify("e", bodies[2]), notify("e", bodies[3])]
    mark, calls = len(aws.requests), len(iot.calls)
    runs = []
    thread = threading.Thread(target=lambda: runs.append(run(device, iot, steps, timeout=90)))
    thread.start()
    deadline = time.monotonic() + 60
    while len([r for r in invokes(aws, mark) if r.status]) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    iot.expire_all()  # the hour has passed, AWS says ExpiredToken from now on
    go.write_text("go")
    thread.join(90)
    results = runs[0].results
    assert all(r["ok"] for r in results), runs[0]
    assert results[3]["attempts"] == 1  # the renewal is not a retry
    assert results[-1]["credentials_fetches"] == 2
    statuses = [r.status for r in invokes(aws, mark)]
    assert statuses == [200, 200, 403, 200, 200], statuses
    expired = invokes(aws, mark)[2]
    assert b"ExpiredTokenException" in expired.reply
    assert [c.status for c in iot.client_calls(calls)] == [200, 200]
    assert "fetching new temporary credentials" in runs[0].log
    assert sorted(m["message"] for m in aws.sns_messages() if tag in m["message"]) == sorted(bodies)


def test_short_lived_credentials_are_refreshed_before_they_expire(device, aws, iot, tmp_path):
    iot.duration = 4  # refreshed at 3/4 of their life: 3 s
    cert = iot.issue(folder=str(tmp_path))
    use(device, aws, cert)
    bodies = ["short %s #%d" % (token(), i) for i in range(2)]
    mark, calls = len(aws.requests), len(iot.calls)
    results = run(device, iot, [notify("s", bodies[0]), {"op": "sleep", "seconds": 3.2},
                                notify("s", bodies[1])]).results
    assert results[0]["ok"] and results[2]["ok"], results
    assert [r.status for r in invokes(aws, mark)] == [200, 200]  # no ExpiredToken: refreshed in time
    assert len(iot.client_calls(calls)) == 2 and results[2]["credentials_fetches"] == 2
    assert all(len(delivered(aws, b)) == 1 for b in bodies)


# What certificate auth leaves in the heap after a notify, beyond what the same notify with
# static keys leaves (host_tests/test_heap_budget.py): mpaws.credentials (are they fresh,
# renewing the signer's keys), the credentials with their session token, and the names the
# fetch interned (each loaded module's path among them). Measured with this test's probe:
# 587 names and 56,160 bytes held, the notify's InvokeResult kept (588 and 56,736 while
# CertificateCredentials kept fresh(), expire(), refresh() and renews() as methods and
# sigv4 held its ASCII classes as names; 586 and 57,312 while
# clock kept calendar's functions after the fetch; 596 and 59,936 before the client signed
# with a sigv4.Signer the credentials renew and before each module's source name was its
# module name; 61,248 bytes before only what signing needs stayed of mpaws.credentials and
# the signer stopped copying the session token).
CERT_NAMES_BUDGET = 587 + 8  # below 620, where MicroPython allocates a new, twice as large name table
CERT_HELD_BUDGET = 56160 + 1024

_HELD_PROBE = """\
import gc
import micropython
import sys
gc.collect()
start = gc.mem_alloc()
micropython.qstr_info()
import app
result = app.notify("subject", "body of message")
gc.collect()
print("HELD", result.status, gc.mem_alloc() - start)
micropython.qstr_info()
print("LOADED", [name for name in sys.modules if name[6:] in (
    "credentials_fetch", "credentials_state", "credentials_reply", "certs", "http_date", "settings_cert",
    "credentials_failures", "pem_files", "calendar")])
print("CLOCK", [name for name in ("unix_seconds", "days_from_civil", "local_seconds")
                if name in sys.modules["mpaws.clock"].__dict__])
"""


def test_what_certificate_auth_holds_after_a_notify_stays_within_its_budget(micropython, mpy_cross, mpy_firmware,
                                                                             aws, iot, tmp_path):
    """Under MicroPython from the .mpy build, as on a board: after the first notify (the
    fetch, then the Invoke) only mpaws.credentials stays of certificate auth's code (no
    module the fetch loaded, nor calendar's functions kept as clock's names); the heap held
    and the names interned stay within their budgets."""
    (tmp_path / "issued").mkdir()
    cert = iot.issue(folder=str(tmp_path / "issued"))
    # Paths relative to the folder, as short as a board's: each imported .mpy and each
    # file read interns nothing of the temporary folder's name, so the figures do not move.
    os.symlink(mpy_firmware, tmp_path / "fw")
    for source, name in ((aws.ca_der, "ca.der"), (cert.cert_der, "cert.der"), (cert.key_der, "key.der")):
        shutil.copyfile(source, tmp_path / name)
    Device("micropython", tmp_path, micropython).write_config(**aws.cert_device_config(
        cert, CONFIG_TLS_CA="ca.der", CONFIG_TLS_CERT="cert.der", CONFIG_TLS_KEY="key.der",
        CONFIG_OUTBOX_PATH="outbox.txt"))
    source = tmp_path / "probe_source.py"
    source.write_text(_HELD_PROBE)
    subprocess.run([mpy_cross, "-s", "held_probe.py", "-o", str(tmp_path / "held_probe.mpy"), str(source)], check=True)
    proc = subprocess.run([micropython, "-X", "heapsize=512k", "-m", "held_probe"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, MICROPYPATH=".frozen::fw:fw/lib"))
    lines = proc.stdout.splitlines()
    held = [line.split() for line in lines if line.startswith("HELD ")]
    names = [int(line.split("n_qstr=")[1].split(",")[0]) for line in lines if line.startswith("qstr pool:")]
    assert proc.returncode == 0 and held and held[0][1] == "200" and len(names) == 2, proc.stdout + proc.stderr
    assert "LOADED []" in lines, proc.stdout  # the fetch's code, the checks', the TLS context's: let go of
    assert "CLOCK []" in lines, proc.stdout  # nor held by clock: the calendar the expiry needed
    assert names[1] - names[0] <= CERT_NAMES_BUDGET, names
    assert int(held[0][2]) <= CERT_HELD_BUDGET, held


@pytest.mark.parametrize("how", ["revoked", "inactive", "unregistered", "other-ca"])
def test_a_refused_certificate_is_access_denied(device, aws, iot, tmp_path, how):
    if how == "other-ca":
        cert = iot.issue(folder=str(tmp_path), ca=trustme.CA(key_type=trustme.KeyType.ECDSA))
    else:
        cert = iot.issue(folder=str(tmp_path), register=how != "unregistered")
        if how != "unregistered":
            iot.set_status(cert, "REVOKED" if how == "revoked" else "INACTIVE")
    use(device, aws, cert)
    body = "refused " + token()
    mark, calls, refused = len(aws.requests), len(iot.calls), iot.refused_handshakes
    result = run(device, iot, [notify("r", body)]).result
    if how == "other-ca":
        assert_error(result, "AccessDenied", "refused the device certificate in the TLS handshake",
                     "kept in the outbox")
        assert iot.refused_handshakes == refused + 1 and iot.client_calls(calls) == []
    else:
        assert_error(result, "AccessDenied", "Access Denied", "thing %r" % cert.thing, "kept in the outbox")
        assert result["status"] == 403
        assert [c.status for c in iot.client_calls(calls)] == [403]
    assert invokes(aws, mark) == [] and delivered(aws, body) == []


def test_thing_name_that_is_not_the_certificates_is_refused(device, aws, iot, tmp_path):
    cert = iot.issue("mpaws-thing-2", folder=str(tmp_path))
    iot.issue("mpaws-thing-3", folder=str(tmp_path))  # exists, but is not this certificate's thing
    use(device, aws, cert, CONFIG_AWS_THING_NAME="mpaws-thing-3")
    calls = len(iot.calls)
    result = run(device, iot, [notify("t", "thing " + token())]).result
    assert_error(result, "AccessDenied", "Access Denied", "'mpaws-thing-3'")
    [call] = iot.client_calls(calls)
    assert (call.status, call.thing, call.certificate) == (403, "mpaws-thing-3", cert.id)


def test_direct_sns_with_a_certificate_renews_on_sns_expired_token(device, aws, iot, tmp_path):
    """Direct SNS (the role alias whose role may only publish): SNS's XML ExpiredToken reply
    renews the credentials too."""
    cert = iot.issue(folder=str(tmp_path))
    use(device, aws, cert, direct_sns=True)
    bodies = ["direct %s #%d" % (token(), i) for i in range(2)]
    go = tmp_path / "expired"
    calls, mark = len(iot.calls), len(aws.requests)
    runs = []
    steps = [notify("d", bodies[0]), {"op": "wait_for_file", "path": str(go)}, notify("d", bodies[1])]
    thread = threading.Thread(target=lambda: runs.append(run(device, iot, steps, timeout=90)))
    thread.start()
    deadline = time.monotonic() + 60
    while not [r for r in aws.client_requests(mark) if r.status] and time.monotonic() < deadline:
        time.sleep(0.01)
    iot.expire_all()
    go.write_text("go")
    thread.join(90)
    results = runs[0].results
    assert results[0]["ok"] and results[2]["ok"], runs[0]
    publishes = aws.client_requests(mark)
    assert [r.status for r in publishes] == [200, 403, 200] and all(r.service == "sns" for r in publishes)
    assert b"<Code>ExpiredToken</Code>" in publishes[1].reply
    assert [c.status for c in iot.client_calls(calls)] == [200, 200]
    assert all(len(delivered(aws, b)) == 1 for b in bodies)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_pem_files_work_as_der_files(device, aws, iot, tmp_path, key_type):
    """PEM files as well as DER; an RSA key in PKCS#1 PEM is what AWS IoT's
    create_keys_and_certificate hands out."""
    cert = iot.issue(folder=str(tmp_path), key_type=key_type)
    with open(cert.key_pem, "rb") as f:
        assert f.read().startswith(b"-----BEGIN RSA PRIVATE KEY-----" if key_type == "rsa" else
                                   b"-----BEGIN EC PRIVATE KEY-----")
    use(device, aws, cert, CONFIG_TLS_CERT=cert.cert_pem, CONFIG_TLS_KEY=cert.key_pem)
    body = "pem " + token()
    result = run(device, iot, [notify("pem", body)]).result
    assert result.get("ok"), result
    assert len(delivered(aws, body)) == 1


def test_make_demo_auth_cert():
    """`make demo AUTH=cert`: the whole chain with a certificate, under micropython (the demo's
    default; CPython is covered above); the session token is not shown."""
    runtime = "micropython"
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = dict(os.environ, PYTHONIOENCODING="utf-8", AUTH="cert")
    for name in ("DEVICE", "SUBJECT", "BODY"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py"), "--device", runtime],
                          cwd=REPO, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    call = out.index("the credentials call (mutual TLS, device certificate)")
    assert "thing mpaws-thing-1" in out[call:] and "HTTP 200, temporary key ASIA" in out[call:]
    request = out.index("POST /2015-03-31/functions/mpaws-notify/invocations HTTP/1.1\n", call)
    assert out.index("X-Amz-Security-Token: (the session token, ", request) < out.index("HTTP/1.1 200 OK", request)
    assert "Credential=ASIA" in out and "OK: delivered once" in out
    assert "temporary credentials ASIA" in out and "for thing mpaws-thing-1" in out
