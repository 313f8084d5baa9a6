"""The names, ARNs and IAM policy documents of an mpaws deployment, made in one place.

tools/cloud.py deploys with these; cloud/template.yaml writes the same policies with
CloudFormation's intrinsic functions, and a test checks that both give identical
documents. Every policy grants the least that works:
- the function's role: sns:Publish on the one topic, and writing its own log group;
- the device user: lambda:InvokeFunction on the one function (or, with direct SNS,
  sns:Publish on the one topic), nothing else.
"""

VERSION = "2012-10-17"
STACK_TAG = "mpaws:stack"  # value: the deployment's name; marks what mpaws created
ACCESS_TAG = "mpaws:device-access"  # on the device user: "invoke" or "sns"
INVOKE, DIRECT_SNS = "invoke", "sns"
# API Gateway (tools/cloud_api.py): API, the device signs for execute-api (IAM); API_KEY, it
# holds an API key and no AWS key at all.
API, API_KEY = "api", "api-key"
LOG_RETENTION_DAYS = 30


def partition(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Names:
    """What a deployment called `name` in `region` of `account` consists of. partition_name:
    the region's partition as botocore's endpoint data names it (default: from the region's
    prefix)."""

    def __init__(self, name, region, account, partition_name=None):
        self.name = name
        self.region = region
        self.account = account
        self.partition = partition_name or partition(region)
        self.topic = name
        self.function = name
        self.role = name + "-function"
        self.role_policy = "publish-and-log"
        self.user = name + "-device"
        self.user_policy = "device"
        self.log_group = "/aws/lambda/" + name

    # -- certificate auth (tools/cloud.py deploy --cert-auth): the device is an AWS IoT thing
    # with a certificate, and its role (reached through the role alias) may do what the
    # device user's key may do otherwise.
    @property
    def thing(self):
        return self.name + "-device"

    @property
    def device_role(self):
        return self.name + "-device"

    @property
    def role_alias(self):
        return self.name + "-device"

    @property
    def iot_policy(self):
        return self.name + "-device-credentials"

    @property
    def device_role_arn(self):
        return self._arn("iam", "role/" + self.device_role, region=False)

    @property
    def role_alias_arn(self):
        return self._arn("iot", "rolealias/" + self.role_alias)
    # -- end certificate auth

    def _arn(self, service, resource, region=True):
        return "arn:%s:%s:%s:%s:%s" % (self.partition, service, self.region if region else "", self.account,
                                       resource)

    @property
    def topic_arn(self):
        return self._arn("sns", self.topic)

    @property
    def function_arn(self):
        return self._arn("lambda", "function:" + self.function)

    @property
    def role_arn(self):
        return self._arn("iam", "role/" + self.role, region=False)

    @property
    def log_group_arn(self):
        return self._arn("logs", "log-group:" + self.log_group)


def _document(*statements):
    return {"Version": VERSION, "Statement": list(statements)}


def _allow(actions, resource):
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


def lambda_trust_policy():
    """Who may assume the function's role: the Lambda service only."""
    return _document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                      "Action": "sts:AssumeRole"})


def function_policy(names):
    """The function's permissions: publish to its topic, write its own logs."""
    return _document(
        _allow(["sns:Publish"], names.topic_arn),
        _allow(["logs:CreateLogGroup"], names.log_group_arn),
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], names.log_group_arn + ":*"),
    )


def api_route_arn(names, api_id, stage="prod", method="POST", route="/notify"):
    """The execute-api ARN of one route of one stage of an API."""
    return "arn:%s:execute-api:%s:%s:%s/%s/%s%s" % (names.partition, names.region, names.account, api_id, stage,
                                                    method, route)


def device_policy(names, access=INVOKE, api_id=None):
    """The device's only permission: invoke the function, or (access=DIRECT_SNS) publish to the
    topic, or (access=API) execute-api:Invoke on the API's POST /notify of stage prod."""
    if access == API:
        return _document(_allow(["execute-api:Invoke"], api_route_arn(names, api_id or "<new API id>")))
    if access == INVOKE:
        return _document(_allow(["lambda:InvokeFunction"], names.function_arn))
    if access == DIRECT_SNS:
        return _document(_allow(["sns:Publish"], names.topic_arn))
    raise ValueError("device access must be %r or %r, not %r" % (INVOKE, DIRECT_SNS, access))


def canonical(document):
    """A policy document in one canonical form, so that equal permissions compare equal:
    an Action or Resource given as one string becomes a one-element list, lists are sorted."""
    def walk(value, key=None):
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, str) and key in ("Action", "NotAction", "Resource", "NotResource"):
            value = [value]
        if isinstance(value, list):
            return sorted((walk(v) for v in value), key=repr)
        return value

    return walk(document)


def same(document, wanted):
    """Whether a policy document as read back (None: there is none) grants what `wanted` does."""
    return document is not None and canonical(document) == canonical(wanted)


# -- certificate auth ------------------------------------------------------------------------


def credentials_provider_trust_policy():
    """Who may assume the device role: the AWS IoT credentials provider only."""
    return _document({"Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"},
                      "Action": "sts:AssumeRole"})


def iot_credentials_policy(names):
    """The device certificate's only permission (an AWS IoT policy): temporary credentials
    for the one role alias."""
    return _document(_allow(["iot:AssumeRoleWithCertificate"], names.role_alias_arn))
