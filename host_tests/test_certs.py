"""firmware/certs/: the AWS root CAs written by tools/maintainer/make_certs.py, and how MicroPython's
ssl.SSLContext.load_verify_locations(cadata=...) takes them (which decides how the
client loads several roots)."""
import hashlib
import json
import os
import subprocess
import sys

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401 (aws_server needs the factory)
from conftest import MAINTAINER, REPO, run_micropython

CERTS = os.path.join(REPO, "firmware", "certs")
ROOTS = ["AmazonRootCA1.der", "AmazonRootCA2.der", "AmazonRootCA3.der", "AmazonRootCA4.der", "SFSRootCAG2.der"]
# SHA-256 of the DER certificates, as published at https://www.amazontrust.com/repository/
FINGERPRINTS = {
    "AmazonRootCA1.der": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "AmazonRootCA2.der": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "AmazonRootCA3.der": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "AmazonRootCA4.der": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "SFSRootCAG2.der": "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
}


def test_certs_are_the_published_roots():
    for name in ROOTS:
        with open(os.path.join(CERTS, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == FINGERPRINTS[name], name


def test_make_certs_is_deterministic_and_up_to_date(tmp_path):
    tool = os.path.join(MAINTAINER, "make_certs.py")
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, tool, "--out", str(out)], check=True, capture_output=True)
    for name in ROOTS + ["README.md"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    check = subprocess.run([sys.executable, tool, "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_make_certs_target_from_a_fresh_directory(tmp_path):
    """`make certs` into a directory that does not exist yet writes exactly the committed
    firmware/certs/ (same names, same bytes): what is on the board is reproducible."""
    out = tmp_path / "fresh" / "certs"
    proc = subprocess.run(["make", "--no-print-directory", "-C", REPO, "certs", "CERTS_OUT=%s" % out],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(os.listdir(out)) == sorted(os.listdir(CERTS)) == sorted(ROOTS + ["README.md"])
    for name in ROOTS + ["README.md"]:
        with open(os.path.join(CERTS, name), "rb") as f:
            assert (out / name).read_bytes() == f.read(), name


def test_make_certs_check_finds_a_changed_or_missing_file(tmp_path):
    tool = os.path.join(MAINTAINER, "make_certs.py")
    subprocess.run([sys.executable, tool, "--out", str(tmp_path)], check=True, capture_output=True)
    assert subprocess.run([sys.executable, tool, "--check", "--out", str(tmp_path)]).returncode == 0
    data = bytearray((tmp_path / "AmazonRootCA3.der").read_bytes())
    data[-1] ^= 1
    (tmp_path / "AmazonRootCA3.der").write_bytes(bytes(data))
    (tmp_path / "SFSRootCAG2.der").unlink()
    check = subprocess.run([sys.executable, tool, "--check", "--out", str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 1
    assert "AmazonRootCA3.der" in check.stderr and "SFSRootCAG2.der" in check.stderr
    assert "AmazonRootCA1.der" not in check.stderr


# One MicroPython run tries every way of giving cadata and reports what each did.
MPY_CADATA = r"""
import json, socket, ssl
PORT = %(port)d
def rd(p):
    with open(p, "rb") as f:
        return f.read()
roots = [rd(%(certs)r + "/" + n) for n in %(roots)r]
test = rd(%(ca_der)r)
test_pem = rd(%(ca_pem)r)

def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.verify_mode = ssl.CERT_REQUIRED
    return c

def handshake(c):
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", PORT)[0][-1])
    try:
        t = c.wrap_socket(s, server_hostname="localhost")
        t.close()
        return "ok"
    except Exception as e:
        s.close()
        return "fail"

def case(*cadatas):
    c = ctx()
    try:
        for d in cadatas:
            c.load_verify_locations(cadata=d)
    except Exception as e:
        return type(e).__name__ + ": " + str(e)
    return handshake(c)

out = {}
for n, d in zip(%(roots)r, roots):
    out["load " + n] = case(d) != "ValueError: invalid cert"
out["test CA alone"] = case(test)
out["five roots only"] = case(*roots)
out["test CA first of six calls"] = case(test, *roots)
out["test CA third of six calls"] = case(roots[0], roots[1], test, roots[2], roots[3], roots[4])
out["test CA last of six calls"] = case(*(roots + [test]))
out["concatenated DER, test CA first"] = case(test + b"".join(roots))
out["concatenated DER, test CA last"] = case(b"".join(roots) + test)
out["PEM"] = case(test_pem)
out["PEM with NUL"] = case(test_pem + b"\0")
out["PEM str"] = case(test_pem.decode())
out["PEM bundle"] = case(test_pem + test_pem)
out["bytearray DER"] = case(bytearray(test))
out["memoryview DER"] = case(memoryview(test))
out["garbage"] = case(b"not a certificate")

def after_a_rejected_cert():
    c = ctx()
    c.load_verify_locations(cadata=test)
    try:
        c.load_verify_locations(cadata=b"x")
    except ValueError:
        pass
    return handshake(c)

out["test CA, then a rejected cert"] = after_a_rejected_cert()
print(json.dumps(out))
"""


def test_micropython_cadata_semantics(micropython, aws_server):
    code = MPY_CADATA % {"port": aws_server.port, "certs": CERTS, "roots": ROOTS, "ca_der": aws_server.ca_der,
                         "ca_pem": aws_server.ca_pem}
    result = run_micropython(micropython, ["-c", code], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads(result.stdout)
    assert all(facts["load " + name] for name in ROOTS)  # each DER root is accepted
    assert facts["test CA alone"] == "ok"
    assert facts["five roots only"] == "fail"  # the local server is not an AWS one
    # Each call adds to the trusted set (mbedtls_x509_crt_parse appends to the chain):
    assert facts["test CA first of six calls"] == "ok"
    assert facts["test CA third of six calls"] == "ok"
    assert facts["test CA last of six calls"] == "ok"
    # Concatenated DER: only the first certificate is read, the rest silently ignored.
    assert facts["concatenated DER, test CA first"] == "ok"
    assert facts["concatenated DER, test CA last"] == "fail"
    # This build's mbedTLS has no PEM parser: PEM, alone or bundled, is refused.
    for key in ("PEM", "PEM with NUL", "PEM str", "PEM bundle", "garbage"):
        assert facts[key] == "ValueError: invalid cert", (key, facts[key])
    assert facts["test CA, then a rejected cert"] == "ok"  # a failed load keeps what was loaded
    # cadata must be bytes (or str): no bytearray, no memoryview.
    assert facts["bytearray DER"].startswith("TypeError")
    assert facts["memoryview DER"].startswith("TypeError")


def test_each_certificate_problem_of_certs_has_its_words_in_cert_errors():
    """mpaws.certs names a problem by its index in cert_errors' words (a const()): every
    index has its words, in the order the constants give, and nothing else is there."""
    import re

    from mpaws import cert_errors

    with open(os.path.join(REPO, "firmware", "lib", "mpaws", "certs.py")) as f:
        source = f.read()
    raised = set(re.findall(r"_failed\((_[A-Z0-9_]+)", source))
    indexes = dict(re.findall(r"^(_[A-Z0-9_]+) = const\((\d+)\)$", source, re.M))
    assert raised == set(indexes)
    assert sorted(int(i) for i in indexes.values()) == list(range(len(cert_errors._WORDS)))
    # Each message's placeholders are what certs passes: the key (or path, reason) first.
    assert cert_errors.describe(int(indexes["_NOT_CLOSED"]), "CONFIG_TLS_KEY", b"EC PRIVATE KEY").message == (
        "CONFIG_TLS_KEY: the PEM block EC PRIVATE KEY is not closed (file cut short?)")
    assert cert_errors.describe(int(indexes["_NO_CA"])).message.startswith("no CA certificate to verify")
    assert "'/x'" in cert_errors.describe(int(indexes["_NO_CA_PATH"]), "/x").message
