"""Deploys mpaws's cloud half to your AWS account, least privilege, and writes the device's config.py.

    python3 tools/cloud.py deploy --region R [--name N] [--email ADDR]... [--sms +NUMBER]... [--direct-sns]
                                  [--cert-auth] [--api [--api-key]]
    python3 tools/cloud.py status --region R [--name N]
    python3 tools/cloud.py rotate-key --region R [--name N] [--force]
    python3 tools/cloud.py destroy --region R [--name N]
    common options: --config PATH (default firmware/config.py), --dry-run (deploy, rotate-key, destroy)

deploy creates or updates, and a second run changes nothing:
- the SNS topic N and its e-mail / SMS subscriptions;
- the log group /aws/lambda/N (30 days' retention) and the function's role N-function, which may
  only publish to the topic and write that log group;
- the function N (cloud/lambda_function.py, Python 3.12) whose allow-list is the topic;
- the device's IAM user N-device, whose one permission is lambda:InvokeFunction on the function
  (--direct-sns: sns:Publish on the topic), and its access key, written with the rest of the
  device's settings into config.py (mode 600). The secret key is printed nowhere. With
  --direct-sns, config.py gets CONFIG_AWS_LAMBDA_FUNCTION = None: the device publishes to the
  topic itself.
- with --api, API Gateway in front of the function (tools/cloud_api.py): an HTTP API whose one
  route, POST /notify, the device key may invoke (execute-api:Invoke on that route and stage,
  nothing else); with --api --api-key, a REST API with an API key in a usage plan (throttle,
  daily quota) instead, and no AWS key on the device at all. config.py gets CONFIG_AWS_API_URL
  (and CONFIG_AWS_API_KEY).

With --cert-auth there is no IAM user and no key: the device is an AWS IoT thing with a
certificate, and gets temporary credentials for a role allowed the same one action (see
tools/cloud_cert.py; rotate-key and destroy then handle the certificate).

Everything it creates carries the tag mpaws:stack=N; it refuses to touch a resource of the same
name without that tag. It runs with your administrator credentials (the usual AWS variables,
~/.aws/config profiles), never with the device's key. Needs boto3 (`make setup` installs it in .venv).
"""
import argparse
import ast
import base64
import difflib
import hashlib
import io
import json
import os
import sys
import time
import tokenize
import types
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(REPO, "cloud"), os.path.join(REPO, "firmware", "lib"), os.path.join(REPO, "tools")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import policies  # noqa: E402  (cloud/policies.py)
import cloud_api  # noqa: E402  (tools/cloud_api.py: API Gateway, deploy --api)

FUNCTION_SOURCE = os.path.join(REPO, "cloud", "lambda_function.py")
DEFAULT_CONFIG = os.path.join(REPO, "firmware", "config.py")
CONFIG_TEMPLATE = os.path.join(REPO, "firmware", "config_template.py")
RUNTIME = "python3.12"
HANDLER = "lambda_function.lambda_handler"
TIMEOUT_SECONDS = 10
MEMORY_MB = 128
# A role is not usable by Lambda for some seconds after IAM created it.
ROLE_PROPAGATION_SECONDS = 60

# Regions where SNS sends SMS (Amazon SNS developer guide, "Supported countries and regions").
SMS_REGIONS = frozenset((
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-northeast-1", "ap-northeast-3",
    "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-south-1", "eu-south-2", "eu-north-1", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
    "us-gov-west-1",
))


class CloudError(Exception):
    """A problem the user has to solve; the message says how."""


def check_region(session, region):
    """The partition (aws, aws-cn, ...) of `region` when both Lambda and SNS run there, from
    botocore's own endpoint data (no network call); CloudError naming the nearest regions
    otherwise, before a misspelt region ends in "Could not connect to the endpoint URL"."""
    partitions = {}
    for partition in session.get_available_partitions():
        for service_region in set(session.get_available_regions("lambda", partition)) & set(
                session.get_available_regions("sns", partition)):
            partitions[service_region] = partition
    if region in partitions:
        return partitions[region]
    import botocore

    near = difflib.get_close_matches(region.lower(), sorted(partitions), n=3, cutoff=0.6)
    near.sort(key=lambda r: (-difflib.SequenceMatcher(None, region.lower(), r).ratio(), r))  # ties by name
    if near:
        hint = "did you mean %s?" % " or ".join(near)
    else:
        hint = "the aws partition's are %s" % ", ".join(sorted(r for r, p in partitions.items() if p == "aws"))
    raise CloudError("--region %s is not a region where Lambda and SNS run (as botocore %s knows them): %s"
                     % (region, botocore.__version__, hint))


# -- the function's code -----------------------------------------------------------------------


def function_zip():
    """The deployment package: lambda_function.py alone, byte-for-byte reproducible (fixed
    timestamp, no compression) so that its hash tells whether the deployed code is current."""
    with open(FUNCTION_SOURCE, "rb") as f:
        source = f.read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("lambda_function.py", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        z.writestr(info, source)
    return buf.getvalue()


def code_sha256(package):
    """Lambda's CodeSha256: base64 of the package's SHA-256."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


# -- config.py ---------------------------------------------------------------------------------


def assignments(text):
    """{name: value} of a config.py's literal assignments; the file is parsed, never executed."""
    values = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def read_config(path):
    """assignments() of the config file at `path`, {} when there is none; CloudError when it
    cannot be read or is not Python."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeError) as e:
        raise CloudError("cannot read --config %s: %s" % (path, getattr(e, "strerror", None) or e)) from None
    try:
        return assignments(text)
    except (SyntaxError, ValueError) as e:
        raise CloudError("--config %s is not valid Python (line %s: %s): fix it, or give another --config"
                         % (path, getattr(e, "lineno", "?"), getattr(e, "msg", e))) from None


def check_config_path(path, writing):
    """CloudError, before anything in the account is touched, when config.py at `path` cannot
    be read or (writing) written."""
    if os.path.isdir(path):
        raise CloudError("--config %s is a directory: give the path of the device's config.py" % path)
    read_config(path)
    folder = os.path.dirname(os.path.abspath(path))
    if writing and not os.path.isdir(folder):
        raise CloudError("--config %s: there is no directory %s" % (path, folder))
    if writing and not os.access(folder, os.W_OK):
        raise CloudError("--config %s: cannot write in %s" % (path, folder))


def device_settings(names, access=policies.INVOKE, access_key=None, secret_key=None, api_url=None, api_key=None):
    """The config.py keys deploy sets (the rest, Wi-Fi and NTP, stay as the user wrote them).
    access: policies.INVOKE, or DIRECT_SNS (no function: the device publishes to the topic),
    or API / API_KEY (through API Gateway at api_url; API_KEY: with api_key, no AWS key)."""
    values = {
        "CONFIG_AWS_REGION": names.region,
        "CONFIG_AWS_LAMBDA_FUNCTION": names.function if access == policies.INVOKE else None,
        "CONFIG_AWS_API_URL": api_url,
        "CONFIG_AWS_API_KEY": api_key,
        "CONFIG_AWS_SNS_TOPIC_ARN": names.topic_arn,
        "CONFIG_AWS_SESSION_TOKEN": None,
        "CONFIG_AWS_HOST": None,  # the region's own endpoint
        "CONFIG_TLS_CA": None,  # the bundled Amazon roots
        "CONFIG_TLS_VERIFY": True,
    }
    if access_key is not None or access == policies.API_KEY:
        values["CONFIG_AWS_ACCESS_KEY"] = access_key
        values["CONFIG_AWS_SECRET_KEY"] = secret_key
    return values


def _literal(value):
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted Python literal, like the template's
    return repr(value)


def _trailing_comment(line):
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    return "  " + comments[-1] if comments else ""


def config_text(base, values):
    """`base` (a config.py's text) with each key of `values` set; other lines unchanged."""
    lines = base.splitlines()
    for key, value in values.items():
        assignment = "%s = %s" % (key, _literal(value))
        found = False
        for i, line in enumerate(lines):
            if line.startswith(key) and line[len(key):].lstrip().startswith("="):
                lines[i] = assignment + _trailing_comment(line)
                found = True
        if not found:
            lines.append(assignment)
    return "\n".join(lines) + "\n"


def check_config(text):
    """Validates config.py's text with the firmware's own loader; returns its problem or None."""
    from mpaws import errors, settings

    try:
        settings.Settings(types.SimpleNamespace(**assignments(text)))
    except errors.ConfigError as e:
        return str(e)
    return None


def write_config(path, values):
    """Sets `values` in config.py (starting from config_template.py when there is none), written
    atomically with mode 600: it holds the secret key."""
    base_path = path if os.path.exists(path) else CONFIG_TEMPLATE
    with open(base_path, encoding="utf-8") as f:
        text = config_text(f.read(), values)
    temporary = path + ".tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(temporary, 0o600)  # also when the file existed with a wider mode
    os.replace(temporary, path)
    return check_config(text)


# -- AWS ---------------------------------------------------------------------------------------


def _code(error):
    return error.response.get("Error", {}).get("Code", "")


class Account:
    """boto3 clients for one region, and the deployment's names there."""

    def __init__(self, session, region, name):
        import botocore.exceptions

        partition = check_region(session, region)
        self.ClientError = botocore.exceptions.ClientError
        if session.get_credentials() is None:
            raise CloudError("no AWS credentials: run `aws configure` (or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY) with an administrator's key of your account")
        self.sns = session.client("sns", region_name=region)
        self.iam = session.client("iam", region_name=region)
        self.lam = session.client("lambda", region_name=region)
        self.logs = session.client("logs", region_name=region)
        self.iot = session.client("iot", region_name=region)  # certificate auth (tools/cloud_cert.py)
        self.apigw2 = session.client("apigatewayv2", region_name=region)  # HTTP APIs (deploy --api)
        self.apigw = session.client("apigateway", region_name=region)  # REST APIs, API keys (--api --api-key)
        try:
            account = session.client("sts", region_name=region).get_caller_identity()["Account"]
        except botocore.exceptions.ClientError as e:
            raise CloudError("your AWS credentials were refused (%s): check them with `aws sts get-caller-identity`"
                             % _code(e)) from None
        self.names = policies.Names(name, region, account, partition)

    def missing(self, call, codes, **kwargs):
        """call(**kwargs), or None when AWS answers one of the not-found `codes`."""
        try:
            return call(**kwargs)
        except self.ClientError as e:
            if _code(e) in codes:
                return None
            raise


def _tags(pairs, key="Key", value="Value"):
    return {p[key]: p[value] for p in pairs}


class State:
    """What exists now under the deployment's names (read-only calls only)."""

    def __init__(self, aws, config_path):
        n, iam = aws.names, aws.iam
        self.topic = aws.missing(aws.sns.get_topic_attributes, ("NotFound",), TopicArn=n.topic_arn)
        self.topic_tags = self.subscriptions = None
        if self.topic is not None:
            self.topic_tags = _tags(aws.sns.list_tags_for_resource(ResourceArn=n.topic_arn)["Tags"])
            self.subscriptions = []
            for page in aws.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=n.topic_arn):
                self.subscriptions += page["Subscriptions"]

        role = aws.missing(iam.get_role, ("NoSuchEntity",), RoleName=n.role)
        self.role = role and role["Role"]
        self.role_tags = self.role_policy = None
        if self.role is not None:
            self.role_tags = _tags(iam.list_role_tags(RoleName=n.role)["Tags"])
            policy = aws.missing(iam.get_role_policy, ("NoSuchEntity",), RoleName=n.role, PolicyName=n.role_policy)
            self.role_policy = policy and policy["PolicyDocument"]

        self.function = aws.missing(aws.lam.get_function, ("ResourceNotFoundException",), FunctionName=n.function)
        self.function_tags = self.function and self.function.get("Tags", {})

        groups = aws.logs.describe_log_groups(logGroupNamePrefix=n.log_group)["logGroups"]
        self.log_group = next((g for g in groups if g["logGroupName"] == n.log_group), None)
        self.log_group_tags = None
        if self.log_group is not None:
            self.log_group_tags = aws.logs.list_tags_log_group(logGroupName=n.log_group)["tags"]

        self.user = aws.missing(iam.get_user, ("NoSuchEntity",), UserName=n.user)
        self.user_tags = self.user_policy = None
        self.keys = []
        if self.user is not None:
            self.user_tags = _tags(iam.list_user_tags(UserName=n.user)["Tags"])
            policy = aws.missing(iam.get_user_policy, ("NoSuchEntity",), UserName=n.user, PolicyName=n.user_policy)
            self.user_policy = policy and policy["PolicyDocument"]
            self.keys = iam.list_access_keys(UserName=n.user)["AccessKeyMetadata"]

        self.config = read_config(config_path)

    def resources(self, names):
        """[(kind, name, tags or None when missing)] of every named resource."""
        log_group_tags = self.log_group_tags
        if self.log_group is not None and not log_group_tags and self.owns(self.function_tags, names):
            # Lambda itself creates its log group, untagged, when the function logs before we made it.
            log_group_tags = {policies.STACK_TAG: names.name}
        return [
            ("SNS topic", names.topic_arn, self.topic_tags),
            ("IAM role", names.role, self.role_tags),
            ("Lambda function", names.function, self.function_tags),
            ("log group", names.log_group, log_group_tags if self.log_group is not None else None),
            ("IAM user", names.user, self.user_tags),
        ]

    @staticmethod
    def owns(tags, names):
        return tags is not None and tags.get(policies.STACK_TAG) == names.name

    def check_owned(self, names):
        """CloudError when a resource of the deployment's names exists but was not made by mpaws."""
        foreign = ["%s %s" % (kind, name) for kind, name, tags in self.resources(names)
                   if tags is not None and not self.owns(tags, names)]
        if foreign:
            raise CloudError("not created by mpaws (no tag %s=%s), so left alone: %s. Choose another --name, or "
                             "remove them yourself." % (policies.STACK_TAG, names.name, ", ".join(foreign)))

    def config_key(self):
        """The device key id in config.py when it belongs to the device user, else None."""
        key = self.config.get("CONFIG_AWS_ACCESS_KEY")
        return key if any(k["AccessKeyId"] == key for k in self.keys) else None


class Plan:
    """Changes, printed as they are decided and made unless it is a dry run."""

    def __init__(self, dry_run, out):
        self.dry_run = dry_run
        self.out = out
        self.count = 0

    def change(self, description, action=None, *args, **kwargs):
        self.count += 1
        self.out.write("  %s%s\n" % ("would " if self.dry_run else "", description))
        self.out.flush()
        if not self.dry_run and action is not None:
            return action(*args, **kwargs)
        return None

    def note(self, text):
        self.out.write("  note: %s\n" % text)


# -- deploy --------------------------------------------------------------------------------------


def _check_subscribers(emails, phones, region):
    for address in emails:
        if "@" not in address or " " in address or address.startswith("@") or address.endswith("@"):
            raise CloudError("--email %r is not an e-mail address" % address)
    for number in phones:
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            raise CloudError("--sms %r is not a phone number in E.164 form (+, country code, number: +14155550100)"
                             % number)
    if phones and region not in SMS_REGIONS:
        raise CloudError("SNS does not send SMS from region %s; deploy in one that does (e.g. us-east-1, eu-west-1, "
                         "ap-southeast-1) or use --email" % region)


def _desired_function(aws, package):
    n = aws.names
    return {"Runtime": RUNTIME, "Handler": HANDLER, "Role": n.role_arn, "Timeout": TIMEOUT_SECONDS,
            "MemorySize": MEMORY_MB, "Environment": {"Variables": {"ALLOWED_TOPIC_ARNS": n.topic_arn}},
            "CodeSha256": code_sha256(package)}


def function_differences(aws, state, package):
    """The function settings that differ from what deploy sets ([] when all match)."""
    current = dict(state.function["Configuration"])
    current["Environment"] = {"Variables": current.get("Environment", {}).get("Variables", {})}
    return [key for key, value in _desired_function(aws, package).items() if current.get(key) != value]


def _tag_list(names):
    return [{"Key": policies.STACK_TAG, "Value": names.name}]


def _create_function(aws, package, tags):
    n = aws.names
    desired = _desired_function(aws, package)
    desired.pop("CodeSha256")
    deadline = time.monotonic() + ROLE_PROPAGATION_SECONDS
    while True:
        try:
            aws.lam.create_function(FunctionName=n.function, Code={"ZipFile": package}, Tags=tags, **desired)
            break
        except aws.ClientError as e:
            if _code(e) != "InvalidParameterValueException" or "assume" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(3)
    aws.lam.get_waiter("function_active_v2").wait(FunctionName=n.function)


def _update_function(aws, package, differences):
    n = aws.names
    waiter = aws.lam.get_waiter("function_updated_v2")
    if "CodeSha256" in differences:
        aws.lam.update_function_code(FunctionName=n.function, ZipFile=package)
        waiter.wait(FunctionName=n.function)
    settings = _desired_function(aws, package)
    settings.pop("CodeSha256")
    if set(differences) - {"CodeSha256"}:
        aws.lam.update_function_configuration(FunctionName=n.function, **settings)
        waiter.wait(FunctionName=n.function)


def _new_key(aws, plan, config_path, why, access, api_url=None):
    n = aws.names

    def create():
        key = aws.iam.create_access_key(UserName=n.user)["AccessKey"]
        try:
            problem = write_config(config_path, device_settings(n, access, key["AccessKeyId"],
                                                                key["SecretAccessKey"], api_url))
        except OSError as e:  # the secret would be lost: the key goes again
            aws.iam.delete_access_key(UserName=n.user, AccessKeyId=key["AccessKeyId"])
            raise CloudError("could not write %s (%s), so the new key %s was deleted again: fix that and run "
                             "the command again" % (config_path, e.strerror or e, key["AccessKeyId"])) from None
        plan.out.write("    key %s written to %s (mode 600)\n" % (key["AccessKeyId"], config_path))
        if problem:
            plan.note("config.py does not validate yet: %s" % problem)
        return key["AccessKeyId"]

    return plan.change("create an access key for %s and write it to %s (%s)" % (n.user, config_path, why), create)


def deploy(aws, args, plan):
    n = aws.names
    _check_subscribers(args.email, args.sms, n.region)
    state = State(aws, args.config)
    state.check_owned(n)
    api_state = cloud_api.ApiState(aws)
    _check_api_owned(api_state, n)
    access = policies.DIRECT_SNS if args.direct_sns else policies.INVOKE
    if args.api:
        access = policies.API_KEY if args.api_key else policies.API
    tags = {policies.STACK_TAG: n.name}

    if state.topic is None:
        plan.change("create SNS topic %s" % n.topic, aws.sns.create_topic, Name=n.topic, Tags=_tag_list(n))
    current = {(s["Protocol"], s["Endpoint"]): s for s in state.subscriptions or ()}
    for protocol, endpoint in [("email", a) for a in args.email] + [("sms", p) for p in args.sms]:
        if (protocol, endpoint) not in current:
            confirm = " (AWS e-mails a link to confirm it)" if protocol == "email" else ""
            plan.change("subscribe %s %s to the topic%s" % (protocol, endpoint, confirm), aws.sns.subscribe,
                        TopicArn=n.topic_arn, Protocol=protocol, Endpoint=endpoint)

    if state.log_group is None:
        plan.change("create log group %s (%d days' retention)" % (n.log_group, policies.LOG_RETENTION_DAYS),
                    _create_log_group, aws)
    elif not state.log_group_tags:
        plan.change("tag log group %s (made by Lambda)" % n.log_group, aws.logs.tag_log_group,
                    logGroupName=n.log_group, tags=tags)

    if state.role is None:
        plan.change("create IAM role %s for the function" % n.role, aws.iam.create_role, RoleName=n.role,
                    AssumeRolePolicyDocument=json.dumps(policies.lambda_trust_policy()), Tags=_tag_list(n),
                    Description="mpaws function %s: publish to its topic, write its logs" % n.function)
    elif not policies.same(state.role["AssumeRolePolicyDocument"], policies.lambda_trust_policy()):
        plan.change("reset the trust policy of role %s" % n.role, aws.iam.update_assume_role_policy,
                    RoleName=n.role, PolicyDocument=json.dumps(policies.lambda_trust_policy()))
    wanted = policies.function_policy(n)
    if not policies.same(state.role_policy, wanted):
        plan.change("%s the role's policy: sns:Publish on the topic, its own logs"
                    % ("set" if state.role_policy is None else "correct"), aws.iam.put_role_policy,
                    RoleName=n.role, PolicyName=n.role_policy, PolicyDocument=json.dumps(wanted))

    package = function_zip()
    if state.function is None:
        plan.change("create Lambda function %s (%s, allow-list: the topic)" % (n.function, RUNTIME),
                    _create_function, aws, package, tags)
    else:
        differences = function_differences(aws, state, package)
        if differences:
            plan.change("update Lambda function %s (%s)" % (n.function, ", ".join(differences)), _update_function,
                        aws, package, differences)

    if getattr(args, "cert_auth", False):  # certificate auth: an IoT thing, no IAM user (tools/cloud_cert.py)
        import cloud_cert

        cloud_cert.deploy(aws, args, plan, state, access, sys.modules[__name__])
        return plan
    api_url = api_id = None
    if args.api:  # -- API Gateway (tools/cloud_api.py) --
        api_id, api_key = cloud_api.deploy(aws, args, plan, state=api_state)
        api_url = cloud_api.url(n, api_id or "NEW-API-ID")
        if access == policies.API_KEY:  # no IAM user: the device holds the API key only
            wanted = device_settings(n, access, api_url=api_url, api_key=api_key)
            stale = sorted(k for k, v in wanted.items() if k not in state.config or state.config[k] != v)
            if stale:  # the key's value is written, never printed
                plan.change("write the API's URL and key to %s (%s)" % (args.config, ", ".join(stale)), write_config,
                            args.config, wanted)
            if state.user is not None:
                plan.note("the IAM user %s is not needed with --api-key (the device holds no AWS key); "
                          "`tools/cloud.py destroy` removes it with the rest" % n.user)
            plan.note("the device POSTs to %s/notify with its API key (x-api-key)" % api_url)
            return plan
        plan.note("the device POSTs to %s/notify, signed for execute-api" % api_url)

    if state.user is None:
        plan.change("create IAM user %s for the device" % n.user, aws.iam.create_user, UserName=n.user,
                    Tags=_tag_list(n) + [{"Key": policies.ACCESS_TAG, "Value": access}])
    elif state.user_tags.get(policies.ACCESS_TAG) != access:
        plan.change("mark user %s as %s access" % (n.user, access), aws.iam.tag_user, UserName=n.user,
                    Tags=[{"Key": policies.ACCESS_TAG, "Value": access}])
    wanted = policies.device_policy(n, access, api_id)
    if not policies.same(state.user_policy, wanted):
        grant = {policies.INVOKE: "lambda:InvokeFunction on the function", policies.DIRECT_SNS: "sns:Publish on "
                 "the topic", policies.API: "execute-api:Invoke on the API's POST /notify"}[access]
        plan.change("%s the device's only permission: %s" % ("set" if state.user_policy is None else "change to",
                                                              grant),
                    aws.iam.put_user_policy, UserName=n.user, PolicyName=n.user_policy,
                    PolicyDocument=json.dumps(wanted))

    if not state.keys:
        _new_key(aws, plan, args.config, "the device has none", access, api_url)
    elif state.config_key() is None:
        plan.note("%s has access key(s) %s but %s holds none of them (a secret cannot be read back): run "
                  "`tools/cloud.py rotate-key` to make a new key and write it"
                  % (n.user, ", ".join(k["AccessKeyId"] for k in state.keys), args.config))
    else:
        wanted = device_settings(n, access, api_url=api_url)
        # A key left out counts as stale: CONFIG_AWS_LAMBDA_FUNCTION = None must be written out.
        stale = sorted(k for k, v in wanted.items() if k not in state.config or state.config[k] != v)
        if stale:
            plan.change("update %s (%s)" % (args.config, ", ".join(stale)), write_config, args.config, wanted)

    if args.direct_sns:
        plan.note("with --direct-sns the device key may only publish to the topic: config.py has "
                  "CONFIG_AWS_LAMBDA_FUNCTION = None, so app.notify publishes to the topic itself")
    return plan


def _check_api_owned(api_state, names):
    foreign = ["%s %s" % (kind, name) for kind, name, tags in api_state.resources(names)
               if tags is not None and not State.owns(tags, names)]
    if foreign:
        raise CloudError("not created by mpaws (no tag %s=%s), so left alone: %s. Choose another --name, or "
                         "remove them yourself." % (policies.STACK_TAG, names.name, ", ".join(foreign)))


def _create_log_group(aws):
    n = aws.names
    aws.logs.create_log_group(logGroupName=n.log_group, tags={policies.STACK_TAG: n.name})
    aws.logs.put_retention_policy(logGroupName=n.log_group, retentionInDays=policies.LOG_RETENTION_DAYS)


# -- status ----------------------------------------------------------------------------------------


def status(aws, args, out):
    """Prints what exists and whether it matches; returns the number of problems."""
    n = aws.names
    state = State(aws, args.config)
    api_state = cloud_api.ApiState(aws)
    key_mode = bool(state.config.get("CONFIG_AWS_API_KEY"))  # API Gateway with a key: no IAM user
    problems = []

    def line(what, verdict):
        out.write("  %-44s %s\n" % (what, verdict))
        if verdict != "ok":
            problems.append(what)

    cert_auth = bool(state.config.get("CONFIG_AWS_THING_NAME"))  # certificate auth: a thing, no user
    iam_api = state.config.get("CONFIG_AWS_API_URL") is not None and not key_mode
    for kind, name, tags in state.resources(n) + api_state.resources(n):
        needed = {"IAM user": not key_mode and not cert_auth, "HTTP API": iam_api, "REST API": key_mode,
                  "API key": key_mode, "usage plan": key_mode}.get(kind, True)
        if tags is None and not needed:
            continue
        if tags is None:
            verdict = "missing"
        elif not state.owns(tags, n):
            verdict = "not created by mpaws (no tag %s=%s)" % (policies.STACK_TAG, n.name)
        else:
            verdict = "ok"
        line("%s %s" % (kind, name.rsplit(":", 1)[-1]), verdict)
    for s in state.subscriptions or ():
        pending = s["SubscriptionArn"] == "PendingConfirmation"
        out.write("  %-44s %s\n" % ("subscription %s %s" % (s["Protocol"], s["Endpoint"]),
                                    "waiting for confirmation" if pending else "confirmed"))
    if state.role is not None:
        line("role policy", "ok" if policies.same(state.role_policy, policies.function_policy(n))
             else "differs from cloud/policies.py")
    if state.function is not None:
        differences = function_differences(aws, state, function_zip())
        line("function settings and code", "ok" if not differences else "differs: " + ", ".join(differences))
    cloud_api.status(aws, api_state, line, policies.API_KEY if key_mode else policies.API)
    if cert_auth:
        import cloud_cert

        cloud_cert.status(aws, args, state, line, out)
    elif state.user is not None and not key_mode:
        access = state.user_tags.get(policies.ACCESS_TAG, policies.INVOKE)
        api_id = api_state.http["ApiId"] if api_state.http is not None else None
        line("device policy (%s)" % access, "ok" if policies.same(state.user_policy, policies.device_policy(
            n, access, api_id)) else "differs")
        for key in state.keys:
            used = aws.iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
            out.write("  %-44s %s, %s%s\n" % ("access key " + key["AccessKeyId"], key["Status"].lower(),
                                              "last used %s" % used["LastUsedDate"] if used.get("LastUsedDate")
                                              else "never used",
                                              ", in config.py" if key["AccessKeyId"] == state.config_key() else ""))
        line("config.py key", "ok" if state.config_key() else "%s holds no key of %s" % (args.config, n.user))
    if key_mode:
        line("config.py API key", "ok" if api_state.key is not None and state.config.get("CONFIG_AWS_API_KEY") ==
             api_state.key.get("value") else "not the key of %s" % n.user)
    return problems


# -- rotate-key ------------------------------------------------------------------------------------


def _used(aws, key_id):
    return bool(aws.iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"].get("LastUsedDate"))


def rotate_key(aws, args, plan):
    """Starts a rotation (a new key into config.py; the old key stays for the device that still
    uses it) or finishes one (deletes the old key once the new one has been used; --force: now)."""
    n = aws.names
    state = State(aws, args.config)
    state.check_owned(n)
    import cloud_cert  # certificate auth: config.py names the thing, or there is a thing and no user (the template)

    if state.config.get("CONFIG_AWS_THING_NAME") or (state.user is None and cloud_cert.has_thing(aws)):
        return cloud_cert.rotate(aws, args, plan, state, sys.modules[__name__])
    if state.user is None:
        raise CloudError("no IAM user %s: run `tools/cloud.py deploy` first" % n.user)
    current = state.config_key()
    old = [k["AccessKeyId"] for k in state.keys if k["AccessKeyId"] != current]
    if current is not None and old:
        # Under way: config.py already holds the new key.
        if not args.force and not _used(aws, current):
            plan.note("the new key %s has not been used yet: provision the device (`make provision`), let it notify "
                      "once, and run rotate-key again (or add --force to delete the old key now)" % current)
            return plan
    else:
        old = [k["AccessKeyId"] for k in state.keys]
        if len(old) >= 2:  # IAM's limit: no room for a new key
            if not args.force:
                raise CloudError("%s already has two access keys and %s holds neither: run `tools/cloud.py "
                                 "rotate-key --force` to delete both and make a new one" % (n.user, args.config))
            for key in old:
                plan.change("delete access key %s" % key, aws.iam.delete_access_key, UserName=n.user, AccessKeyId=key)
            old = []
        _new_key(aws, plan, args.config, "rotation", state.user_tags.get(policies.ACCESS_TAG, policies.INVOKE))
        if old and not args.force:
            plan.note("the old key %s stays active until the device has used the new one: run `make provision`, "
                      "then `tools/cloud.py rotate-key` again to delete it" % ", ".join(old))
            return plan
    for key in old:
        plan.change("delete the old access key %s" % key, aws.iam.delete_access_key, UserName=n.user,
                    AccessKeyId=key)
    return plan


# -- destroy ---------------------------------------------------------------------------------------


def destroy(aws, args, plan):
    n = aws.names
    state = State(aws, args.config)
    state.check_owned(n)
    import cloud_cert  # certificate auth's thing, certificates, IoT policy, role alias and role

    cloud_cert.destroy(aws, args, plan, state)
    if state.user is not None:
        for key in state.keys:
            plan.change("delete access key %s" % key["AccessKeyId"], aws.iam.delete_access_key, UserName=n.user,
                        AccessKeyId=key["AccessKeyId"])
        if state.user_policy is not None:
            plan.change("delete the device's policy", aws.iam.delete_user_policy, UserName=n.user,
                        PolicyName=n.user_policy)
        plan.change("delete IAM user %s" % n.user, aws.iam.delete_user, UserName=n.user)
    api_state = cloud_api.ApiState(aws)
    _check_api_owned(api_state, n)
    cloud_api.destroy(aws, plan, api_state)
    if state.function is not None:
        plan.change("delete Lambda function %s" % n.function, aws.lam.delete_function, FunctionName=n.function)
    if state.log_group is not None:
        plan.change("delete log group %s" % n.log_group, aws.logs.delete_log_group, logGroupName=n.log_group)
    if state.role is not None:
        if state.role_policy is not None:
            plan.change("delete the role's policy", aws.iam.delete_role_policy, RoleName=n.role,
                        PolicyName=n.role_policy)
        plan.change("delete IAM role %s" % n.role, aws.iam.delete_role, RoleName=n.role)
    if state.topic is not None:
        # Deleting a topic deletes its subscriptions.
        plan.change("delete SNS topic %s and its %d subscription(s)" % (n.topic, len(state.subscriptions)),
                    aws.sns.delete_topic, TopicArn=n.topic_arn)
    if state.config_key() is not None:
        plan.note("%s still holds the deleted key %s" % (args.config, state.config_key()))
    return plan


# -- command line ------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="cloud.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    config_help = {
        "deploy": "the device's config.py to write the key and AWS settings into (other settings are kept)",
        "status": "the device's config.py to look for the device's key in (only read)",
        "rotate-key": "the device's config.py to write the new key into (other settings are kept)",
        "destroy": "the device's config.py, only read to tell whether it still holds a deleted key",
    }
    for command, text in (("deploy", "create or update everything (idempotent)"),
                          ("status", "show what exists and whether it matches"),
                          ("rotate-key", "new device key into config.py; old key deleted once the new one is used"),
                          ("destroy", "delete everything deploy created")):
        sub = commands.add_parser(command, help=text, description=text)
        sub.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
        sub.add_argument("--name", default="mpaws", help="name of the deployment (default: mpaws)")
        sub.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH",
                         help="%s (default: firmware/config.py of this repository)" % config_help[command])
        if command != "status":
            sub.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        if command == "deploy":
            sub.add_argument("--email", action="append", default=[], metavar="ADDR", help="e-mail subscriber")
            sub.add_argument("--sms", action="append", default=[], metavar="+NUMBER", help="SMS subscriber (E.164)")
            sub.add_argument("--direct-sns", action="store_true",
                             help="the device key may publish to the topic directly instead of invoking the function")
            sub.add_argument("--cert-auth", action="store_true",
                             help="no key on the device: an AWS IoT thing and certificate (written next to config.py) "
                                  "for temporary credentials of a role that may do what the key would")
            sub.add_argument("--api", action="store_true",
                             help="API Gateway in front of the function: an HTTP API whose POST /notify the device "
                                  "key may invoke (IAM), nothing else")
            sub.add_argument("--api-key", action="store_true",
                             help="with --api: a REST API with an API key and a usage plan instead; the device "
                                  "holds no AWS key")
        if command == "rotate-key":
            sub.add_argument("--force", action="store_true", help="delete the old key without waiting for the new "
                                                                   "one to be used")
    args = parser.parse_args(argv)
    if getattr(args, "api_key", False) and not args.api:
        parser.error("--api-key goes with --api")
    if getattr(args, "api", False) and args.direct_sns:
        parser.error("--api and --direct-sns exclude each other")
    if getattr(args, "cert_auth", False) and getattr(args, "api", False):
        parser.error("--cert-auth and --api exclude each other (the API key or the IAM key pair is the API's "
                     "credential)")
    if not 1 <= len(args.name) <= 50 or not all(c.isalnum() or c in "-_" for c in args.name):
        parser.error("--name: 1 to 50 letters, digits, '-' or '_'")
    return args


def main(argv=None, session=None, out=sys.stdout):
    args = parse_args(argv)
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        print("error: cloud.py needs boto3: run `make setup` and use .venv/bin/python", file=sys.stderr)
        return 2
    try:
        check_config_path(args.config, writing=args.command in ("deploy", "rotate-key"))
        aws = Account(session or boto3.session.Session(), args.region, args.name)
        n = aws.names
        out.write("%s %r in %s, account %s%s\n" % (args.command, n.name, n.region, n.account,
                                                   " (dry run: nothing is changed)" if getattr(args, "dry_run", False)
                                                   else ""))
        if args.command == "status":
            problems = status(aws, args, out)
            out.write("everything matches\n" if not problems else "%d problem(s): run deploy to fix\n" % len(problems))
            return 0 if not problems else 1
        plan = Plan(args.dry_run, out)
        {"deploy": deploy, "rotate-key": rotate_key, "destroy": destroy}[args.command](aws, args, plan)
        if plan.count == 0:
            out.write("  no changes\n")
        return 0
    except KeyboardInterrupt:
        print("interrupted%s" % ("" if args.command == "status" else ": what was done so far stays; run the same "
                                 "command again to finish it (it only does what is still missing)"), file=sys.stderr)
        return 130
    except CloudError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except botocore.exceptions.NoCredentialsError:
        print("error: no AWS credentials: run `aws configure` or set AWS_PROFILE", file=sys.stderr)
        return 1
    except botocore.exceptions.ConnectionError as e:
        print("error: %s: check the network connection" % e, file=sys.stderr)
        return 1
    except botocore.exceptions.BotoCoreError as e:  # e.g. no endpoint: a misspelt region, no network
        print("error: %s" % e, file=sys.stderr)
        return 1
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        print("error: AWS refused %s: %s: %s" % (e.operation_name, error.get("Code"), error.get("Message")),
              file=sys.stderr)
        return 1
    except OSError as e:  # e.g. config.py's folder made read-only meanwhile
        print("error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
