"""scripts/deploy.py and template.yaml against moto, where moto can check them: the ECR
repository (created once, then reused), and the stack the template makes (the image function,
its settings, the REST API's POST /predict through Lambda proxy, the endpoint URL output).

What moto cannot check is not pretended here: moto never runs an image function, has no SAM
transform (the test applies AWS's own translator, aws-sam-translator, as CloudFormation does
when it receives the template), and no registry to push to; the image itself is checked by
the container test (make container-test), and `sam validate --lint` checks the template. Nor
does it model aliases or CodeDeploy's record of a Lambda release: the rollback and what the
script prints about the alias `live` are checked against botocore's Stubber, which holds each
request to the real API's schema.
"""

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("deploy", REPO / "scripts" / "deploy.py")
deploy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deploy)

REGION = "us-east-1"
STACK = "skin-lesion-classifier"


class NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only for policies named in the template;
    ours names none, so there is nothing to look up."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def test_ensure_repository_creates_it_once_then_reuses_it(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    uri = deploy.ensure_repository(ecr, STACK)
    assert deploy.ensure_repository(ecr, STACK) == uri
    (repository,) = ecr.describe_repositories()["repositories"]
    assert repository["repositoryUri"] == uri and uri.endswith(f".dkr.ecr.{REGION}.amazonaws.com/{STACK}")
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=STACK)["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == deploy.KEEP_IMAGES


def test_a_pushed_commit_is_not_built_again(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    deploy.ensure_repository(ecr, STACK)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    ecr.put_image(repositoryName=STACK, imageManifest=json.dumps(manifest), imageTag="0123456789ab")
    assert deploy.image_exists(ecr, STACK, "0123456789ab")
    assert not deploy.image_exists(ecr, STACK, "ba9876543210")


def for_moto(expanded: dict[str, Any]) -> dict[str, Any]:
    """What moto can create of the expanded template. It models neither Lambda aliases, CodeDeploy
    nor alarms, so here the API's permissions are the function's and the dashboard (which shows
    alarms) is left out; test_template.py checks the alias, the release and the dashboard."""
    alias = {"Ref": "ClassifierFunctionAlias" + deploy.ALIAS}
    text = json.dumps(expanded).replace(
        json.dumps(alias), json.dumps({"Fn::GetAtt": ["ClassifierFunction", "Arn"]})
    )
    template = json.loads(text)
    del template["Resources"]["ModelDashboard"], template["Outputs"]["DashboardUrl"]
    return template


def deployed_stack(session: boto3.Session, image: str) -> dict[str, str]:
    template = yaml_parse((REPO / "template.yaml").read_text())
    expanded = transform(template, {"ImageUri": image}, NoManagedPolicies())
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(for_moto(expanded)),
        Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": image}],
        Capabilities=["CAPABILITY_IAM"],
    )
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    return deploy.stack_outputs(cloudformation, STACK)


def test_the_template_makes_the_image_function(aws: boto3.Session) -> None:
    image = f"{deploy.ensure_repository(aws.client('ecr'), STACK)}:0123456789ab"
    outputs = deployed_stack(aws, image)
    function = aws.client("lambda").get_function(FunctionName=outputs["FunctionName"])
    configuration = function["Configuration"]
    assert function["Code"]["ImageUri"] == image == outputs["ImageUri"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (1769, 30)
    assert configuration["Environment"]["Variables"]["ALLOW_PRIVATE_URLS"] == "0"
    assert configuration["Environment"]["Variables"]["CORS_ALLOW_ORIGIN"] == "*"


def test_the_function_is_packaged_as_an_image(aws: boto3.Session) -> None:
    """moto records no PackageType, so this is read from the expanded template itself (where SAM has
    put the image parameter's value, which names the function's version)."""
    image = "123.dkr.ecr.x/repo:abc"
    expanded = transform(
        yaml_parse((REPO / "template.yaml").read_text()), {"ImageUri": image}, NoManagedPolicies()
    )
    properties = expanded["Resources"]["ClassifierFunction"]["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["Code"] == {"ImageUri": image}
    assert properties["Architectures"] == ["x86_64"]


def test_the_template_makes_post_predict_with_lambda_proxy(aws: boto3.Session) -> None:
    image = f"{deploy.ensure_repository(aws.client('ecr'), STACK)}:0123456789ab"
    outputs = deployed_stack(aws, image)
    function_arn = aws.client("lambda").get_function(FunctionName=STACK)["Configuration"]["FunctionArn"]
    apigateway = aws.client("apigateway")
    (api,) = apigateway.get_rest_apis()["items"]
    resources: dict[str, Any] = {
        item["path"]: item for item in apigateway.get_resources(restApiId=api["id"])["items"]
    }
    predict = resources["/predict"]
    assert set(predict["resourceMethods"]) == {"POST", "OPTIONS"}
    for method in ("POST", "OPTIONS"):
        integration = apigateway.get_integration(
            restApiId=api["id"], resourceId=predict["id"], httpMethod=method
        )
        assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
        assert f"/functions/{function_arn}:{deploy.ALIAS}/invocations" in integration["uri"]
    assert outputs["PredictUrl"] == f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/prod/predict"
    root = resources["/"]  # the clinic page, from the same function
    assert set(root["resourceMethods"]) == {"GET"}
    page = apigateway.get_integration(restApiId=api["id"], resourceId=root["id"], httpMethod="GET")
    assert (
        page["type"] == "AWS_PROXY" and f"/functions/{function_arn}:{deploy.ALIAS}/invocations" in page["uri"]
    )
    assert outputs["PageUrl"] == f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/prod/"


def test_sam_deploy_gets_the_pushed_image_and_the_shipped_cards_figures() -> None:
    model = deploy.card_parameters(deploy.shipped_card())
    image = "123.dkr.ecr.x/repo:abc"
    command = deploy.sam_deploy_command("sam", STACK, REGION, "123.dkr.ecr.x/repo", image, model)
    assert command[:2] == ["sam", "deploy"]
    overrides = command[command.index("--parameter-overrides") + 1 :]
    assert overrides == [f"ImageUri={image}", *(f"{key}={value}" for key, value in model.items())]
    assert command[command.index("--region") + 1] == REGION
    parameters = yaml_parse((REPO / "template.yaml").read_text())["Parameters"]
    for key, value in model.items():
        parameter = parameters[key]  # each figure is a parameter of the template, within its bounds
        for number in map(float, value.split(",")) if key != "ModelVersion" else ():
            assert parameter.get("MinValue", 0) <= number <= parameter.get("MaxValue", 1)
    assert model["ModelVersion"] == deploy.shipped_card()["version"]


def card(sensitivity: float, specificity: float, n_positive: int, n_negative: int) -> dict[str, Any]:
    """A card with just what the template's figures come from (made-up, round numbers)."""
    point = {"sensitivity": sensitivity, "specificity": specificity, "n_positive": n_positive,
             "n_negative": n_negative}  # fmt: skip
    classes = [{"code": code} for code in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")]
    matrix = [[0] * 7 for _ in classes]
    matrix[5][5], matrix[4][5], matrix[4][4] = 70, 10, 20  # predicted: 80 nv, 20 mel
    return {
        "version": "9.9.9",
        "classes": classes,
        "alerts": {"melanoma": point, "malignant": point},
        "ood": {"validation_flagged": 0.05},
        "validation_metrics": {"confusion_matrix": matrix},
    }


def test_the_drift_figures_come_from_the_cards_validation() -> None:
    """10 % prevalence, 90 % sensitivity, 60 % specificity: 9 % + 36 % of images alerted; a clinic
    with no melanoma alerts 40 %, one with 20 % prevalence 50 %: 45 % +- 5 %."""
    figures = deploy.card_parameters(card(0.9, 0.6, 100, 900))
    assert figures["ModelVersion"] == "9.9.9"
    assert figures["ExpectedMelanomaAlertRate"] == figures["ExpectedMalignantAlertRate"] == "0.4500"
    assert figures["MelanomaAlertAllowance"] == "0.0500"
    assert figures["ExpectedOodRate"] == figures["OodAllowance"] == "0.0500"
    assert figures["ExpectedPredictionMix"] == "0.0000,0.0000,0.0000,0.0000,0.2000,0.8000,0.0000"


def shift(origin: str, target: str, status: str = "Succeeded", rollback: bool = False) -> dict[str, Any]:
    """A CodeDeploy deployment of the alias as batch_get_deployments describes it."""
    properties = {"Name": STACK, "Alias": deploy.ALIAS, "CurrentVersion": origin, "TargetVersion": target}
    appspec = {
        "version": 0.0,
        "Resources": [{STACK: {"Type": "AWS::Lambda::Function", "Properties": properties}}],
    }
    return {
        "deploymentId": f"d-{origin}-{target}",
        "status": status,
        "description": deploy.ROLLBACK_DESCRIPTION if rollback else "",
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
    }


@pytest.mark.parametrize(
    ("oldest_first", "current", "previous"),
    [
        ([shift("1", "2"), shift("2", "3")], "3", "2"),
        ([shift("1", "2")], "2", "1"),  # the first release: where it came from
        ([shift("1", "2"), shift("2", "3", "Stopped")], "2", "1"),  # a release rolled back never served
        ([shift("1", "2"), shift("2", "3", "Failed"), shift("2", "4")], "4", "2"),
        # After a rollback CloudFormation still names the version rolled back from as the origin:
        ([shift("1", "2"), shift("2", "3"), shift("3", "2", rollback=True), shift("3", "4")], "4", "2"),
        # A second rollback goes further back, not back to the version the first one left:
        ([shift("1", "2"), shift("2", "3"), shift("3", "4"), shift("4", "3", rollback=True)], "3", "2"),
        ([shift("1", "2"), shift("2", "3")], "7", None),  # moved by other means: unknown
        ([], "1", None),
    ],
)
def test_a_rollback_returns_to_the_version_served_before(
    oldest_first: list[dict[str, Any]], current: str, previous: str | None
) -> None:
    assert deploy.previous_version(oldest_first[::-1], current) == previous


OUTPUTS = {"FunctionName": STACK, "DeploymentApplication": "app", "DeploymentGroup": "group"}


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def stub_history(codedeploy: Stubber, newest_first: list[dict[str, Any]]) -> None:
    ids = [deployment["deploymentId"] for deployment in newest_first]
    codedeploy.add_response(
        "list_deployments", {"deployments": ids}, {"applicationName": "app", "deploymentGroupName": "group"}
    )
    created = [
        {**deployment, "createTime": datetime(2026, 12, 1, tzinfo=UTC) - timedelta(days=age)}
        for age, deployment in enumerate(newest_first)
    ]
    codedeploy.add_response("batch_get_deployments", {"deploymentsInfo": created}, {"deploymentIds": ids})


def test_rollback_shifts_live_back_through_codedeploy_with_its_alarms_off() -> None:
    lambda_client, lambda_stub = stubbed("lambda")
    codedeploy, codedeploy_stub = stubbed("codedeploy")
    stub_history(codedeploy_stub, [shift("2", "3"), shift("1", "2")])
    lambda_stub.add_response("get_alias", {"FunctionVersion": "3"}, {"FunctionName": STACK, "Name": "live"})
    requests: list[dict[str, Any]] = []
    codedeploy.meta.events.register(
        "before-parameter-build.codedeploy.CreateDeployment", lambda params, **_: requests.append(params)
    )
    codedeploy_stub.add_response("create_deployment", {"deploymentId": "d-rollback"})
    with lambda_stub, codedeploy_stub:
        assert deploy.rollback(lambda_client, codedeploy, OUTPUTS) == "d-rollback"
    (request,) = requests
    assert request["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert request["overrideAlarmConfiguration"]["enabled"] is False  # a firing alarm must not undo it
    assert request["autoRollbackConfiguration"]["enabled"] is False
    recorded = {**request, "deploymentId": "d-rollback", "status": "Succeeded"}
    assert deploy.shifted_versions(recorded) == ("3", "2")
    assert deploy.served_versions([recorded, shift("2", "3"), shift("1", "2")]) == ["1", "2"]


def test_rollback_during_a_release_stops_it_and_lets_codedeploy_restore_live() -> None:
    lambda_client, _ = stubbed("lambda")
    codedeploy, codedeploy_stub = stubbed("codedeploy")
    stub_history(codedeploy_stub, [shift("2", "3", "InProgress"), shift("1", "2")])
    codedeploy_stub.add_response(
        "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-2-3", "autoRollbackEnabled": True}
    )
    with codedeploy_stub:
        assert deploy.rollback(lambda_client, codedeploy, OUTPUTS) is None
    codedeploy_stub.assert_no_pending_responses()


def test_rollback_without_a_known_previous_version_asks_for_one() -> None:
    lambda_client, lambda_stub = stubbed("lambda")
    codedeploy, codedeploy_stub = stubbed("codedeploy")
    stub_history(codedeploy_stub, [])
    lambda_stub.add_response("get_alias", {"FunctionVersion": "1"}, {"FunctionName": STACK, "Name": "live"})
    with lambda_stub, codedeploy_stub, pytest.raises(deploy.DeployError, match="--to-version"):
        deploy.rollback(lambda_client, codedeploy, OUTPUTS)


@pytest.mark.parametrize("shifting", [False, True])
def test_deploy_prints_the_model_each_version_of_live_serves(
    shifting: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_client, lambda_stub = stubbed("lambda")
    codedeploy, codedeploy_stub = stubbed("codedeploy")
    alias = {"FunctionVersion": "2"}
    if shifting:  # mid-canary
        alias["RoutingConfig"] = {"AdditionalVersionWeights": {"3": 0.1}}
    lambda_stub.add_response("get_alias", alias, {"FunctionName": STACK, "Name": "live"})
    for version, model in (("2", "2.3.1"), ("3", "3.0.0"), ("1", "2.3.0")):
        if version == "3" and not shifting:
            continue
        lambda_stub.add_response(
            "get_function_configuration",
            {"Description": f"model {model}, image repo:{version}"},
            {"FunctionName": STACK, "Qualifier": version},
        )
    release = shift("2", "3", "InProgress" if shifting else "Stopped")
    stub_history(codedeploy_stub, [release, shift("1", "2")])
    with lambda_stub, codedeploy_stub:
        deploy.print_serving(lambda_client, codedeploy, OUTPUTS)
    expected = (
        [
            "live: version 2 (90% of requests): model 2.3.1, image repo:2",
            "live: version 3 (10% of requests): model 3.0.0, image repo:3",
            "a release is shifting live: make rollback stops it, leaving live on version 2",
        ]
        if shifting
        else [
            "live: version 2 (100% of requests): model 2.3.1, image repo:2",
            "make rollback returns live to version 1: model 2.3.0, image repo:1",
        ]
    )
    assert capsys.readouterr().out.splitlines() == expected


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=folder, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_the_image_is_tagged_with_the_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "lambda_function.py").write_text("# v1\n")
    git(tmp_path, "add", "lambda_function.py")
    git(tmp_path, "commit", "--quiet", "-m", "v1")
    commit = git(tmp_path, "rev-parse", "--short=12", "HEAD")
    assert deploy.image_tag(tmp_path) == commit

    (tmp_path / "lambda_function.py").write_text("# v2, not committed\n")
    with pytest.raises(deploy.DeployError, match="uncommitted"):
        deploy.image_tag(tmp_path)
    now = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
    assert deploy.image_tag(tmp_path, allow_dirty=True, now=now) == f"{commit}-dirty-20261125T183000Z"


def test_the_sam_cli_acts_with_the_scripts_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile clinic]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert deploy.sam_environment(boto3.Session(profile_name="clinic"))["AWS_PROFILE"] == "clinic"
    assert "AWS_PROFILE" not in deploy.sam_environment(boto3.Session(region_name=REGION))
