# Amazon API Gateway from the device: requests to a route of an HTTP API or a REST API,
#
#     api = apigateway.Api("https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
#                          access_key=..., secret_key=...)        # IAM authorization
#     api = apigateway.Api("https://api.example.com/v1", api_key=...)  # API key, no AWS key
#     reply = api.post("/notify", '{"subject": "s"}');  reply.status, reply.json()
#
# IAM: SigV4 for service execute-api, the region from the execute-api host name (or given,
# for a custom domain). The canonical path is the path on the wire encoded once more, the
# stage included, as botocore signs it (host_tests/test_apigateway.py proves it).
# API key: the x-api-key header and nothing else: no AWS credentials on the device.
# Both go through mpaws.client.Client (retries, deadline, error mapping) over one kept-alive
# TLS connection, HTTP/1.1 without ALPN: API Gateway needs neither ALPN nor HTTP/2.
import json

from mpaws import api_key, client, sigv4
from mpaws.api_url import EXECUTE_API, parse_url  # noqa: F401 -- here too, as before


class KeyAuth(api_key.KeyAuth):
    """The API-key mode's "signer" for mpaws.client.Client: adds x-api-key, signs nothing.
    The key is checked here, and never part of a repr or a message."""

    def __init__(self, api_key):
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key: must be a non-empty string")
        if not sigv4.made_of(api_key, sigv4.PRINTABLE[1:]):
            # The key is not quoted: say what is wrong with it instead.
            raise ValueError("api_key: only printable ASCII without spaces (an API key is letters and "
                             "digits); this one, %d characters, has another character" % len(api_key))
        super().__init__(api_key)


class Reply:
    """A 2xx reply of a route: status, headers ((lower-case name, value) pairs), body
    (bytes), header(name), json(), request_id."""

    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.body = bytes(response.body)

    def header(self, name, default=None):
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def request_id(self):
        # REST APIs answer with x-amzn-RequestId, HTTP APIs with apigw-requestid.
        return self.header("x-amzn-requestid") or self.header("apigw-requestid")

    def json(self):
        """The body decoded as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return "<Reply %d, %d bytes>" % (self.status, len(self.body))


class Api:
    """One API (its URL: stage or custom domain with base path), reached over one kept-alive
    TLS connection, opened on the first request.

    api_key: API-key mode (x-api-key; no AWS credentials). Otherwise IAM mode: access_key,
    secret_key (session_token) sign for service execute-api in `region`, by default the
    execute-api host's (required for a custom domain). ca, verify, timeout, max_attempts,
    budget_ms, log: as mpaws.client.connect."""

    def __init__(self, url, api_key=None, access_key=None, secret_key=None, session_token=None, region=None,
                 ca=None, verify=True, timeout=10, max_attempts=4, budget_ms=30000, log=None):
        self.host, self.port, self.base, url_region = parse_url(url)
        if api_key is not None:
            self.signer = KeyAuth(api_key)
            self.region = region or url_region
        else:
            self.region = region or url_region
            if not self.region:
                raise ValueError("region: needed to sign for a custom domain (%s is not an execute-api host)"
                                 % self.host)
            if not access_key or not secret_key:
                raise ValueError("access_key and secret_key are needed for IAM authorization (or give api_key)")
            self.signer = sigv4.Signer(access_key, secret_key, self.region, EXECUTE_API, session_token=session_token)
        self._options = (ca, verify, timeout, max_attempts, budget_ms, log)
        self.client = None  # the mpaws.client.Client, made on the first request

    def connect(self):
        """The Client (made once; its connection is opened by the first request)."""
        if self.client is None:
            ca, verify, timeout, max_attempts, budget_ms, log = self._options
            self.client = client.open_client(self.signer, self.host, self.port, ca, verify, timeout, max_attempts,
                                             budget_ms, log)
        return self.client

    def close(self):
        if self.client is not None:
            self.client.close()

    def path(self, path):
        """The wire path of a route: the base path, then `path` (text, '/'-separated, each
        segment percent-encoded here)."""
        if not isinstance(path, str) or path[:1] != "/":
            raise ValueError("path must start with '/'")
        if "//" in path or "/." in path:  # the device's signer does not normalise paths
            raise ValueError("path: no empty segment and none starting with '.'")
        return self.base + sigv4.uri_encode(path, "/")

    def request(self, method, path, query=None, body=None, content_type=None, headers=(), max_body=None):
        """Sends a request to the route `path` (see path()); query: decoded (key, value)
        pairs; body: bytes, str, a list/tuple of pieces, or a dict (sent as JSON). Returns
        a Reply for a 2xx; raises the matching errors.AWSError otherwise (see
        mpaws.failures: what API Gateway's replies mean and what to check)."""
        if isinstance(body, dict):
            body = json.dumps(body)
            content_type = content_type or "application/json"
        added = list(headers)
        if content_type:
            added.append(("content-type", content_type))
        response = self.connect().request(method, self.path(path), query, added, body, max_body)
        return Reply(response)

    def post(self, path, body, content_type="application/json"):
        return self.request("POST", path, None, body, content_type)

    def get(self, path, query=None):
        return self.request("GET", path, query)

    def __repr__(self):
        return "<Api https://%s:%d%s %s>" % (self.host, self.port, self.base,
                                            "API key" if isinstance(self.signer, KeyAuth) else "IAM")
