"""cloud/policies.py (the IAM documents, made in one place) and cloud/template.yaml, which must
grant exactly what tools/cloud.py grants: the template is linted with cfn-lint and deployed in
moto's CloudFormation, and the policies IAM then holds are compared with those of a
`cloud.py deploy` of the same name."""
import ast
import io
import os
import sys

import boto3
import pytest

from test_cloud_deploy import aws  # noqa: F401  (fixture: an empty moto account)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(REPO, "tools"), os.path.join(REPO, "cloud")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import cloud  # noqa: E402  (tools/cloud.py)
import policies  # noqa: E402  (cloud/policies.py)

TEMPLATE = os.path.join(REPO, "cloud", "template.yaml")
REGIONS = ["eu-west-1", "ap-southeast-1", "cn-north-1", "us-gov-west-1"]


# -- the documents ---------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("access, action, service", [(policies.INVOKE, "lambda:InvokeFunction", "lambda"),
                                                     (policies.DIRECT_SNS, "sns:Publish", "sns")])
def test_device_policy_allows_exactly_one_action_on_exactly_one_resource(region, access, action, service):
    names = policies.Names("bell", region, "210987654321")
    document = policies.device_policy(names, access)
    assert document["Version"] == "2012-10-17"
    [statement] = document["Statement"]
    assert set(statement) == {"Effect", "Action", "Resource"}  # no NotAction, NotResource, Condition
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == [action]
    resource = statement["Resource"]
    assert isinstance(resource, str) and "*" not in resource and "?" not in resource
    partition = {"cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}.get(region, "aws")
    expected = ("arn:%s:lambda:%s:210987654321:function:bell" if service == "lambda" else
                "arn:%s:sns:%s:210987654321:bell") % (partition, region)
    assert resource == expected


def test_device_policy_refuses_an_unknown_access_mode():
    with pytest.raises(ValueError, match="invoke"):
        policies.device_policy(policies.Names("bell", "eu-west-1", "210987654321"), "admin")


def test_function_policy_publishes_to_its_topic_and_writes_its_own_logs_only():
    names = policies.Names("bell", "eu-west-1", "210987654321")
    granted = {(action, s["Resource"]) for s in policies.function_policy(names)["Statement"]
               for action in s["Action"]}
    assert all(s["Effect"] == "Allow" and set(s) == {"Effect", "Action", "Resource"}
               for s in policies.function_policy(names)["Statement"])
    log_group = "arn:aws:logs:eu-west-1:210987654321:log-group:/aws/lambda/bell"
    assert granted == {("sns:Publish", "arn:aws:sns:eu-west-1:210987654321:bell"),
                       ("logs:CreateLogGroup", log_group),
                       ("logs:CreateLogStream", log_group + ":*"),
                       ("logs:PutLogEvents", log_group + ":*")}


def test_only_lambda_may_assume_the_function_role():
    [statement] = policies.lambda_trust_policy()["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                         "Action": "sts:AssumeRole"}


def test_canonical_form():
    one = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "a"}]}
    listed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sns:Publish"],
                                                      "Resource": ["a"]}]}
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "b"}]}
    assert policies.canonical(one) == policies.canonical(listed)
    assert policies.canonical(one) != policies.canonical(other)


# -- the template ----------------------------------------------------------------------------------


def test_template_passes_cfn_lint():
    import cfnlint.api

    with open(TEMPLATE) as f:
        problems = cfnlint.api.lint(f.read())
    assert [str(p) for p in problems] == []


def test_template_tags_and_names_like_cloud_py():
    from cfnlint.decode import decode_str

    with open(TEMPLATE) as f:
        template, problems = decode_str(f.read())
    assert problems == []
    resources = template["Resources"]
    stack_tag = {"Key": policies.STACK_TAG, "Value": {"Ref": "Name"}}
    for name in ("Topic", "LogGroup", "FunctionRole", "Function", "DeviceUser"):
        assert stack_tag in resources[name]["Properties"]["Tags"], name
    assert {"Key": policies.ACCESS_TAG, "Value": {"Ref": "DeviceAccess"}} in resources["DeviceUser"]["Properties"][
        "Tags"]
    assert template["Parameters"]["DeviceAccess"]["AllowedValues"] == [policies.INVOKE, policies.DIRECT_SNS,
                                                                       policies.API, policies.API_KEY]
    function = resources["Function"]["Properties"]
    assert (function["Runtime"], function["Handler"], function["Timeout"], function["MemorySize"]) == (
        cloud.RUNTIME, cloud.HANDLER, cloud.TIMEOUT_SECONDS, cloud.MEMORY_MB)
    assert resources["LogGroup"]["Properties"]["RetentionInDays"] == policies.LOG_RETENTION_DAYS
    assert not any(r["Type"] == "AWS::IAM::AccessKey" for r in resources.values())


REGION = "eu-west-1"
NAME = "porch"


def _with_inline_code(template_text):
    """What `aws cloudformation package` does for moto: the function's code, inline."""
    with open(cloud.FUNCTION_SOURCE) as f:
        source = f.read()
    line = "      Code: lambda_function.py\n"
    assert template_text.count(line) == 1
    inline = "      Code:\n        ZipFile: |\n" + "".join("          " + s + "\n" for s in source.splitlines())
    return template_text.replace(line, inline)


def _document(policy):
    # moto's CloudFormation stores a role's inline policy as Python's repr of the dict, not
    # as JSON, so boto3 cannot decode it and hands over the text.
    document = policy["PolicyDocument"]
    return policies.canonical(ast.literal_eval(document) if isinstance(document, str) else document)


def _deployed_iam():
    """The IAM documents the deployment named NAME holds, in canonical form."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.get_role(RoleName=NAME + "-function")["Role"]
    return {
        "trust": policies.canonical(role["AssumeRolePolicyDocument"]),
        "role": [_document(iam.get_role_policy(RoleName=NAME + "-function", PolicyName=p))
                 for p in iam.list_role_policies(RoleName=NAME + "-function")["PolicyNames"]],
        "device": [_document(iam.get_user_policy(UserName=NAME + "-device", PolicyName=p))
                   for p in iam.list_user_policies(UserName=NAME + "-device")["PolicyNames"]],
        "device_managed": iam.list_attached_user_policies(UserName=NAME + "-device")["AttachedPolicies"],
        "role_managed": iam.list_attached_role_policies(RoleName=NAME + "-function")["AttachedPolicies"],
    }


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto has no AWS::SNS::Subscription
@pytest.mark.parametrize("access", [policies.INVOKE, policies.DIRECT_SNS])
def test_template_grants_what_cloud_py_grants(aws, tmp_path, access):
    arguments = ["--region", REGION, "--name", NAME, "--config", str(tmp_path / "config.py")]
    deploy = ["deploy"] + arguments + (["--direct-sns"] if access == policies.DIRECT_SNS else [])
    assert cloud.main(deploy, out=io.StringIO()) == 0
    from_tool = _deployed_iam()
    assert cloud.main(["destroy"] + arguments, out=io.StringIO()) == 0

    with open(TEMPLATE) as f:
        template = _with_inline_code(f.read())
    formation = boto3.client("cloudformation", region_name=REGION)
    formation.create_stack(StackName="mpaws-" + NAME, TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                           Parameters=[{"ParameterKey": "Name", "ParameterValue": NAME},
                                       {"ParameterKey": "DeviceAccess", "ParameterValue": access},
                                       {"ParameterKey": "NotificationEmail", "ParameterValue": "me@example.com"}])
    assert formation.describe_stacks(StackName="mpaws-" + NAME)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    from_template = _deployed_iam()

    assert from_template == from_tool
    names = policies.Names(NAME, REGION, "123456789012")
    assert from_tool["device"] == [policies.canonical(policies.device_policy(names, access))]
    assert from_tool["role"] == [policies.canonical(policies.function_policy(names))]
    assert from_tool["device_managed"] == [] and from_tool["role_managed"] == []

    configuration = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=NAME)
    wanted = cloud._desired_function(cloud.Account(boto3.session.Session(), REGION, NAME), b"")
    for key in ("Runtime", "Handler", "Role", "Timeout", "MemorySize", "Environment"):
        assert configuration[key] == wanted[key], key


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_template_cert_auth_grants_what_cloud_py_grants(aws, tmp_path):
    """DeviceAuth=cert: no device user; the device role (trusted by the credentials provider
    only) has the same documents as `cloud.py deploy --cert-auth` makes."""
    arguments = ["--region", REGION, "--name", NAME, "--config", str(tmp_path / "config.py")]
    assert cloud.main(["deploy", "--cert-auth"] + arguments, out=io.StringIO()) == 0
    iam = boto3.client("iam", region_name=REGION)

    def device_role():
        role = iam.get_role(RoleName=NAME + "-device")["Role"]
        return (policies.canonical(role["AssumeRolePolicyDocument"]),
                [_document(iam.get_role_policy(RoleName=NAME + "-device", PolicyName=p))
                 for p in iam.list_role_policies(RoleName=NAME + "-device")["PolicyNames"]])

    from_tool = device_role()
    assert cloud.main(["destroy"] + arguments, out=io.StringIO()) == 0
    with open(TEMPLATE) as f:
        template = _with_inline_code(f.read())
    formation = boto3.client("cloudformation", region_name=REGION)
    formation.create_stack(StackName="mpaws-" + NAME, TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                           Parameters=[{"ParameterKey": "Name", "ParameterValue": NAME},
                                       {"ParameterKey": "DeviceAuth", "ParameterValue": "cert"}])
    assert formation.describe_stacks(StackName="mpaws-" + NAME)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert device_role() == from_tool
    names = policies.Names(NAME, REGION, "123456789012")
    assert from_tool == (policies.canonical(policies.credentials_provider_trust_policy()),
                         [policies.canonical(policies.device_policy(names))])
    assert iam.list_users()["Users"] == []
