"""Amazon API Gateway in the local AWS stand-in (tools/localaws/local_aws.py): the stand-in's function
behind two APIs, each on a TLS port of its own (as each API has a host name of its own),
both defined in moto's API Gateway models at set-up and read from them on every request:

- http_api: an HTTP API (apigatewayv2), route `POST /notify` with IAM authorization,
  stage "prod", a Lambda proxy integration with payload format 2.0. A request's SigV4
  signature for service execute-api is checked by moto's IAMRequest (botocore's SigV4Auth
  over the request as received), and the caller's IAM policies must allow execute-api:Invoke
  on arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/POST/notify (moto's policy engine).
- rest_api: a REST API (apigateway), resource /notify, method POST with an API key
  required, stage "v1", AWS_PROXY integration (payload format 1.0); an API key in a usage
  plan for that stage, whose throttle (rate, burst) is enforced with a token bucket.

API Gateway's own replies, as it words them: wrong stage or path (REST: 403 "Missing
Authentication Token"; HTTP API: 404 "Not Found"), a missing or bad key or signature (403
"Forbidden", InvalidSignatureException, UnrecognizedClientException, AccessDeniedException),
throttling (429 "Too Many Requests"), a failed integration (REST: 502 "Internal server
error"; HTTP API: 500 "Internal Server Error"); a clock more than 5 minutes off (403
"Signature expired"). Both TLS sockets offer ALPN h2 and http/1.1 (as API Gateway does):
a client that offers no ALPN gets HTTP/1.1, which is what the device speaks.

Faults for tests: throttle_next(n), fail_integration_next(n) (the function "crashes");
throttling by rate: a usage plan's throttle (REST) or `rate`/`burst` on the HTTP API.
"""
import base64
import datetime
import hashlib
import http
import json
import re
import secrets
import time
import uuid

from tls_server import TlsListener, leaf_cert, server_context

ALPN = ["h2", "http/1.1"]
HTTP_STAGE = "prod"
REST_STAGE = "v1"
ROUTE = "/notify"


def _reply(status, body, headers=()):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, [("Content-Type", "application/json")] + list(headers), data


class _Bucket:
    """A token bucket: `rate` requests a second, at most `burst` at once."""

    def __init__(self, rate, burst):
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self.tokens = self.burst
        self.when = time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.when) * self.rate)
        self.when = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Endpoint(TlsListener):
    """One API on its own TLS port (the shared listener, tls_server.py), answering each
    connection's requests with the stand-in's request handler (_answer), and the requests
    it received."""

    def __init__(self, gateway, kind, stage):
        self.gateway = gateway
        self.kind = kind  # "http" (HTTP API, IAM) or "rest" (REST API, API key)
        self.stage = stage
        self.api_id = None
        self.requests = []
        self.alpn = []  # the protocol each handshake selected (None: the client offered no ALPN)
        self.rate = None  # HTTP API: requests a second (None: unlimited)
        self.burst = 1
        self._buckets = {}
        self._throttle = 0
        self._crash = 0
        self._handler = None  # the stand-in's request handler class, from serve()
        # As the stand-in's other port (local_aws.py): TLS 1.2, the cipher AWS offers first.
        self._init_listener(server_context(leaf_cert("localhost", "127.0.0.1", ca=gateway.aws.ca),
                                           ciphers=gateway.ciphers, alpn=ALPN))

    @property
    def idle_timeout(self):
        return self.gateway.aws.idle_timeout

    @property
    def url(self):
        """What the device's CONFIG_AWS_API_URL is (a custom domain with the stage as base path)."""
        return "https://localhost:%d/%s" % (self.port, self.stage)

    def serve(self, handler):
        """Listens; handler(sock, address, endpoint, connection id) serves a connection."""
        self._handler = handler
        self.listen()

    def _serve_tls(self, sock, conn_id):
        self.alpn.append(sock.selected_alpn_protocol())
        self._handler(sock, sock.getpeername(), self, conn_id)

    def throttle_next(self, count=1):
        with self._lock:
            self._throttle += count

    def fail_integration_next(self, count=1):
        with self._lock:
            self._crash += count

    def clear_faults(self):
        with self._lock:
            self._throttle = self._crash = 0
            self._buckets.clear()
        self.rate = None

    def client_requests(self, since=0):
        with self._lock:
            return list(self.requests[since:])

    # -- one request -------------------------------------------------------------------------

    def _answer(self, exchange, close):
        exchange.api = self.kind
        exchange.time = time.monotonic()
        with self._lock:
            exchange.seq = len(self.requests)
            self.requests.append(exchange)
        request_id = str(uuid.uuid4())
        try:
            status, headers, body = self._route(exchange, request_id)
        except Exception as e:  # the stand-in's own bug: API Gateway's 500, with the reason kept
            exchange.error = repr(e)
            status, headers, body = _reply(500, {"message": "Internal Server Error"})
        head = [("Date", _http_date(self.gateway.aws.now())), ("Content-Length", str(len(body))),
                ("Connection", "close" if close else "keep-alive")]
        if self.kind == "rest":
            head += [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", request_id[:16])]
        else:
            head.append(("apigw-requestid", request_id[:16]))
        lines = ["HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase)]
        lines += ["%s: %s" % nv for nv in head + headers]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        exchange.status = status
        exchange.reply = data
        return data

    def _error(self, status, message, error_type, key="message"):
        headers = [("x-amzn-ErrorType", error_type)] if self.kind == "rest" or status == 403 else []
        return _reply(status, {key: message}, headers)

    def _route(self, exchange, request_id):
        path = exchange.path
        prefix = "/" + self.stage
        found = self._find(exchange.method, path[len(prefix):]) if (path + "/").startswith(prefix + "/") else None
        if found is None:
            if self.kind == "rest":
                return self._error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
            return _reply(404, {"message": "Not Found"})
        auth, key_required, function_arn, resource = found
        identity = {}
        if auth == "AWS_IAM":
            denied = self._check_iam(exchange, "%s/%s/%s%s" % (self.api_id, self.stage, exchange.method, resource),
                                     identity)
            if denied is not None:
                return denied
        plan = None
        if key_required:
            plan = self._usage_plan(exchange.header("x-api-key"))
            if plan is None:
                return self._error(403, "Forbidden", "ForbiddenException")
        if not self._allowed(plan, exchange.header("x-api-key")):
            return self._error(429, "Too Many Requests", "TooManyRequestsException")
        with self._lock:
            crash = self._crash > 0
            self._crash -= crash
        event = self._event(exchange, resource, request_id, identity)
        return self._integrate(function_arn, event, crash)

    # -- what moto's models say ----------------------------------------------------------------

    def _find(self, method, route):
        """(authorization type, API key required, function ARN, resource path) of the route,
        or None when this stage has no such route."""
        aws = self.gateway.aws
        if self.kind == "http":
            from moto.apigatewayv2.models import apigatewayv2_backends

            api = apigatewayv2_backends[aws.account_id][aws.region].apis.get(self.api_id)
            if api is None or self.stage not in api.stages:
                return None
            for r in api.routes.values():
                if r.route_key == "%s %s" % (method, route):
                    integration = api.integrations[r.target.split("/", 1)[1]]
                    return r.authorization_type, False, integration.integration_uri, route
            return None
        from moto.apigateway.models import apigateway_backends

        api = apigateway_backends[aws.account_id][aws.region].apis.get(self.api_id)
        if api is None or self.stage not in api.stages:
            return None
        for resource in api.resources.values():
            if resource.get_path() == route and method in resource.resource_methods:
                m = resource.resource_methods[method]
                uri = m.method_integration.uri if m.method_integration else ""
                arn = re.search(r"functions/(arn:[^/]+)/invocations", uri)
                return m.authorization_type, m.api_key_required, arn.group(1) if arn else None, route
        return None

    def _usage_plan(self, value):
        """The usage plan of this stage holding the enabled API key `value`, or None."""
        if not value:
            return None
        aws = self.gateway.aws
        from moto.apigateway.models import apigateway_backends

        backend = apigateway_backends[aws.account_id][aws.region]
        for key in backend.keys.values():
            if key.value == value and key.enabled:
                for plan in backend.get_usage_plans(api_key_id=key.id):
                    if any(s.get("apiId") == self.api_id and s.get("stage") == self.stage for s in plan.api_stages):
                        return plan
        return None

    def _allowed(self, plan, key):
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                return False
            if plan is not None and plan.throttle.get("rateLimit") is not None:
                limits = (plan.throttle["rateLimit"], plan.throttle.get("burstLimit", 1))
            elif plan is None and self.rate is not None:
                limits = (self.rate, self.burst)
            else:
                return True
            bucket = self._buckets.get((key, limits))
            if bucket is None:
                bucket = self._buckets[(key, limits)] = _Bucket(*limits)
            return bucket.take()

    def _check_iam(self, exchange, resource, identity):
        """None when the request is signed by a known key for execute-api and its policies allow
        execute-api:Invoke on the route; else API Gateway's 403."""
        from moto.iam.access_control import IAMRequest

        aws = self.gateway.aws
        headers = {}
        for name, value in exchange.headers:
            # moto looks up Authorization and X-Amz-Date by these spellings.
            canonical = {"authorization": "Authorization", "x-amz-date": "X-Amz-Date"}.get(name.lower(), name)
            headers[canonical] = value
        authorization = headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 ") or "X-Amz-Date" not in headers:
            if self.kind == "rest":
                return self._error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
            return self._error(403, "Forbidden", "ForbiddenException")
        scope = re.search(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request", authorization)
        if scope is None or scope.group(4) != "execute-api" or scope.group(3) != aws.region:
            return self._error(403, "Credential should be scoped to correct service: 'execute-api'. ",
                               "InvalidSignatureException")
        exchange.access_key = scope.group(1)
        exchange.service = "execute-api"
        skew = self._clock_error(headers["X-Amz-Date"])
        if skew is not None:
            return self._error(403, skew, "InvalidSignatureException")
        digest = headers.get("X-Amz-Content-SHA256") or headers.get("x-amz-content-sha256")
        if digest and digest != "UNSIGNED-PAYLOAD" and digest != hashlib.sha256(exchange.body).hexdigest():
            return self._error(403, "The provided 'x-amz-content-sha256' header does not match what was computed.",
                               "InvalidSignatureException")
        try:
            request = IAMRequest(aws.account_id, exchange.method, exchange.target, {}, exchange.body, headers,
                                 "Invoke")
            request.check_signature()
            request.check_action_permitted("arn:aws:execute-api:%s:%s:%s" % (aws.region, aws.account_id, resource))
        except Exception as e:  # moto's errors: which one says what API Gateway answers
            name = type(e).__name__
            if "InvalidClientTokenId" in name:
                return self._error(403, "The security token included in the request is invalid.",
                                   "UnrecognizedClientException")
            if "SignatureDoesNotMatch" in name:
                return self._error(403, "The request signature we calculated does not match the signature you "
                                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                                   "service documentation for details.", "InvalidSignatureException")
            if "AccessDenied" in name:
                return self._error(403, "User: %s is not authorized to perform: execute-api:Invoke on resource: "
                                   "arn:aws:execute-api:%s:%s:%s" % (request._access_key.arn, aws.region,
                                                                      aws.account_id, resource),
                                   "AccessDeniedException", key="Message")
            raise
        identity.update(accessKey=scope.group(1), accountId=aws.account_id, userArn=request._access_key.arn)
        return None

    def _clock_error(self, date):
        try:
            when = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return "Date must be in ISO-8601 'basic format'. Got '%s'." % date
        aws = self.gateway.aws
        now = aws.now()
        if aws.max_skew is None:
            return None
        if when < now - aws.max_skew:
            return "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                date, _amz_date(now - aws.max_skew), _amz_date(now))
        if when > now + aws.max_skew:
            return "Signature not yet current: %s is still later than %s (%s + 5 min.)" % (
                date, _amz_date(now + aws.max_skew), _amz_date(now))
        return None

    # -- the integration -----------------------------------------------------------------------

    def _event(self, exchange, resource, request_id, identity):
        aws = self.gateway.aws
        raw_query = exchange.target.partition("?")[2]
        from urllib.parse import parse_qsl

        pairs = parse_qsl(raw_query, keep_blank_values=True)
        text_type = (exchange.header("content-type") or "").split(";")[0].strip().lower()
        try:
            body = exchange.body.decode("utf-8")
            binary = not (text_type.startswith("text/") or text_type.endswith("json") or text_type.endswith("xml"))
        except UnicodeDecodeError:
            binary = True
        if binary and exchange.body:
            body = base64.b64encode(exchange.body).decode()
        now = aws.now()
        if self.kind == "http":
            headers = {}
            for name, value in exchange.headers:
                name = name.lower()
                headers[name] = headers[name] + "," + value if name in headers else value
            event = {
                "version": "2.0", "routeKey": "%s %s" % (exchange.method, resource), "rawPath": exchange.path,
                "rawQueryString": raw_query, "headers": headers,
                "requestContext": {
                    "accountId": aws.account_id, "apiId": self.api_id, "domainName": "localhost",
                    "domainPrefix": "localhost",
                    "http": {"method": exchange.method, "path": exchange.path, "protocol": "HTTP/1.1",
                             "sourceIp": "127.0.0.1", "userAgent": exchange.header("user-agent") or ""},
                    "requestId": request_id, "routeKey": "%s %s" % (exchange.method, resource),
                    "stage": self.stage, "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                    "timeEpoch": int(now * 1000),
                },
                "isBase64Encoded": binary and bool(exchange.body),
            }
            if identity:
                event["requestContext"]["authorizer"] = {"iam": identity}
            if pairs:
                event["queryStringParameters"] = dict(pairs)
            if exchange.body:
                event["body"] = body
            return event
        single, multi = {}, {}
        for name, value in exchange.headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        return {
            "resource": resource, "path": resource, "httpMethod": exchange.method, "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": dict(pairs) or None,
            "multiValueQueryStringParameters": {k: [v for kk, v in pairs if kk == k] for k, _ in pairs} or None,
            "pathParameters": None, "stageVariables": None,
            "requestContext": {
                "accountId": aws.account_id, "apiId": self.api_id, "httpMethod": exchange.method,
                "identity": dict({"apiKey": exchange.header("x-api-key"), "sourceIp": "127.0.0.1"}, **identity),
                "path": exchange.path, "protocol": "HTTP/1.1", "requestId": request_id,
                "requestTimeEpoch": int(now * 1000), "resourcePath": resource, "stage": self.stage,
            },
            "body": body if exchange.body else None, "isBase64Encoded": binary and bool(exchange.body),
        }

    def _failed(self):
        if self.kind == "rest":
            return self._error(502, "Internal server error", "InternalServerErrorException")
        return _reply(500, {"message": "Internal Server Error"})

    def _integrate(self, function_arn, event, crash):
        aws = self.gateway.aws
        if crash or aws.runtime is None or not function_arn:
            return self._failed()
        from moto.awslambda_simple.models import lambda_simple_backends  # the backend local_aws runs

        parts = function_arn.split(":")
        fn = lambda_simple_backends[aws.account_id][aws.region].get_function(parts[6], parts[7] if len(parts) > 7
                                                                             else None)
        kind, payload, _log = aws.runtime.invoke(fn, function_arn, json.dumps(event).encode(), False)
        if kind:
            return self._failed()
        try:
            result = json.loads(payload)
        except ValueError:
            return self._failed()
        if not isinstance(result, dict) or "statusCode" not in result:
            if self.kind == "http":  # format 2.0 infers a 200 with the result as JSON
                return _reply(200, result)
            return self._failed()  # REST: "Malformed Lambda proxy response"
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        headers = [(n, str(v)) for n, v in (result.get("headers") or {}).items()
                   if n.lower() not in ("content-length", "connection", "date")]
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return int(result["statusCode"]), headers, data


class Gateway:
    """The stand-in's API Gateway: http_api (IAM) and rest_api (API key), see the module doc."""

    def __init__(self, aws, ciphers):
        self.aws = aws
        self.ciphers = ciphers  # the TLS 1.2 cipher suites the stand-in's other port offers
        self.http_api = Endpoint(self, "http", HTTP_STAGE)
        self.rest_api = Endpoint(self, "rest", REST_STAGE)
        self.api_key = None  # the REST API's key (a secret: never in state() or a log)
        self.access_key = self.secret_key = None  # the IAM device user's: execute-api:Invoke on the route only
        self.rest_rate = (100.0, 200)  # the usage plan's throttle (rate a second, burst)

    @property
    def endpoints(self):
        return (self.http_api, self.rest_api)

    def setup(self, client, handler):
        """Creates both APIs, the key and usage plan, and the IAM device user in moto (before
        its auth is on; client(service) gives a set-up client), then listens."""
        aws = self.aws
        region, account = aws.region, aws.account_id
        v2 = client("apigatewayv2")
        api = v2.create_api(Name="mpaws-notify-api", ProtocolType="HTTP", Tags={"project": "mpaws"})
        self.http_api.api_id = api["ApiId"]
        integration = v2.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY",
                                            IntegrationUri=aws.function_arn, PayloadFormatVersion="2.0")
        v2.create_route(ApiId=api["ApiId"], RouteKey="POST " + ROUTE, AuthorizationType="AWS_IAM",
                        Target="integrations/" + integration["IntegrationId"])
        v2.create_stage(ApiId=api["ApiId"], StageName=HTTP_STAGE, AutoDeploy=True)

        rest = client("apigateway")
        api = rest.create_rest_api(name="mpaws-notify-rest", apiKeySource="HEADER")
        self.rest_api.api_id = api["id"]
        root = [r for r in rest.get_resources(restApiId=api["id"])["items"] if r["path"] == "/"][0]
        resource = rest.create_resource(restApiId=api["id"], parentId=root["id"], pathPart=ROUTE[1:])
        rest.put_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST", authorizationType="NONE",
                        apiKeyRequired=True)
        rest.put_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST", type="AWS_PROXY",
                             integrationHttpMethod="POST",
                             uri="arn:aws:apigateway:%s:lambda:path/2015-03-31/functions/%s/invocations"
                                 % (region, aws.function_arn))
        rest.create_deployment(restApiId=api["id"], stageName=REST_STAGE)
        self.api_key = secrets.token_urlsafe(30)[:40]
        key = rest.create_api_key(name="mpaws-device", enabled=True, value=self.api_key)
        plan = rest.create_usage_plan(name="mpaws-devices", apiStages=[{"apiId": api["id"], "stage": REST_STAGE}],
                                      throttle={"rateLimit": self.rest_rate[0], "burstLimit": self.rest_rate[1]})
        rest.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        self.usage_plan_id = plan["id"]

        iam = client("iam")
        user = aws.user_name + "-api"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="device", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "execute-api:Invoke",
                "Resource": "arn:aws:execute-api:%s:%s:%s/%s/POST%s" % (region, account, self.http_api.api_id,
                                                                         HTTP_STAGE, ROUTE)}]}))
        created = iam.create_access_key(UserName=user)["AccessKey"]
        self.access_key, self.secret_key = created["AccessKeyId"], created["SecretAccessKey"]
        for endpoint in self.endpoints:
            endpoint.serve(handler)

    def set_usage_plan_throttle(self, rate, burst):
        """The REST API's usage plan throttle (requests a second, burst), in moto's model."""
        from moto.apigateway.models import apigateway_backends

        plan = apigateway_backends[self.aws.account_id][self.aws.region].usage_plans[self.usage_plan_id]
        plan.throttle = {"rateLimit": float(rate), "burstLimit": int(burst)}
        with self.rest_api._lock:
            self.rest_api._buckets.clear()

    def clear_faults(self):
        for endpoint in self.endpoints:
            endpoint.clear_faults()
        self.set_usage_plan_throttle(*self.rest_rate)

    def close(self):
        for endpoint in self.endpoints:
            endpoint.close_listener()

    def device_config(self, api_key=True):
        """The CONFIG_* keys of a device in API mode: the REST API with its key, or (api_key
        False) the HTTP API with the IAM user's key pair."""
        if api_key:
            return {"CONFIG_AWS_API_URL": self.rest_api.url, "CONFIG_AWS_API_KEY": self.api_key,
                    "CONFIG_AWS_ACCESS_KEY": None, "CONFIG_AWS_SECRET_KEY": None}
        return {"CONFIG_AWS_API_URL": self.http_api.url, "CONFIG_AWS_API_KEY": None,
                "CONFIG_AWS_ACCESS_KEY": self.access_key, "CONFIG_AWS_SECRET_KEY": self.secret_key}

    def state(self):
        return {"http_api": {"url": self.http_api.url, "api_id": self.http_api.api_id, "auth": "AWS_IAM",
                             "access_key": self.access_key, "handshakes": self.http_api.handshakes},
                "rest_api": {"url": self.rest_api.url, "api_id": self.rest_api.api_id, "auth": "API key",
                             "handshakes": self.rest_api.handshakes}}


def _http_date(seconds):
    import email.utils

    return email.utils.formatdate(seconds, usegmt=True)


def _amz_date(seconds):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))
