"""tools/cloud.py deploy --cert-auth against moto: the IoT thing, certificate, IoT policy,
role alias and device role; no IAM user or key; least privilege (the role's temporary
credentials may invoke the function and nothing else, with moto's IAM checks on);
idempotent; rotate-key; destroy complete. Read back with plain boto3 calls."""
import json
import os
import stat

import pytest

from test_cloud_deploy import (ACCOUNT, NAME, REGION, TOPIC_ARN, Cloud, aws, client, denied, enforced,  # noqa: F401
                               nothing_exists, tool)

THING = NAME + "-device"


@pytest.fixture(autouse=True)
def stable_endpoint(monkeypatch):
    """AWS gives an account one credentials endpoint; moto makes up a new one on every call."""
    from moto.iot.models import IoTBackend

    made = {}
    describe = IoTBackend.describe_endpoint

    def once(self, endpoint_type):
        if endpoint_type not in made:
            made[endpoint_type] = describe(self, endpoint_type)
        return made[endpoint_type]

    monkeypatch.setattr(IoTBackend, "describe_endpoint", once)


def certificates():
    iot = client("iot")
    out = {}
    for arn in iot.list_thing_principals(thingName=THING)["principals"]:
        d = iot.describe_certificate(certificateId=arn.rsplit("/", 1)[-1])["certificateDescription"]
        out[d["certificateId"]] = d
    return out


def local_cert(tool):
    with open(os.path.join(os.path.dirname(tool.config_path), THING + ".cert.pem")) as f:
        return "".join(f.read().split())


def current_id(tool):
    [cid] = [c for c, d in certificates().items() if "".join(d["certificatePem"].split()) == local_cert(tool)]
    return cid


def test_deploy_cert_auth_creates_a_thing_and_no_key(tool):
    status, out, err = tool.run("deploy", "--cert-auth")
    assert status == 0, out + err
    iot, iam = client("iot"), client("iam")
    folder = os.path.dirname(tool.config_path)
    key_path, cert_path = os.path.join(folder, THING + ".key.pem"), os.path.join(folder, THING + ".cert.pem")
    for path in (key_path, cert_path, tool.config_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    with open(key_path) as f:
        key = f.read()
    assert "PRIVATE KEY" in key and key.splitlines()[1] not in out + err
    # the certificate: ACTIVE, attached to the thing and to the one IoT policy
    [(cid, cert)] = certificates().items()
    assert cert["status"] == "ACTIVE" and "".join(cert["certificatePem"].split()) == local_cert(tool)
    [policy] = iot.list_attached_policies(target=cert["certificateArn"])["policies"]
    document = json.loads(iot.get_policy(policyName=policy["policyName"])["policyDocument"])
    alias_arn = "arn:aws:iot:%s:%s:rolealias/%s" % (REGION, ACCOUNT, THING)
    assert document["Statement"] == [{"Effect": "Allow", "Action": ["iot:AssumeRoleWithCertificate"],
                                      "Resource": alias_arn}]
    alias = iot.describe_role_alias(roleAlias=THING)["roleAliasDescription"]
    role = iam.get_role(RoleName=THING)["Role"]
    assert alias["roleArn"] == role["Arn"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "credentials.iot.amazonaws.com"}
    assert iam.get_role_policy(RoleName=THING, PolicyName="device")["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, NAME)}]
    assert iam.list_users()["Users"] == []  # no IAM user, no access key in this mode
    config = tool.config()
    assert config.CONFIG_AWS_ACCESS_KEY is None and config.CONFIG_AWS_SECRET_KEY is None
    assert (config.CONFIG_AWS_THING_NAME, config.CONFIG_AWS_ROLE_ALIAS) == (THING, THING)
    assert config.CONFIG_AWS_CREDENTIALS_ENDPOINT == iot.describe_endpoint(
        endpointType="iot:CredentialProvider")["endpointAddress"]
    assert (config.CONFIG_TLS_CERT, config.CONFIG_TLS_KEY) == (THING + ".cert.pem", THING + ".key.pem")
    assert "does not validate" not in out  # the firmware's loader took it


def test_deploy_cert_auth_twice_changes_nothing(tool):
    assert tool.run("deploy", "--cert-auth")[0] == 0
    status, out, _ = tool.run("deploy", "--cert-auth")
    assert status == 0 and "no changes" in out and tool.writes() == []


def test_role_credentials_may_invoke_the_function_and_nothing_else(tool, enforced):  # noqa: F811
    from moto.sts.models import sts_backends

    assert tool.run("deploy", "--cert-auth")[0] == 0
    role_arn = client("iam").get_role(RoleName=THING)["Role"]["Arn"]
    # what the credentials provider hands the device for the role alias
    creds = sts_backends[ACCOUNT]["aws"].assume_role(region_name=REGION, role_session_name="cert", role_arn=role_arn,
                                                    policy=None, duration=3600, external_id=None)
    keys = dict(aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                aws_session_token=creds.session_token)
    lam, sns, iam = (client(s, **keys) for s in ("lambda", "sns", "iam"))
    with enforced():
        assert lam.invoke(FunctionName=NAME, Payload=b"{}")["StatusCode"] == 200
        assert denied(sns.publish, TopicArn=TOPIC_ARN, Message="direct")
        assert denied(lam.get_function, FunctionName=NAME)
        assert denied(iam.list_users)


def test_rotate_key_retires_the_old_certificate_after_the_new_one_was_used(tool):
    from moto.iam.models import iam_backends
    from moto.core.utils import utcnow

    assert tool.run("deploy", "--cert-auth")[0] == 0
    old = current_id(tool)
    status, out, err = tool.run("rotate-key")
    assert status == 0, out + err
    new = current_id(tool)
    assert new != old and sorted(certificates()) == sorted([old, new])
    assert all(c["status"] == "ACTIVE" for c in certificates().values())
    status, out, _ = tool.run("rotate-key")
    assert status == 0 and "not been used yet" in out and len(certificates()) == 2
    iam_backends[ACCOUNT]["aws"].get_role(THING).last_used = utcnow()  # the device fetched credentials
    status, out, _ = tool.run("rotate-key")
    assert status == 0 and "deactivate certificate %s" % old[:16] in out
    assert list(certificates()) == [new] and current_id(tool) == new


def test_rotate_key_force_replaces_the_certificate_at_once(tool):
    assert tool.run("deploy", "--cert-auth")[0] == 0
    old = current_id(tool)
    assert tool.run("rotate-key", "--force")[0] == 0
    assert list(certificates()) == [current_id(tool)] != [old]


def test_destroy_removes_every_cert_auth_resource(tool):
    assert tool.run("deploy", "--cert-auth")[0] == 0
    assert tool.run("rotate-key")[0] == 0  # two certificates
    status, out, err = tool.run("destroy")
    assert status == 0, out + err
    nothing_exists()
    iot = client("iot")
    assert iot.list_things()["things"] == [] and iot.list_certificates()["certificates"] == []
    assert iot.list_policies()["policies"] == [] and iot.list_role_aliases()["roleAliases"] == []
    status, out, _ = tool.run("destroy")
    assert status == 0 and "no changes" in out


def test_status_of_a_cert_auth_deployment(tool):
    assert tool.run("deploy", "--cert-auth")[0] == 0
    status, out, err = tool.run("status")
    assert status == 0 and "everything matches" in out, out + err
    assert "IoT thing %s" % THING in out and "in config.py" in out and "IAM user" not in out
    client("iot").update_certificate(certificateId=current_id(tool), newStatus="REVOKED")
    status, out, _ = tool.run("status")
    assert status == 1 and "revoked, in config.py" in out and "no ACTIVE certificate" in out
