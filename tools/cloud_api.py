"""API Gateway for tools/cloud.py: `deploy --api` (an HTTP API, IAM authorization) and
`deploy --api --api-key` (a REST API with an API key and a usage plan), in front of the
deployment's function. Used by cloud.py's deploy, status and destroy.

--api: the HTTP API N with one route, POST /notify, AWS_IAM authorization, a Lambda proxy
integration (payload format 2.0) to the function, stage "prod" (auto-deployed, throttled);
the device user's one permission becomes execute-api:Invoke on that route and stage only
(cloud/policies.py api_invoke_policy).
--api --api-key: the REST API N with resource /notify, method POST (API key required, no
IAM), AWS_PROXY integration (payload format 1.0), stage "prod"; the API key N-device in the
usage plan N (throttle and daily quota) for that stage. The device holds no AWS key at all:
config.py gets CONFIG_AWS_API_KEY and CONFIG_AWS_ACCESS_KEY = None.
Both: a Lambda permission lets API Gateway (that API, POST /notify only) invoke the function.
Everything carries the tag mpaws:stack=N; what has the name but not the tag is left alone.
"""
import json

import policies

STAGE = "prod"
ROUTE = "/notify"
THROTTLE_RATE = 5.0  # requests a second, per stage (HTTP API) or per key (usage plan)
THROTTLE_BURST = 10
QUOTA_PER_DAY = 10000  # the usage plan's requests a day for one key


def url(names, api_id):
    suffix = ".amazonaws.com.cn" if names.partition == "aws-cn" else ".amazonaws.com"
    return "https://%s.execute-api.%s%s/%s" % (api_id, names.region, suffix, STAGE)


def permission_id(names):
    return "mpaws-%s-api" % names.name


def source_arn(names, api_id):
    return "arn:%s:execute-api:%s:%s:%s/*/POST%s" % (names.partition, names.region, names.account, api_id, ROUTE)


def integration_uri(names):
    return "arn:%s:apigateway:%s:lambda:path/2015-03-31/functions/%s/invocations" % (names.partition, names.region,
                                                                                      names.function_arn)


class ApiState:
    """What exists of the deployment's APIs (read-only calls)."""

    def __init__(self, aws):
        n = aws.names
        self.http = next((a for a in aws.apigw2.get_apis()["Items"] if a["Name"] == n.name), None)
        self.http_route = self.http_integration = self.http_stage = None
        if self.http is not None:
            api_id = self.http["ApiId"]
            self.http_route = next((r for r in aws.apigw2.get_routes(ApiId=api_id)["Items"]
                                    if r["RouteKey"] == "POST " + ROUTE), None)
            if self.http_route is not None and self.http_route.get("Target", "").startswith("integrations/"):
                self.http_integration = aws.missing(aws.apigw2.get_integration, ("NotFoundException",),
                                                    ApiId=api_id,
                                                    IntegrationId=self.http_route["Target"].split("/", 1)[1])
            self.http_stage = aws.missing(aws.apigw2.get_stage, ("NotFoundException",), ApiId=api_id,
                                          StageName=STAGE)

        self.rest = next((a for a in aws.apigw.get_rest_apis()["items"] if a["name"] == n.name), None)
        self.rest_resource = self.rest_method = self.rest_stage = None
        if self.rest is not None:
            rest_id = self.rest["id"]
            resources = aws.apigw.get_resources(restApiId=rest_id)["items"]
            self.rest_root = next(r for r in resources if r["path"] == "/")
            self.rest_resource = next((r for r in resources if r["path"] == ROUTE), None)
            if self.rest_resource is not None and "POST" in self.rest_resource.get("resourceMethods", {}):
                self.rest_method = aws.apigw.get_method(restApiId=rest_id, resourceId=self.rest_resource["id"],
                                                        httpMethod="POST")
            self.rest_stage = next((s for s in aws.apigw.get_stages(restApiId=rest_id)["item"]
                                    if s["stageName"] == STAGE), None)
        self.key = next((k for k in aws.apigw.get_api_keys(nameQuery=n.user, includeValues=True)["items"]
                         if k["name"] == n.user), None)
        self.plan = next((p for p in aws.apigw.get_usage_plans()["items"] if p["name"] == n.name), None)
        self.plan_keys = []
        if self.plan is not None:
            self.plan_keys = [k["id"] for k in aws.apigw.get_usage_plan_keys(usagePlanId=self.plan["id"])["items"]]

        self.permission = None
        policy = aws.missing(aws.lam.get_policy, ("ResourceNotFoundException",), FunctionName=n.function)
        if policy is not None:
            for statement in json.loads(policy["Policy"]).get("Statement", []):
                if statement.get("Sid") == permission_id(n):
                    self.permission = statement

    def resources(self, names):
        """[(kind, name, tags or None when missing)], as cloud.State.resources."""
        return [
            ("HTTP API", names.name, self.http.get("Tags", {}) if self.http is not None else None),
            ("REST API", names.name, self.rest.get("tags", {}) if self.rest is not None else None),
            ("API key", names.user, self.key.get("tags", {}) if self.key is not None else None),
            ("usage plan", names.name, self.plan.get("tags", {}) if self.plan is not None else None),
        ]


def _http_problems(aws, state):
    """What differs in the HTTP API from what deploy --api sets ([] when all matches)."""
    n = aws.names
    problems = []
    if state.http_route is None:
        return ["route POST %s missing" % ROUTE]
    if state.http_route.get("AuthorizationType") != "AWS_IAM":
        problems.append("route authorization %s, not AWS_IAM" % state.http_route.get("AuthorizationType"))
    integration = state.http_integration or {}
    if integration.get("IntegrationUri") != n.function_arn or integration.get("PayloadFormatVersion") != "2.0":
        problems.append("integration")
    if state.http_stage is None:
        problems.append("stage %s missing" % STAGE)
    return problems


def _rest_problems(aws, state):
    n = aws.names
    problems = []
    method = state.rest_method
    if method is None:
        return ["method POST %s missing" % ROUTE]
    if not method.get("apiKeyRequired") or method.get("authorizationType") != "NONE":
        problems.append("method POST %s does not require the API key" % ROUTE)
    integration = method.get("methodIntegration") or {}
    if integration.get("type") != "AWS_PROXY" or integration.get("uri") != integration_uri(n):
        problems.append("integration")
    if state.rest_stage is None:
        problems.append("stage %s missing" % STAGE)
    plan = state.plan
    if plan is None:
        problems.append("usage plan missing")
    else:
        if {"apiId": state.rest["id"], "stage": STAGE} not in [{"apiId": s.get("apiId"), "stage": s.get("stage")}
                                                             for s in plan.get("apiStages", [])]:
            problems.append("usage plan not bound to stage %s" % STAGE)
        throttle = plan.get("throttle", {})
        if (float(throttle.get("rateLimit", -1)), int(throttle.get("burstLimit", -1))) != (THROTTLE_RATE,
                                                                                          THROTTLE_BURST):
            problems.append("usage plan throttle")
        if int(plan.get("quota", {}).get("limit", -1)) != QUOTA_PER_DAY:
            problems.append("usage plan quota")
    if state.key is None or not state.key.get("enabled"):
        problems.append("API key missing or disabled")
    elif state.key["id"] not in state.plan_keys:
        problems.append("API key not in the usage plan")
    return problems


def _permission_ok(aws, state, api_id):
    statement = state.permission
    if statement is None or api_id is None:
        return False
    condition = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
    principal = statement.get("Principal", {})
    principal = principal.get("Service") if isinstance(principal, dict) else principal
    return condition == source_arn(aws.names, api_id) and principal == "apigateway.amazonaws.com"


def deploy(aws, args, plan, state):
    """Creates or corrects the API of the chosen mode and the function's permission for it;
    returns (the API id, None in a dry run that would create it; the API key's value or None)."""
    n = aws.names
    tags = {policies.STACK_TAG: n.name}
    api_id = _deploy_rest(aws, plan, state, tags) if args.api_key else _deploy_http(aws, plan, state, tags)
    what = "let API Gateway (this API's POST %s only) invoke the function" % ROUTE
    if api_id is None:
        plan.change(what)
    elif not _permission_ok(aws, state, api_id):
        if state.permission is not None:
            plan.change("remove the function's outdated permission for API Gateway", aws.lam.remove_permission,
                        FunctionName=n.function, StatementId=permission_id(n))
        plan.change(what, _add_permission, aws, api_id)
    key = state.key["value"] if args.api_key and state.key is not None else None
    return api_id, key


def _add_permission(aws, api_id):
    n = aws.names
    aws.lam.add_permission(FunctionName=n.function, StatementId=permission_id(n), Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com", SourceArn=source_arn(n, api_id))


def _deploy_http(aws, plan, state, tags):
    n = aws.names
    if state.http is None:
        return plan.change("create HTTP API %s (POST %s, IAM authorization, stage %s)" % (n.name, ROUTE, STAGE),
                           _create_http, aws, tags)
    api_id = state.http["ApiId"]
    problems = _http_problems(aws, state)
    if problems:
        plan.change("correct HTTP API %s (%s)" % (n.name, ", ".join(problems)), _fix_http, aws, state, api_id)
    return api_id


def _create_http(aws, tags):
    api = aws.apigw2.create_api(Name=aws.names.name, ProtocolType="HTTP", Tags=tags)
    state = ApiState.__new__(ApiState)
    state.http_route = state.http_integration = state.http_stage = None
    _fix_http(aws, state, api["ApiId"])
    return api["ApiId"]


def _fix_http(aws, state, api_id):
    n = aws.names
    integration = state.http_integration
    if integration is None or integration.get("IntegrationUri") != n.function_arn or \
            integration.get("PayloadFormatVersion") != "2.0":
        integration = aws.apigw2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                                    IntegrationUri=n.function_arn, PayloadFormatVersion="2.0")
    target = "integrations/" + integration["IntegrationId"]
    if state.http_route is None:
        aws.apigw2.create_route(ApiId=api_id, RouteKey="POST " + ROUTE, AuthorizationType="AWS_IAM", Target=target)
    else:
        aws.apigw2.update_route(ApiId=api_id, RouteId=state.http_route["RouteId"], AuthorizationType="AWS_IAM",
                                Target=target)
    if state.http_stage is None:
        aws.apigw2.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True,
                                DefaultRouteSettings={"ThrottlingRateLimit": THROTTLE_RATE,
                                                      "ThrottlingBurstLimit": THROTTLE_BURST},
                                Tags={policies.STACK_TAG: n.name})


def _deploy_rest(aws, plan, state, tags):
    n = aws.names
    if state.rest is None:
        plan.change("create REST API %s (POST %s with an API key, stage %s)" % (n.name, ROUTE, STAGE))
        if plan.dry_run:
            return None
        api_id = aws.apigw.create_rest_api(name=n.name, apiKeySource="HEADER", tags=tags,
                                           endpointConfiguration={"types": ["REGIONAL"]})["id"]
        state.rest = {"id": api_id}
        state.rest_root = next(r for r in aws.apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
        problems = ["new"]
    else:
        api_id = state.rest["id"]
        problems = _rest_problems(aws, state)
    if problems and problems != ["new"]:
        plan.change("correct REST API %s (%s)" % (n.name, ", ".join(problems)))
    if problems and not plan.dry_run:
        _fix_rest(aws, state, api_id, tags)
    return api_id


def _fix_rest(aws, state, api_id, tags):
    n, gw = aws.names, aws.apigw
    resource = state.rest_resource or gw.create_resource(restApiId=api_id, parentId=state.rest_root["id"],
                                                         pathPart=ROUTE[1:])
    if state.rest_method is not None:
        gw.delete_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")
    gw.put_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST", authorizationType="NONE",
                  apiKeyRequired=True)
    gw.put_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="POST", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=integration_uri(n))
    gw.create_deployment(restApiId=api_id, stageName=STAGE)
    plan = state.plan
    settings = dict(throttle={"rateLimit": THROTTLE_RATE, "burstLimit": THROTTLE_BURST},
                    quota={"limit": QUOTA_PER_DAY, "period": "DAY"})
    if plan is not None:
        gw.delete_usage_plan(usagePlanId=plan["id"])  # re-made below: simpler than patching each field
    plan = gw.create_usage_plan(name=n.name, apiStages=[{"apiId": api_id, "stage": STAGE}], tags=tags, **settings)
    key = state.key
    if key is None or not key.get("enabled"):
        if key is not None:
            gw.delete_api_key(apiKey=key["id"])
        key = gw.create_api_key(name=n.user, enabled=True, tags=tags)
        state.key = gw.get_api_key(apiKey=key["id"], includeValue=True)
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=state.key["id"], keyType="API_KEY")


def status(aws, state, line, access):
    """The API lines of `cloud.py status`."""
    if state.http is not None:
        problems = _http_problems(aws, state)
        line("HTTP API %s (%s)" % (aws.names.name, state.http["ApiId"]), "ok" if not problems
             else "differs: " + ", ".join(problems))
    if state.rest is not None:
        problems = _rest_problems(aws, state)
        line("REST API %s (%s)" % (aws.names.name, state.rest["id"]), "ok" if not problems
             else "differs: " + ", ".join(problems))
    api = state.rest if access == policies.API_KEY else state.http
    if api is not None:
        line("API Gateway may invoke the function", "ok" if _permission_ok(
            aws, state, api.get("id") or api.get("ApiId")) else "missing or differs")


def destroy(aws, plan, state):
    n = aws.names
    if state.plan is not None:
        plan.change("delete usage plan %s" % n.name, aws.apigw.delete_usage_plan, usagePlanId=state.plan["id"])
    if state.key is not None:
        plan.change("delete API key %s" % n.user, aws.apigw.delete_api_key, apiKey=state.key["id"])
    if state.rest is not None:
        plan.change("delete REST API %s" % n.name, aws.apigw.delete_rest_api, restApiId=state.rest["id"])
    if state.http is not None:
        plan.change("delete HTTP API %s" % n.name, aws.apigw2.delete_api, ApiId=state.http["ApiId"])
