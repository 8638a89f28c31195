"""What template.yaml protects, read from the template as CloudFormation receives it (after
AWS's own SAM translator): moto does not model usage plans, keys, stages or alarms."""

import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

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
    assert function["MemorySize"] == 1769 and function["Timeout"] == 30


def test_alarms_watch_errors_latency_and_throttles(template: dict) -> None:
    alarms = {
        resource["Properties"]["MetricName"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert alarms == {"5XXError", "Latency", "Throttles", "Errors"}


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
