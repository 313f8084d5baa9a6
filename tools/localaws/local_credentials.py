"""The AWS IoT credentials provider of the local AWS stand-in (tools/localaws/local_aws.py, with
LocalAWS(cert_auth=True) or `local_aws.py --cert-auth`).

A TLS endpoint of its own on 127.0.0.1 that serves
    GET /role-aliases/<alias>/credentials      (header x-amzn-iot-thingname)
as AWS IoT does:
- mutual TLS: the client must present a certificate issued by the stand-in's device CA
  (what AWS IoT's create_keys_and_certificate issues); any other is refused in the
  handshake. The server's own certificate comes from the stand-in's CA (CONFIG_TLS_CA).
- the certificate must be registered and ACTIVE (issue() registers one, revoke() and
  deactivate() end it: refused with IoT's 403 {"message": "Access Denied"}), and attached
  to the thing named in x-amzn-iot-thingname, as the policy variable
  ${credentials-iot:ThingName} requires (another thing: 403).
- the role alias names an IAM role in moto (made at set-up, allowed exactly what the
  device's IAM user may do); the reply is moto STS credentials for it
  ({"credentials": {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}}), so
  moto checks the signature and the session token of the requests that follow, and this
  module their expiry (moto does not): a request signed with credentials past their
  `duration` (seconds, settable: a test's 20 s) gets 403 ExpiredTokenException.
Every call is recorded (calls: [Call]); handshakes and refused handshakes are counted.
"""
import hashlib
import json
import os
import time

import trustme

from aws_errors import service_error
from tls_server import TlsListener, leaf_cert, server_context

ROLE_ALIAS = "mpaws-role-alias"
SNS_ROLE_ALIAS = "mpaws-role-alias-sns"  # for a device in direct-SNS mode: sns:Publish only
THING_NAME = "mpaws-thing-1"
TLS_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"
_MAX_HEAD = 16 * 1024


def _iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Certificate:
    """A registered device certificate: id (its SHA-256, as AWS IoT's certificateId),
    thing (the thing it is attached to, or None), status (ACTIVE, INACTIVE, REVOKED),
    cert_der / cert_pem / key_der / key_pem: the files written for the device."""

    def __init__(self, cert_id, thing, files):
        self.id = cert_id
        self.thing = thing
        self.status = "ACTIVE"
        self.cert_der, self.cert_pem, self.key_der, self.key_pem = files

    def __repr__(self):
        return "<Certificate %s… %s thing=%s>" % (self.id[:12], self.status, self.thing)


class Call:
    """One credentials request: thing (the header), certificate (its id or None), status,
    access_key (issued, or None), connection (1-based)."""

    def __init__(self, thing, certificate, connection):
        self.thing = thing
        self.certificate = certificate
        self.connection = connection
        self.status = None
        self.access_key = None
        self.secrets = ()
        self.reply = b""

    def __repr__(self):
        return "<Call thing=%s cert=%s -> %s %s>" % (self.thing, (self.certificate or "-")[:12], self.status,
                                                     self.access_key)


class CredentialsProvider(TlsListener):
    """The credentials endpoint next to a LocalAWS `aws` (its clock, its CA, its moto).
    duration: seconds the credentials live (3600, as AWS's default; tests set 20)."""

    def __init__(self, aws, duration=3600, port=0):
        self.aws = aws
        self.duration = duration
        self.host = "localhost"
        self.device_ca = trustme.CA(key_type=trustme.KeyType.ECDSA, organization_name="mpaws local IoT device CA")
        self.certificates = {}  # id -> Certificate
        self.role_aliases = {}  # alias -> role ARN
        self.issued = {}  # access key -> expiration (server clock, seconds)
        self.calls = []
        # Mutual TLS: no certificate, or one of another CA, and there is no handshake.
        self._init_listener(server_context(leaf_cert("localhost", "127.0.0.1", ca=aws.ca), ciphers=TLS_CIPHERS,
                                           client_ca=self.device_ca), port)

    @property
    def refused_handshakes(self):
        with self._lock:
            return len(self.tls_errors)

    @property
    def endpoint(self):
        """What CONFIG_AWS_CREDENTIALS_ENDPOINT holds: host:port."""
        return "%s:%d" % (self.host, self.port)

    # -- set-up ----------------------------------------------------------------------------

    def setup(self, iam, actions, sns_actions=("sns:Publish",)):
        """Creates the roles behind the role aliases (with the set-up key, before moto's
        checks are on): trusted by credentials.iot.amazonaws.com, allowed `actions` (what
        the device's IAM user may do), or sns:Publish for the direct-SNS alias."""
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        for alias, allowed in ((ROLE_ALIAS, actions), (SNS_ROLE_ALIAS, sns_actions)):
            role = iam.create_role(RoleName=alias + "-role", AssumeRolePolicyDocument=trust)["Role"]
            iam.put_role_policy(RoleName=role["RoleName"], PolicyName="device", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(allowed),
                                                        "Resource": "*"}]}))
            self.role_aliases[alias] = role["Arn"]

    def start(self):
        self.listen()
        return self

    def stop(self):
        self.close_listener()

    # -- certificates ------------------------------------------------------------------------

    def issue(self, thing=THING_NAME, folder=None, register=True, ca=None, name=None, key_type="ec"):
        """A new device certificate and key for `thing`, written to folder (DER and PEM;
        the keys mode 0600). register=False: issued by the device CA but never registered
        (unknown to "AWS IoT"); ca: another trustme.CA (a certificate the endpoint refuses
        in the handshake); key_type: "ec" (P-256) or "rsa" (2048 bits, the key PEM in PKCS#1,
        as AWS IoT's create_keys_and_certificate gives it). Returns the Certificate."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        folder = folder or self.aws.ca_dir
        name = name or thing
        kind = trustme.KeyType.RSA if key_type == "rsa" else trustme.KeyType.ECDSA
        leaf = (ca or self.device_ca).issue_cert(thing, key_type=kind)
        cert_pem = leaf.cert_chain_pems[0].bytes()
        cert_der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())  # PKCS#1 (RSA) or SEC1 (EC)
        paths = []
        for suffix, data, private in (("cert.der", cert_der, False), ("cert.pem", cert_pem, False),
                                      ("key.der", key_der, True), ("key.pem", key_pem, True)):
            path = os.path.join(folder, "%s.%s" % (name, suffix))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        certificate = Certificate(hashlib.sha256(cert_der).hexdigest(), thing, paths)
        if register and ca is None:
            with self._lock:
                self.certificates[certificate.id] = certificate
        return certificate

    def set_status(self, certificate, status):
        """AWS IoT's update-certificate: ACTIVE, INACTIVE or REVOKED."""
        with self._lock:
            self.certificates[certificate.id].status = status

    def revoke(self, certificate):
        self.set_status(certificate, "REVOKED")

    def expire_all(self):
        """Every credentials issued so far runs out now (as if their hour had passed)."""
        with self._lock:
            now = self.aws.now()
            for key in self.issued:
                self.issued[key] = min(self.issued[key], now)

    # -- what LocalAWS asks ------------------------------------------------------------------

    def check(self, exchange):
        """For LocalAWS._check: a request signed with credentials from here that ran out gets
        AWS's ExpiredToken reply (moto does not check expiry); None otherwise."""
        with self._lock:
            expires = self.issued.get(exchange.access_key)
        if expires is None or self.aws.now() < expires:
            return None
        return service_error(exchange.service, 403, "ExpiredToken", "ExpiredTokenException",
                             "The security token included in the request is expired")

    def client_calls(self, since=0):
        with self._lock:
            return list(self.calls[since:])

    # -- one request ---------------------------------------------------------------------------

    def _answer(self, call, method, path, peer_der):
        """(status, body dict) for one request."""
        from moto.sts.models import sts_backends

        parts = path.split("/")
        if method != "GET" or len(parts) != 4 or parts[1] != "role-aliases" or parts[3] != "credentials":
            return 404, {"message": "Not Found"}
        certificate = self.certificates.get(call.certificate)
        if certificate is None or certificate.status != "ACTIVE":
            return 403, {"message": "Access Denied"}  # what IoT says of an unknown, inactive or revoked one
        if call.thing is None or call.thing != certificate.thing:
            return 403, {"message": "Access Denied"}  # ${credentials-iot:ThingName}: not this certificate's thing
        role_arn = self.role_aliases.get(parts[2])
        if role_arn is None:
            return 404, {"message": "Role alias does not exist"}
        with self._lock:
            now = self.aws.now()
            role = sts_backends[self.aws.account_id]["aws"].assume_role(
                region_name=self.aws.region, role_session_name=certificate.id, role_arn=role_arn, policy=None,
                duration=self.duration, external_id=None)
            self.issued[role.access_key_id] = now + self.duration
        call.access_key = role.access_key_id
        call.secrets = (role.secret_access_key, role.session_token)  # for the tests' "never in any output"
        return 200, {"credentials": {"accessKeyId": role.access_key_id, "secretAccessKey": role.secret_access_key,
                                     "sessionToken": role.session_token, "expiration": _iso(now + self.duration)}}

    def _serve_tls(self, sock, connection):
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data or len(head) > _MAX_HEAD:
                return
            head += data
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        peer = sock.getpeercert(binary_form=True)
        call = Call(headers.get("x-amzn-iot-thingname"), hashlib.sha256(peer).hexdigest() if peer else None,
                    connection)
        status, body = self._answer(call, method, path.partition("?")[0], peer)
        data = json.dumps(body).encode()
        reply = ("HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 "x-amzn-RequestId: %s\r\nConnection: close\r\n\r\n" % (
                     status, {200: "OK", 403: "Forbidden", 404: "Not Found"}.get(status, "Error"),
                     _http_date(self.aws.now()), len(data), os.urandom(16).hex())).encode() + data
        call.status = status
        call.reply = reply
        with self._lock:
            self.calls.append(call)
        sock.sendall(reply)


def _http_date(seconds):
    import email.utils

    return email.utils.formatdate(seconds, usegmt=True)
