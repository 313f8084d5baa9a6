"""tools/cloud.py deploy --api [--api-key] against moto (mock_aws): API Gateway in front of
the function (tools/cloud_api.py). What deploy made is read back with plain boto3 calls; the
device key's least privilege is checked with moto's IAM engine (its IAMRequest: the SigV4
signature for execute-api by botocore's signer, then the user's policies against the route's
execute-api ARN) and with moto's IAM enforcement for the other services."""
import datetime
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_cloud_deploy import (ACCOUNT, FUNCTION_ARN, NAME, REGION, TOPIC_ARN, aws, client, denied,  # noqa: F401
                               device_clients, enforced, tool, user_policy)

STAGE, ROUTE = "prod", "/notify"


def http_api():
    [api] = [a for a in client("apigatewayv2").get_apis()["Items"] if a["Name"] == NAME]
    return api


def rest_api():
    [api] = [a for a in client("apigateway").get_rest_apis()["items"] if a["name"] == NAME]
    return api


def route_arn(api_id, stage=STAGE, method="POST", route=ROUTE):
    return "arn:aws:execute-api:%s:%s:%s/%s/%s%s" % (REGION, ACCOUNT, api_id, stage, method, route)


def may_invoke(config, api_id, stage=STAGE, method="POST", route=ROUTE, secret=None):
    """Whether moto's IAM lets the device key call the route: a request signed for
    execute-api with botocore, its signature and the user's policies checked by IAMRequest."""
    from moto.core.exceptions import AccessDeniedError, InvalidClientTokenIdError, SignatureDoesNotMatchError
    from moto.iam.access_control import IAMRequest

    host = "%s.execute-api.%s.amazonaws.com" % (api_id, REGION)
    path = "/%s%s" % (stage, route)
    request = AWSRequest(method=method, url="https://%s%s" % (host, path), data=b'{"subject": "s"}',
                         headers={"host": host, "content-type": "application/json"})
    SigV4Auth(Credentials(config.CONFIG_AWS_ACCESS_KEY, secret or config.CONFIG_AWS_SECRET_KEY), "execute-api",
              REGION).add_auth(request)
    checked = IAMRequest(ACCOUNT, method, path, {}, request.body, dict(request.headers), "Invoke")
    try:
        checked.check_signature()
        checked.check_action_permitted(route_arn(api_id, stage, method, route))
    except (AccessDeniedError, InvalidClientTokenIdError, SignatureDoesNotMatchError) as e:
        return type(e).__name__
    return True


def test_deploy_api_creates_an_iam_route_and_a_least_privilege_key(tool):
    from mpaws import settings

    status, out, err = tool.run("deploy", "--api")
    assert status == 0, err
    api = http_api()
    assert api["ProtocolType"] == "HTTP" and api["Tags"]["mpaws:stack"] == NAME
    v2 = client("apigatewayv2")
    [route] = v2.get_routes(ApiId=api["ApiId"])["Items"]
    assert (route["RouteKey"], route["AuthorizationType"]) == ("POST /notify", "AWS_IAM")
    integration = v2.get_integration(ApiId=api["ApiId"], IntegrationId=route["Target"].split("/")[1])
    assert (integration["IntegrationType"], integration["IntegrationUri"], integration["PayloadFormatVersion"]) == (
        "AWS_PROXY", FUNCTION_ARN, "2.0")
    stage = v2.get_stage(ApiId=api["ApiId"], StageName=STAGE)
    assert stage["AutoDeploy"] is True and stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    [permission] = json.loads(client("lambda").get_policy(FunctionName=NAME)["Policy"])["Statement"]
    assert permission["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert permission["Condition"]["ArnLike"]["AWS:SourceArn"] == "arn:aws:execute-api:%s:%s:%s/*/POST/notify" % (
        REGION, ACCOUNT, api["ApiId"])
    assert user_policy() == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["execute-api:Invoke"], "Resource": route_arn(api["ApiId"])}]}

    config = tool.config()
    assert config.CONFIG_AWS_API_URL == "https://%s.execute-api.%s.amazonaws.com/prod" % (api["ApiId"], REGION)
    assert config.CONFIG_AWS_API_KEY is None and config.CONFIG_AWS_LAMBDA_FUNCTION is None
    loaded = settings.load(config)
    assert (loaded.api_url, loaded.api_region, loaded.access_key) == (config.CONFIG_AWS_API_URL, REGION,
                                                                       config.CONFIG_AWS_ACCESS_KEY)
    assert config.CONFIG_AWS_SECRET_KEY not in out + err

    status, out, _ = tool.run("deploy", "--api")  # idempotent
    assert status == 0 and tool.writes() == [] and "no changes" in out
    assert tool.run("status")[0] == 0


def test_api_key_may_invoke_the_route_and_nothing_else(tool, enforced):
    assert tool.run("deploy", "--api")[0] == 0
    api_id = http_api()["ApiId"]
    other = client("apigatewayv2").create_api(Name="other", ProtocolType="HTTP")["ApiId"]
    config = tool.config()
    assert may_invoke(config, api_id) is True
    assert may_invoke(config, api_id, stage="dev") == "AccessDeniedError"
    assert may_invoke(config, api_id, method="GET") == "AccessDeniedError"
    assert may_invoke(config, api_id, route="/admin") == "AccessDeniedError"
    assert may_invoke(config, other) == "AccessDeniedError"
    assert may_invoke(config, api_id, secret="x" * 40) == "SignatureDoesNotMatchError"
    lam, sns, iam = device_clients(tool, "lambda", "sns", "iam")
    with enforced():
        assert denied(lam.invoke, FunctionName=NAME, Payload=b"{}")
        assert denied(sns.publish, TopicArn=TOPIC_ARN, Message="direct")
        assert denied(iam.list_users)


def test_deploy_api_key_creates_a_rest_api_key_and_usage_plan_and_no_aws_key(tool):
    from mpaws import settings

    status, out, err = tool.run("deploy", "--api", "--api-key")
    assert status == 0, err
    gw = client("apigateway")
    api = rest_api()
    assert api["tags"]["mpaws:stack"] == NAME
    [resource] = [r for r in gw.get_resources(restApiId=api["id"])["items"] if r["path"] == ROUTE]
    method = gw.get_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST")
    assert method["apiKeyRequired"] is True and method["authorizationType"] == "NONE"
    assert method["methodIntegration"]["type"] == "AWS_PROXY" and FUNCTION_ARN in method["methodIntegration"]["uri"]
    assert [s["stageName"] for s in gw.get_stages(restApiId=api["id"])["item"]] == [STAGE]
    [plan] = gw.get_usage_plans()["items"]
    assert plan["apiStages"] == [{"apiId": api["id"], "stage": STAGE}]
    assert plan["throttle"]["rateLimit"] > 0 and plan["quota"]["period"] == "DAY"
    [key] = gw.get_api_keys(includeValues=True)["items"]
    assert key["enabled"] and key["name"] == NAME + "-device"
    assert [k["id"] for k in gw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]

    config = tool.config()
    assert config.CONFIG_AWS_API_KEY == key["value"] and key["value"] not in out + err
    assert config.CONFIG_AWS_ACCESS_KEY is None and config.CONFIG_AWS_SECRET_KEY is None
    assert config.CONFIG_AWS_API_URL == "https://%s.execute-api.%s.amazonaws.com/prod" % (api["id"], REGION)
    assert client("iam").list_users()["Users"] == []  # no AWS key for the device at all
    loaded = settings.load(config)
    assert (loaded.api_key, loaded.access_key) == (key["value"], None)

    status, out, _ = tool.run("deploy", "--api", "--api-key")
    assert status == 0 and tool.writes() == [] and "no changes" in out
    assert tool.run("status")[0] == 0


def test_status_reports_drift_and_deploy_repairs_it(tool):
    assert tool.run("deploy", "--api")[0] == 0
    api = http_api()
    v2 = client("apigatewayv2")
    [route] = v2.get_routes(ApiId=api["ApiId"])["Items"]
    v2.update_route(ApiId=api["ApiId"], RouteId=route["RouteId"], AuthorizationType="NONE")
    status, out, _ = tool.run("status")
    assert status == 1 and "route authorization NONE, not AWS_IAM" in out
    status, out, _ = tool.run("deploy", "--api")
    assert status == 0 and "correct HTTP API" in out and tool.run("status")[0] == 0

    assert tool.run("deploy", "--api", "--api-key")[0] == 0
    gw = client("apigateway")
    [plan] = gw.get_usage_plans()["items"]
    gw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "1000"}])
    status, out, _ = tool.run("status")
    assert status == 1 and "usage plan throttle" in out
    key = tool.config().CONFIG_AWS_API_KEY
    status, out, _ = tool.run("deploy", "--api", "--api-key")
    assert status == 0 and tool.run("status")[0] == 0 and tool.config().CONFIG_AWS_API_KEY == key


def test_destroy_removes_the_apis_key_and_plan(tool):
    assert tool.run("deploy", "--api")[0] == 0
    assert tool.run("deploy", "--api", "--api-key")[0] == 0
    status, out, _ = tool.run("destroy")
    assert status == 0, out
    assert client("apigatewayv2").get_apis()["Items"] == []
    gw = client("apigateway")
    assert gw.get_rest_apis()["items"] == [] and gw.get_api_keys()["items"] == []
    assert gw.get_usage_plans()["items"] == []
    assert client("lambda").list_functions()["Functions"] == []


def test_foreign_api_of_the_same_name_is_left_alone(tool):
    client("apigatewayv2").create_api(Name=NAME, ProtocolType="HTTP")
    status, _, err = tool.run("deploy", "--api")
    assert status == 1 and "not created by mpaws" in err and "HTTP API %s" % NAME in err
    assert client("lambda").list_functions()["Functions"] == []


@pytest.mark.parametrize("options, words", [(("--api-key",), "--api-key goes with --api"),
                                            (("--api", "--direct-sns"), "exclude each other")])
def test_bad_option_combinations(tmp_path, capsys, options, words):
    import cloud

    with pytest.raises(SystemExit):
        cloud.main(["deploy", "--region", REGION, "--config", str(tmp_path / "c.py")] + list(options))
    assert words in capsys.readouterr().err


# -- cloud/template.yaml in step ----------------------------------------------------------------
# moto's CloudFormation has no AWS::ApiGatewayV2 resources, so the template's API half is
# compared with cloud_api.py's constants and policies.py's documents as written.


def test_template_api_resources_match_cloud_py():
    import cloud_api
    import policies
    from cfnlint.decode import decode_str
    from test_cloud_policies import TEMPLATE

    with open(TEMPLATE) as f:
        template, problems = decode_str(f.read())
    assert problems == []
    r = {name: value["Properties"] for name, value in template["Resources"].items()}
    route = "POST " + cloud_api.ROUTE
    assert (r["HttpRoute"]["RouteKey"], r["HttpRoute"]["AuthorizationType"]) == (route, "AWS_IAM")
    assert (r["HttpIntegration"]["IntegrationType"], r["HttpIntegration"]["PayloadFormatVersion"]) == ("AWS_PROXY",
                                                                                                     "2.0")
    assert r["HttpStage"]["StageName"] == r["RestDeployment"]["StageName"] == cloud_api.STAGE
    assert r["HttpStage"]["DefaultRouteSettings"] == {"ThrottlingRateLimit": cloud_api.THROTTLE_RATE,
                                                      "ThrottlingBurstLimit": cloud_api.THROTTLE_BURST}
    assert (r["RestMethod"]["HttpMethod"], r["RestMethod"]["AuthorizationType"], r["RestMethod"]["ApiKeyRequired"]) == (
        "POST", "NONE", True)
    assert r["RestResource"]["PathPart"] == cloud_api.ROUTE[1:]
    assert r["UsagePlan"]["Throttle"] == {"RateLimit": cloud_api.THROTTLE_RATE, "BurstLimit": cloud_api.THROTTLE_BURST}
    assert r["UsagePlan"]["Quota"] == {"Limit": cloud_api.QUOTA_PER_DAY, "Period": "DAY"}
    assert r["RestApiKey"]["Name"] == {"Fn::Sub": "${Name}-device"}
    assert template["Resources"]["DeviceUser"]["Condition"] == "NeedsUser"  # none with an API key
    # The device's statement for the HTTP API: the one policies.py writes, with the template's variables.
    names = policies.Names("${Name}", "${AWS::Region}", "${AWS::AccountId}", "${AWS::Partition}")
    statement = r["DevicePolicy"]["PolicyDocument"]["Statement"][0]["Fn::If"][1]
    [wanted] = policies.device_policy(names, policies.API, "${HttpApi}")["Statement"]
    assert dict(statement, Resource=statement["Resource"]["Fn::Sub"]) == wanted
    source = r["ApiPermission"]["SourceArn"]["Fn::If"][1]["Fn::Sub"]
    assert source == cloud_api.source_arn(names, "${HttpApi}")
    for name in ("HttpApi", "HttpStage"):
        assert r[name]["Tags"] == {policies.STACK_TAG: {"Ref": "Name"}}
    for name in ("RestApi", "RestApiKey", "UsagePlan"):
        assert {"Key": policies.STACK_TAG, "Value": {"Ref": "Name"}} in r[name]["Tags"]
