"""tools/cloud.py against moto (mock_aws): deploy, status, rotate-key, destroy, dry runs,
foreign resources, and what the device key it writes may and may not do with moto's IAM
enforcement on. What deploy made is read back with plain boto3 calls, not with cloud.py's
own survey."""
import base64
import hashlib
import importlib.util
import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from unittest import mock
from urllib.parse import unquote

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(REPO, "tools"), os.path.join(REPO, "cloud")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import cloud  # noqa: E402  (tools/cloud.py)
import policies  # noqa: E402  (cloud/policies.py)

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
NAME = "doorbell"
TOPIC_ARN = "arn:aws:sns:%s:%s:%s" % (REGION, ACCOUNT, NAME)
FUNCTION_ARN = "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, NAME)
READ_ONLY = ("Get", "List", "Describe")


class Cloud:
    """Runs cloud.py in one moto account, recording every AWS operation it calls."""

    def __init__(self, config_path):
        self.config_path = str(config_path)
        self.calls = []
        self.session = boto3.session.Session()
        self.session.events.register("before-call", self._record)

    def _record(self, event_name, **kwargs):
        self.calls.append(event_name.split(".")[-1])

    def run(self, command, *options):
        """(exit status, stdout, stderr) of `cloud.py COMMAND --region R --name N --config C OPTIONS`."""
        self.calls = []
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.object(sys, "stderr", err):
            status = cloud.main([command, "--region", REGION, "--name", NAME, "--config", self.config_path]
                                + list(options), session=self.session, out=out)
        return status, out.getvalue(), err.getvalue()

    def writes(self):
        return [c for c in self.calls if not c.startswith(READ_ONLY)]

    def config(self):
        """config.py as the device imports it (executed by Python, not parsed by cloud.py)."""
        spec = importlib.util.spec_from_file_location("deployed_config", self.config_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@pytest.fixture
def aws(monkeypatch):
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def tool(aws, tmp_path):
    return Cloud(tmp_path / "config.py")


def client(service, **kwargs):
    return boto3.client(service, region_name=REGION, **kwargs)


def user_policy():
    return client("iam").get_user_policy(UserName=NAME + "-device", PolicyName="device")["PolicyDocument"]


def keys():
    return [k["AccessKeyId"] for k in client("iam").list_access_keys(UserName=NAME + "-device")["AccessKeyMetadata"]]


def nothing_exists():
    iam, lam = client("iam"), client("lambda")
    assert client("sns").list_topics()["Topics"] == []
    assert lam.list_functions()["Functions"] == []
    assert iam.list_users()["Users"] == [] and iam.list_roles()["Roles"] == []
    assert client("logs").describe_log_groups()["logGroups"] == []


# -- deploy ----------------------------------------------------------------------------------------


def test_deploy_from_empty_creates_everything_least_privilege(tool):
    status, out, err = tool.run("deploy", "--email", "me@example.com", "--sms", "+14155550100")
    assert status == 0, err

    sns = client("sns")
    assert sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["TopicArn"] == TOPIC_ARN
    assert {"Key": "mpaws:stack", "Value": NAME} in sns.list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [
        ("email", "me@example.com"), ("sms", "+14155550100")]

    iam = client("iam")
    role = iam.get_role(RoleName=NAME + "-function")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    role_policy = iam.get_role_policy(RoleName=NAME + "-function", PolicyName="publish-and-log")["PolicyDocument"]
    granted = {(a, s["Resource"]) for s in role_policy["Statement"] for a in s["Action"]}
    log_group = "arn:aws:logs:%s:%s:log-group:/aws/lambda/%s" % (REGION, ACCOUNT, NAME)
    assert granted == {("sns:Publish", TOPIC_ARN), ("logs:CreateLogGroup", log_group),
                       ("logs:CreateLogStream", log_group + ":*"), ("logs:PutLogEvents", log_group + ":*")}

    function = client("lambda").get_function(FunctionName=NAME)
    configuration = function["Configuration"]
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Handler"] == "lambda_function.lambda_handler"
    assert configuration["Role"] == role["Arn"]
    assert configuration["Environment"]["Variables"] == {"ALLOWED_TOPIC_ARNS": TOPIC_ARN}
    assert function["Tags"]["mpaws:stack"] == NAME
    package = cloud.function_zip()
    with zipfile.ZipFile(io.BytesIO(package)) as z, open(os.path.join(REPO, "cloud", "lambda_function.py"), "rb") as f:
        assert z.namelist() == ["lambda_function.py"] and z.read("lambda_function.py") == f.read()
    assert configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    logs = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/" + NAME)["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in logs] == [("/aws/lambda/" + NAME, 30)]

    assert user_policy() == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": FUNCTION_ARN}]}
    assert iam.list_attached_user_policies(UserName=NAME + "-device")["AttachedPolicies"] == []
    assert iam.list_groups_for_user(UserName=NAME + "-device")["Groups"] == []
    [key] = keys()

    config = tool.config()
    assert config.CONFIG_AWS_ACCESS_KEY == key
    assert (config.CONFIG_AWS_REGION, config.CONFIG_AWS_LAMBDA_FUNCTION, config.CONFIG_AWS_SNS_TOPIC_ARN) == (
        REGION, NAME, TOPIC_ARN)
    assert stat.S_IMODE(os.stat(tool.config_path).st_mode) == 0o600
    assert config.CONFIG_AWS_SECRET_KEY not in out + err
    assert key in out


def test_written_config_validates_with_the_firmware_loader(tool):
    from mpaws import settings

    assert tool.run("deploy")[0] == 0
    loaded = settings.load(tool.config())
    assert (loaded.access_key, loaded.region, loaded.function, loaded.topic_arn) == (keys()[0], REGION, NAME,
                                                                                     TOPIC_ARN)
    assert (loaded.host, loaded.port, loaded.verify_tls, loaded.ca) == ("lambda.%s.amazonaws.com" % REGION, 443,
                                                                        True, None)
    assert loaded.secret_key == tool.config().CONFIG_AWS_SECRET_KEY


def test_deploy_keeps_the_users_other_settings(tool):
    with open(cloud.CONFIG_TEMPLATE) as f:
        text = f.read().replace('"your-wifi"', '"home-net"')
    with open(tool.config_path, "w") as f:
        f.write(text)
    os.chmod(tool.config_path, 0o644)
    assert tool.run("deploy")[0] == 0
    assert tool.config().CONFIG_WIFI_SSID == "home-net"
    assert stat.S_IMODE(os.stat(tool.config_path).st_mode) == 0o600


def test_second_deploy_changes_nothing(tool):
    options = ("--email", "me@example.com", "--sms", "+14155550100")
    assert tool.run("deploy", *options)[0] == 0
    with open(tool.config_path, "rb") as f:
        config_before = f.read()
    status, out, _ = tool.run("deploy", *options)
    assert status == 0
    assert tool.writes() == []
    assert "no changes" in out
    with open(tool.config_path, "rb") as f:
        assert f.read() == config_before
    assert len(keys()) == 1


def test_deploy_updates_what_drifted(tool):
    assert tool.run("deploy")[0] == 0
    lam = client("lambda")
    lam.update_function_configuration(FunctionName=NAME, Timeout=300, Environment={"Variables": {}})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return 'not mpaws'\n")
    lam.update_function_code(FunctionName=NAME, ZipFile=buf.getvalue())
    client("iam").put_user_policy(UserName=NAME + "-device", PolicyName="device", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    status, out, _ = tool.run("deploy")
    assert status == 0
    assert set(tool.writes()) == {"UpdateFunctionCode", "UpdateFunctionConfiguration", "PutUserPolicy"}
    configuration = lam.get_function_configuration(FunctionName=NAME)
    assert configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(cloud.function_zip()).digest()).decode()
    assert configuration["Timeout"] == cloud.TIMEOUT_SECONDS
    assert configuration["Environment"]["Variables"] == {"ALLOWED_TOPIC_ARNS": TOPIC_ARN}
    assert user_policy()["Statement"] == [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                                           "Resource": FUNCTION_ARN}]


def test_dry_run_from_empty_prints_the_plan_and_writes_nothing(tool):
    status, out, _ = tool.run("deploy", "--dry-run", "--email", "me@example.com")
    assert status == 0
    assert tool.calls and tool.writes() == []
    for planned in ("would create SNS topic", "would subscribe email me@example.com", "would create IAM role",
                    "would create Lambda function", "would create IAM user", "would create an access key"):
        assert planned in out
    nothing_exists()
    assert not os.path.exists(tool.config_path)


def test_dry_runs_of_rotate_key_and_destroy_write_nothing(tool):
    assert tool.run("deploy")[0] == 0
    with open(tool.config_path, "rb") as f:
        config_before = f.read()
    for command, planned in (("rotate-key", "would create an access key"), ("destroy", "would delete IAM user")):
        status, out, _ = tool.run(command, "--dry-run")
        assert status == 0 and planned in out
        assert tool.writes() == []
    assert tool.run("status")[0] == 0
    with open(tool.config_path, "rb") as f:
        assert f.read() == config_before


# -- status, rotate-key, destroy -------------------------------------------------------------------


def test_status(tool):
    status, out, _ = tool.run("status")
    assert status == 1 and "missing" in out
    assert tool.run("deploy", "--email", "me@example.com")[0] == 0
    status, out, _ = tool.run("status")
    assert status == 0 and "everything matches" in out
    assert "subscription email me@example.com" in out
    assert tool.writes() == []
    client("lambda").update_function_configuration(FunctionName=NAME, Handler="other.handler")
    status, out, _ = tool.run("status")
    assert status == 1 and "Handler" in out


def test_rotate_key_deletes_the_old_key_only_after_the_new_one_was_used(tool):
    assert tool.run("deploy")[0] == 0
    [old] = keys()

    status, out, err = tool.run("rotate-key")
    assert status == 0
    new = tool.config().CONFIG_AWS_ACCESS_KEY
    assert new != old and sorted(keys()) == sorted([old, new])
    assert tool.config().CONFIG_AWS_SECRET_KEY not in out + err

    status, out, _ = tool.run("rotate-key")  # the new key has not been used: the old one stays
    assert status == 0 and "not been used" in out
    assert sorted(keys()) == sorted([old, new]) and "DeleteAccessKey" not in tool.calls

    device = client("lambda", aws_access_key_id=new, aws_secret_access_key=tool.config().CONFIG_AWS_SECRET_KEY)
    device.invoke(FunctionName=NAME, Payload=b"{}")
    status, out, _ = tool.run("rotate-key")
    assert status == 0 and "delete the old access key %s" % old in out
    assert keys() == [new]
    assert tool.config().CONFIG_AWS_ACCESS_KEY == new


def test_rotate_key_force_replaces_the_key_at_once(tool):
    assert tool.run("deploy")[0] == 0
    [old] = keys()
    assert tool.run("rotate-key", "--force")[0] == 0
    [new] = keys()
    assert new != old and tool.config().CONFIG_AWS_ACCESS_KEY == new


def test_deploy_without_the_key_in_config_says_to_rotate(tool):
    assert tool.run("deploy")[0] == 0
    os.remove(tool.config_path)
    status, out, _ = tool.run("deploy")
    assert status == 0 and "rotate-key" in out
    assert tool.writes() == [] and not os.path.exists(tool.config_path)
    assert tool.run("rotate-key")[0] == 0
    assert tool.config().CONFIG_AWS_ACCESS_KEY in keys()


def test_destroy_removes_everything(tool):
    assert tool.run("deploy", "--email", "me@example.com")[0] == 0
    client("lambda").invoke(FunctionName=NAME, Payload=b"{}")
    status, out, _ = tool.run("destroy")
    assert status == 0
    nothing_exists()
    assert client("sns").list_subscriptions()["Subscriptions"] == []
    status, out, _ = tool.run("destroy")
    assert status == 0 and "no changes" in out


# -- refusals --------------------------------------------------------------------------------------


def test_foreign_topic_of_the_same_name_is_left_alone(tool):
    client("sns").create_topic(Name=NAME)
    status, out, err = tool.run("deploy", "--email", "me@example.com")
    assert status == 1
    assert "SNS topic" in err and "mpaws:stack=%s" % NAME in err
    assert tool.writes() == []
    assert client("sns").list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"] == []
    assert client("sns").list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"] == []
    status, _, err = tool.run("destroy")
    assert status == 1 and "SNS topic" in err
    assert client("sns").get_topic_attributes(TopicArn=TOPIC_ARN)


def test_foreign_user_of_the_same_name_is_left_alone(tool):
    client("iam").create_user(UserName=NAME + "-device", Tags=[{"Key": "mpaws:stack", "Value": "someone-else"}])
    status, _, err = tool.run("deploy")
    assert status == 1 and "IAM user %s-device" % NAME in err
    assert tool.writes() == []
    assert client("iam").list_user_policies(UserName=NAME + "-device")["PolicyNames"] == []


def test_sms_in_a_region_without_sms_is_refused(tool, capsys):
    arguments = ["deploy", "--region", "ap-east-1", "--name", NAME, "--sms", "+85212345678", "--config",
                 tool.config_path]
    assert cloud.main(arguments, session=tool.session, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "SMS" in err and "ap-east-1" in err
    assert tool.writes() == []
    nothing_exists()


@pytest.mark.parametrize("option", [("--sms", "0171 555"), ("--email", "not-an-address")])
def test_bad_subscriber_is_refused(tool, option):
    status, _, err = tool.run("deploy", *option)
    assert status == 1 and option[0] in err
    nothing_exists()


def test_missing_credentials_are_a_clear_error(monkeypatch, tmp_path, capsys):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert cloud.main(["status", "--region", REGION, "--config", str(tmp_path / "c.py")], out=io.StringIO()) == 1
    assert "no AWS credentials" in capsys.readouterr().err


# -- the device key with IAM enforcement on --------------------------------------------------------


def _lambda_resource(response):
    # moto checks every Lambda and SNS action against Resource "*"; the function's or the
    # topic's ARN makes it evaluate the policies' Resource element as AWS does.
    if "/functions/" not in response.path:
        return "*"
    function = unquote(response.path.split("/functions/", 1)[1].split("/", 1)[0])
    if function.startswith("arn:"):
        return ":".join(function.split(":")[:7])
    return "arn:aws:lambda:%s:%s:function:%s" % (response.region, response.current_account, function)


def _sns_resource(response):
    return response._get_param("TopicArn") or "*"


# moto names the permission after the API operation; IAM's name for Invoke's is InvokeFunction.
IAM_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


@pytest.fixture
def enforced():
    """A context manager that turns moto's IAM checks on (signatures and policies, with the
    actions and resource ARNs IAM evaluates)."""
    from moto.awslambda.responses import LambdaResponse
    from moto.core.authorization import enable_iam_authentication
    from moto.iam.access_control import IAMRequest
    from moto.sns.responses import SNSResponse

    check_action_permitted = IAMRequest.check_action_permitted

    def check_iam_action(self, resource):
        self._action = IAM_ACTIONS.get(self._action, self._action)
        return check_action_permitted(self, resource)

    with mock.patch.object(LambdaResponse, "_determine_resource", _lambda_resource, create=True), \
            mock.patch.object(SNSResponse, "_determine_resource", _sns_resource, create=True), \
            mock.patch.object(IAMRequest, "check_action_permitted", check_iam_action):
        yield enable_iam_authentication


def device_clients(tool, *services):
    """boto3 clients signing with the key deploy wrote into config.py."""
    config = tool.config()
    return [client(service, aws_access_key_id=config.CONFIG_AWS_ACCESS_KEY,
                   aws_secret_access_key=config.CONFIG_AWS_SECRET_KEY,
                   config=botocore.config.Config(retries={"total_max_attempts": 1})) for service in services]


def denied(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_device_key_can_invoke_the_function_and_nothing_else(tool, enforced):
    assert tool.run("deploy")[0] == 0
    client("lambda").create_function(
        FunctionName="other", Runtime="python3.12", Role="arn:aws:iam::%s:role/%s-function" % (ACCOUNT, NAME),
        Handler="x.handler", Code={"ZipFile": cloud.function_zip()})
    lam, sns, iam = device_clients(tool, "lambda", "sns", "iam")
    with enforced():
        reply = lam.invoke(FunctionName=NAME, Payload=b'{"subject": "s"}')
        assert reply["StatusCode"] == 200 and json.loads(reply["Payload"].read()) == {"subject": "s"}
        assert lam.invoke(FunctionName=FUNCTION_ARN, Payload=b"{}")["StatusCode"] == 200
        assert denied(sns.publish, TopicArn=TOPIC_ARN, Message="direct")
        assert denied(lam.invoke, FunctionName="other", Payload=b"{}")
        assert denied(lam.get_function, FunctionName=NAME)
        assert denied(iam.list_users)


def test_direct_sns_key_can_publish_to_the_topic_and_nothing_else(tool, enforced):
    assert tool.run("deploy", "--direct-sns")[0] == 0
    other = client("sns").create_topic(Name="other")["TopicArn"]
    lam, sns = device_clients(tool, "lambda", "sns")
    with enforced():
        assert sns.publish(TopicArn=TOPIC_ARN, Message="direct")["MessageId"]
        assert denied(lam.invoke, FunctionName=NAME, Payload=b"{}")
        assert denied(sns.publish, TopicArn=other, Message="elsewhere")


def test_switching_access_mode_replaces_the_device_policy(tool):
    assert tool.run("deploy", "--direct-sns")[0] == 0
    assert user_policy()["Statement"] == [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": TOPIC_ARN}]
    assert tool.config().CONFIG_AWS_LAMBDA_FUNCTION is None
    status, out, _ = tool.run("deploy")
    assert status == 0 and set(tool.writes()) == {"PutUserPolicy", "TagUser"}
    assert user_policy()["Statement"] == [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                                           "Resource": FUNCTION_ARN}]
    assert tool.config().CONFIG_AWS_LAMBDA_FUNCTION == NAME and "CONFIG_AWS_LAMBDA_FUNCTION" in out
    assert tool.run("status")[0] == 0
    status, out, _ = tool.run("deploy", "--direct-sns")  # and back: the same key, the config rewritten
    assert status == 0 and "CONFIG_AWS_LAMBDA_FUNCTION" in out and tool.config().CONFIG_AWS_LAMBDA_FUNCTION is None
    assert tool.config().CONFIG_AWS_ACCESS_KEY == keys()[0] and len(keys()) == 1


def test_direct_sns_config_publishes_to_the_topic(tool):
    """deploy --direct-sns writes CONFIG_AWS_LAMBDA_FUNCTION = None (spelt out): the firmware
    loads it as direct SNS to the region's SNS endpoint; a second run and rotate-key keep it."""
    from mpaws import settings

    status, out, _ = tool.run("deploy", "--direct-sns")
    assert status == 0 and "app.notify publishes to the topic itself" in out
    with open(tool.config_path) as f:
        assert "\nCONFIG_AWS_LAMBDA_FUNCTION = None" in f.read()
    loaded = settings.load(tool.config())
    assert (loaded.function, loaded.topic_arn, loaded.host, loaded.port) == (
        None, TOPIC_ARN, "sns.%s.amazonaws.com" % REGION, 443)
    status, out, _ = tool.run("deploy", "--direct-sns")
    assert status == 0 and tool.writes() == [] and "no changes" in out
    assert tool.run("rotate-key", "--force")[0] == 0
    assert tool.config().CONFIG_AWS_LAMBDA_FUNCTION is None and tool.config().CONFIG_AWS_ACCESS_KEY == keys()[0]


# -- ordinary mistakes: a clear message, no traceback, nothing changed -----------------------------


def run_main(tool, *arguments):
    """(exit status, stderr) of cloud.main(arguments) in tool's moto account."""
    err = io.StringIO()
    with mock.patch.object(sys, "stderr", err):
        status = cloud.main(list(arguments), session=tool.session, out=io.StringIO())
    return status, err.getvalue()


@pytest.mark.parametrize("region, suggested", [("mars-1", None), ("eu-west", "eu-west-1"),
                                               ("us-east-1a", "us-east-1"), ("EU-WEST-1", "eu-west-1")])
def test_unknown_region_is_refused_before_any_call(tool, region, suggested):
    """Checked offline against botocore's endpoint data, with the nearest real names, instead
    of ending in "Could not connect to the endpoint URL"."""
    status, err = run_main(tool, "status", "--region", region, "--config", tool.config_path)
    assert status == 1 and tool.calls == []
    assert err.startswith("error: --region %s is not a region" % region) and "Traceback" not in err
    named = set(re.findall(r"\b[a-z]{2,3}(?:-[a-z]+)+-\d\b", err.split(":", 2)[2]))
    lambda_regions = set(tool.session.get_available_regions("lambda"))
    assert named and named <= lambda_regions  # every name offered is a real region
    if suggested:
        assert "did you mean %s" % suggested in err and len(named) <= 3
    else:
        assert named == lambda_regions & set(tool.session.get_available_regions("sns"))


def test_region_of_another_partition_deploys_with_its_arns(aws, tmp_path):
    """cn-north-1 is in the aws-cn partition: the device policy names the function with
    moto's own ARN for it, and status finds everything matching."""
    tool = Cloud(tmp_path / "config.py")
    status, err = run_main(tool, "deploy", "--region", "cn-north-1", "--config", tool.config_path)
    assert status == 0, err
    iam = boto3.client("iam", region_name="cn-north-1")
    function_arn = boto3.client("lambda", region_name="cn-north-1").get_function(
        FunctionName="mpaws")["Configuration"]["FunctionArn"]
    assert function_arn.startswith("arn:aws-cn:")
    policy = iam.get_user_policy(UserName="mpaws-device", PolicyName="device")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == function_arn
    assert run_main(tool, "status", "--region", "cn-north-1", "--config", tool.config_path)[0] == 0


@pytest.mark.parametrize("command, config, words", [
    ("status", "{dir}", "is a directory"),
    ("destroy", "{bad}", "is not valid Python (line 2"),
    ("deploy", "{dir}/no-such-folder/config.py", "there is no directory"),
    ("rotate-key", "{dir}/no-such-folder/config.py", "there is no directory"),
])
def test_bad_config_path_is_refused_before_any_call(tool, tmp_path, command, config, words):
    bad = tmp_path / "bad.py"
    bad.write_text('CONFIG_AWS_REGION = "eu-west-1"\nCONFIG_WIFI_SSID = "home\n')
    path = config.format(dir=tmp_path, bad=bad)
    status, err = run_main(tool, command, "--region", REGION, "--config", path)
    assert status == 1 and tool.calls == []
    assert err.startswith("error: --config %s" % path) and words in err and "Traceback" not in err


def test_a_key_that_cannot_be_written_is_deleted_again(tool):
    """The secret exists only in the reply of CreateAccessKey: when config.py cannot be
    written (here: the disk is full), the key is deleted, not left unusable."""
    with mock.patch.object(cloud, "write_config", side_effect=OSError(28, "No space left on device")):
        status, out, err = tool.run("deploy")
    assert status == 1 and "No space left on device" in err and "deleted again" in err
    assert "CreateAccessKey" in tool.calls and keys() == []
    assert tool.run("deploy")[0] == 0 and tool.config().CONFIG_AWS_ACCESS_KEY == keys()[0]


def test_ctrl_c_during_deploy_says_how_to_finish(tool):
    def interrupt(event_name, **kwargs):
        raise KeyboardInterrupt

    tool.session.events.register("before-call.lambda.CreateFunction", interrupt)
    status, out, err = tool.run("deploy")
    assert status == 130 and err.startswith("interrupted: ") and "run the same command again" in err
    assert "Traceback" not in err
    tool.session.events.unregister("before-call.lambda.CreateFunction", interrupt)
    assert tool.run("deploy")[0] == 0
    status, out, _ = tool.run("status")
    assert status == 0 and "everything matches" in out


def _cloud_py(*arguments, cwd, blocked=None):
    """tools/cloud.py in a new process run from `cwd`; blocked: a module made unimportable."""
    script = os.path.join(REPO, "tools", "cloud.py")
    if blocked is None:
        command = [sys.executable, script] + list(arguments)
    else:
        command = [sys.executable, "-c", "import runpy, sys; sys.modules[%r] = None; sys.argv = %r; "
                   "runpy.run_path(%r, run_name='__main__')" % (blocked, ["cloud.py"] + list(arguments), script)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_help_of_config_says_what_each_command_does_with_it(tmp_path):
    """Run from another directory than the repository's."""
    helps = {}
    for command in ("deploy", "status", "rotate-key", "destroy"):
        proc = _cloud_py(command, "--help", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        helps[command] = " ".join(proc.stdout.split("\n  --config PATH", 1)[1].split("\n  --", 1)[0].split())
    assert "write the key" in helps["deploy"] and "write the new key" in helps["rotate-key"]
    for command in ("status", "destroy"):
        assert "only read" in helps[command] and "write" not in helps[command]
    assert all("firmware/config.py of this repository" in text for text in helps.values())


def test_without_boto3_it_says_how_to_get_it(tmp_path):
    proc = _cloud_py("status", "--region", REGION, cwd=tmp_path, blocked="boto3")
    assert proc.returncode == 2
    assert proc.stderr == "error: cloud.py needs boto3: run `make setup` and use .venv/bin/python\n"
