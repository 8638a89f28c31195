"""scripts/deploy.py and template.yaml against moto, where moto can check them: the ECR
repository (created once, then reused), and the stack the template makes (the image function,
its settings, the REST API's POST /predict through Lambda proxy, the endpoint URL output).

What moto cannot check is not pretended here: moto never runs an image function, has no SAM
transform (the test applies AWS's own translator, aws-sam-translator, as CloudFormation does
when it receives the template), and no registry to push to; the image itself is checked by
the container test (make container-test), and `sam validate --lint` checks the template.
"""

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
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


def deployed_stack(session: boto3.Session, image: str) -> dict[str, str]:
    template = yaml_parse((REPO / "template.yaml").read_text())
    expanded = transform(template, {"ImageUri": image}, NoManagedPolicies())
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(expanded),
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
    """moto records no PackageType, so this is read from the expanded template itself."""
    expanded = transform(yaml_parse((REPO / "template.yaml").read_text()), {}, NoManagedPolicies())
    properties = expanded["Resources"]["ClassifierFunction"]["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["Code"] == {"ImageUri": {"Ref": "ImageUri"}}
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
        assert f"/functions/{function_arn}/invocations" in integration["uri"]
    assert outputs["PredictUrl"] == f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/prod/predict"
    root = resources["/"]  # the clinic page, from the same function
    assert set(root["resourceMethods"]) == {"GET"}
    page = apigateway.get_integration(restApiId=api["id"], resourceId=root["id"], httpMethod="GET")
    assert page["type"] == "AWS_PROXY" and f"/functions/{function_arn}/invocations" in page["uri"]
    assert outputs["PageUrl"] == f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/prod/"


def test_sam_deploy_gets_the_pushed_image_as_a_parameter() -> None:
    command = deploy.sam_deploy_command("sam", STACK, REGION, "123.dkr.ecr.x/repo", "123.dkr.ecr.x/repo:abc")
    assert command[:2] == ["sam", "deploy"]
    assert command[command.index("--parameter-overrides") + 1] == "ImageUri=123.dkr.ecr.x/repo:abc"
    assert command[command.index("--region") + 1] == REGION


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
