"""What template.yaml protects, read from the template as CloudFormation receives it (after
AWS's own SAM translator): moto does not model usage plans, keys, stages or alarms."""

import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from skinlesion.contract import FUNCTION_TIMEOUT_S
from tests.conftest import REPO
from tests.deploy.test_deploy import NoManagedPolicies


@pytest.fixture
def template(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks; no call is made
    return transform(yaml_parse((REPO / "template.yaml").read_text()), {}, NoManagedPolicies())


def test_api_key_access_is_the_default_and_iam_and_none_are_choices(template: dict) -> None:
    access = template["Parameters"]["Access"]
    assert access["Default"] == "api-key" and set(access["AllowedValues"]) == {"api-key", "iam", "none"}
    post = template["Resources"]["PredictPost"]["Properties"]
    assert post["ApiKeyRequired"] == {"Fn::If": ["UseApiKey", True, False]}
    assert post["AuthorizationType"] == {"Fn::If": ["UseIam", "AWS_IAM", "NONE"]}
    assert template["Conditions"]["UseApiKey"] == {"Fn::Equals": [{"Ref": "Access"}, "api-key"]}


def test_the_key_lives_in_a_throttled_usage_plan_with_a_daily_quota(template: dict) -> None:
    resources = template["Resources"]
    plan = resources["UsagePlan"]
    assert plan["Condition"] == "UseApiKey"
    assert plan["Properties"]["Quota"] == {"Limit": {"Ref": "DailyQuota"}, "Period": "DAY"}
    assert plan["Properties"]["Throttle"]["RateLimit"] == {"Ref": "ThrottleRateLimit"}
    link = resources["ClinicApiKeyInPlan"]["Properties"]
    assert link["KeyId"] == {"Ref": "ClinicApiKey"} and link["UsagePlanId"] == {"Ref": "UsagePlan"}


def test_every_method_of_the_stage_is_throttled(template: dict) -> None:
    (setting,) = template["Resources"]["PredictStage"]["Properties"]["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}


def test_the_function_has_a_concurrency_cap_and_a_least_privilege_role(template: dict) -> None:
    resources = template["Resources"]
    function = resources["ClassifierFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    role = resources["ClassifierFunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"][0] == "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert "Policies" not in role or not role["Policies"]  # no inline grants: logs (and X-Ray) only


def test_the_function_has_one_full_vcpu_as_the_sizing_table_chose(template: dict) -> None:
    """1,769 MB is where Lambda gives a whole vCPU: the cheapest size per prediction that is not
    throttled (bench/results/lambda_sizing.md)."""
    function = template["Resources"]["ClassifierFunction"]["Properties"]
    assert function["MemorySize"] == 1769 and function["Timeout"] == FUNCTION_TIMEOUT_S


def test_alarms_watch_errors_latency_throttles_and_drift(template: dict) -> None:
    alarms = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    watched = {
        alarm["Properties"].get("MetricName")
        or alarm["Properties"]["Metrics"][0]["MetricStat"]["Metric"]["MetricName"]
        for alarm in alarms
    }
    assert watched == {"5XXError", "Latency", "Throttles", "Errors", "MelanomaAlert", "OutOfDistribution"}


def test_callers_reach_the_alias_live_not_the_function(template: dict) -> None:
    """API Gateway's integrations and permissions name the alias, so that a release (or a rollback)
    moves every caller, and a new version takes no traffic before CodeDeploy gives it some."""
    resources = template["Resources"]
    alias = resources["ClassifierFunctionAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias" and alias["Properties"]["Name"] == "live"
    (version,) = [name for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::Version"]
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}
    assert resources[version]["DeletionPolicy"] == "Retain"  # earlier versions stay, to roll back to
    for method in ("PredictPost", "PredictOptions", "PageGet"):
        uri = resources[method]["Properties"]["Integration"]["Uri"]["Fn::Sub"]
        assert "/functions/${ClassifierFunction.Arn}:live/invocations" in uri  # the alias's ARN
    for permission in ("ApiInvokePermission", "PageInvokePermission"):
        assert resources[permission]["Properties"]["FunctionName"] == {"Ref": "ClassifierFunctionAliaslive"}


def test_a_version_says_which_model_and_image_it_runs(template: dict) -> None:
    (version,) = [
        resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Lambda::Version"
    ]
    assert version["Properties"]["Description"] == {"Fn::Sub": "model ${ModelVersion}, image ${ImageUri}"}


def test_a_new_image_is_a_new_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def version(image: str) -> str:
        expanded = transform(
            yaml_parse((REPO / "template.yaml").read_text()), {"ImageUri": image}, NoManagedPolicies()
        )
        (name,) = [
            name
            for name, resource in expanded["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Version"
        ]
        return name

    assert version("repo:aaaa") != version("repo:bbbb")


def test_a_release_shifts_gradually_and_rolls_back_on_the_error_and_latency_alarms(template: dict) -> None:
    resources = template["Resources"]
    policy = resources["ClassifierFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert policy["DeploymentGroupName"] == {"Ref": "ClassifierFunctionDeploymentGroup"}
    group = resources["ClassifierFunctionDeploymentGroup"]["Properties"]
    config = group["DeploymentConfigName"]["Fn::Sub"]
    assert config[0] == "CodeDeployDefault.Lambda${ConfigName}"
    assert (
        config[1]["ConfigName"]
        == template["Parameters"]["DeploymentType"]["Default"]
        == "Canary10Percent30Minutes"
    )
    alarms = group["AlarmConfiguration"]
    assert alarms["Enabled"] is True
    assert [alarm["Name"] for alarm in alarms["Alarms"]] == [
        {"Ref": "ServerErrorAlarm"}, {"Ref": "LatencyAlarm"}, {"Ref": "FunctionErrorAlarm"}
    ]  # fmt: skip
    rollback = group["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True and {"DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"} <= set(
        rollback["Events"]
    )
    # The canary outlasts the latency alarm's window, so that alarm can still stop it.
    latency = resources["LatencyAlarm"]["Properties"]
    assert latency["Period"] * latency["EvaluationPeriods"] < 30 * 60


@pytest.mark.parametrize(
    ("alarm", "metric", "expected", "allowance"),
    [
        ("MelanomaAlertDriftAlarm", "MelanomaAlert", "ExpectedMelanomaAlertRate", "MelanomaAlertAllowance"),
        ("OodDriftAlarm", "OutOfDistribution", "ExpectedOodRate", "OodAllowance"),
    ],
)
def test_drift_alarms_compare_a_days_rate_with_the_cards(
    template: dict, alarm: str, metric: str, expected: str, allowance: str
) -> None:
    properties = template["Resources"][alarm]["Properties"]
    stats = {query["Id"]: query["MetricStat"] for query in properties["Metrics"] if "MetricStat" in query}
    assert {stat["Stat"] for stat in stats.values()} == {"Average", "SampleCount"}
    for stat in stats.values():
        assert stat["Period"] == 86400
        assert stat["Metric"]["MetricName"] == metric
        assert stat["Metric"]["Namespace"] == {"Ref": "MetricsNamespace"}
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": "ClassifierFunction"}},
            {"Name": "ModelVersion", "Value": {"Ref": "ModelVersion"}},
        ]
    (drift,) = [query for query in properties["Metrics"] if query.get("ReturnData")]
    expression = drift["Expression"]["Fn::Sub"]
    assert f"ABS(rate - ${{{expected}}})" in expression and "SQRT(" in expression
    assert expression.startswith("IF(images >= ${DriftMinAnswers},")
    assert properties["Threshold"] == {"Ref": allowance}
    assert properties["ComparisonOperator"] == "GreaterThanThreshold" and properties["EvaluationPeriods"] == 1
    assert properties["TreatMissingData"] == "notBreaching"  # a day without images is no drift
    for parameter in (expected, allowance):
        assert template["Parameters"][parameter]["Type"] == "Number"


def test_the_function_writes_its_metrics_into_the_namespace_the_dashboard_reads(template: dict) -> None:
    variables = template["Resources"]["ClassifierFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    body = template["Resources"]["ModelDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    assert (
        "{${MetricsNamespace},FunctionName,ModelVersion}" in body
        and "{${MetricsNamespace},FunctionName}" in body
    )


def test_the_outputs_name_what_a_rollback_needs(template: dict) -> None:
    outputs = template["Outputs"]
    assert outputs["LiveAlias"]["Value"] == {"Ref": "ClassifierFunctionAliaslive"}
    assert outputs["DeploymentApplication"]["Value"] == {"Ref": "ServerlessDeploymentApplication"}
    assert outputs["DeploymentGroup"]["Value"] == {"Ref": "ClassifierFunctionDeploymentGroup"}
    assert "${ModelDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_no_secret_is_written_into_the_template() -> None:
    """No credential, password or key value: the API key's value is made by API Gateway."""
    text = (REPO / "template.yaml").read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)  # an access key id
    for word in ("aws_secret_access_key", "password:", "secretstring", "x-api-key:", "value: k-"):
        assert word not in text.lower()
    assert "Value" not in template_api_key_properties(text)


def template_api_key_properties(text: str) -> str:
    """The ApiKey resource's block: it must not set `Value` (API Gateway generates it)."""
    start = text.index("  ClinicApiKey:\n")
    return text[start : text.index("\n\n", start)]
