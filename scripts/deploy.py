"""Deploy the classifier to AWS in one command, from a fresh account or over a running stack.

  make deploy                                  # the same as: .venv/bin/python scripts/deploy.py
  .venv/bin/python scripts/deploy.py --region eu-west-1 --stack-name skin-lesion-classifier
  .venv/bin/python scripts/deploy.py --rollback  # point the alias `live` back to the previous version
  .venv/bin/python scripts/deploy.py --destroy # delete the stack, then the ECR repository

Steps: create (or reuse) the ECR repository; build the image from the Dockerfile and tag it with
the git commit; log in to ECR and push it (skipped when that commit's image is already there);
`sam deploy` template.yaml (settings in samconfig.toml) with the image and the shipped model card's
version and validation figures, which creates or updates the function and the REST API through
CloudFormation, CodeDeploy shifting the alias `live` to the new version gradually; print the
endpoint URL and which version and model `live` serves.
Credentials and region come from the usual AWS settings (AWS_PROFILE, AWS_REGION, ~/.aws):
docs/deployment.md. Needs docker (or podman's docker CLI) and the SAM CLI
(scripts/container/install-sam.sh installs it into .tools/sam).
"""

import argparse
import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from skinlesion.classes import CLASS_CODES
from skinlesion.model_card import card_path
from skinlesion.paths import DEFAULT_MODEL_PATH

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NAME = "skin-lesion-classifier"  # the stack, the function, the API and the ECR repository
STAND_IN_LABEL = "skinlesion.stand-in.recipe"  # set by scripts/container/build-base-image.sh
KEEP_IMAGES = 10  # the ECR lifecycle policy expires older images (storage is what costs at rest)
ALIAS = "live"  # template.yaml's AutoPublishAlias: what API Gateway calls
# CodeDeploy statuses of a traffic shift that has not finished.
SHIFTING = ("Created", "Queued", "InProgress", "Baking", "Ready")
ROLLBACK_DESCRIPTION = f"scripts/deploy.py --rollback of {ALIAS}"  # how our rollbacks are told from releases


class DeployError(Exception):
    pass


def run(command: list[str], stdin: str | None = None, capture: bool = False) -> str:
    """Run a command in the repository; its output goes to the terminal unless captured."""
    result = subprocess.run(command, cwd=REPO, input=stdin, text=True, capture_output=capture)
    if result.returncode != 0:
        detail = f": {result.stderr.strip()}" if capture else ""
        raise DeployError(f"{' '.join(command[:3])} ... failed with exit code {result.returncode}{detail}")
    return result.stdout.strip() if capture else ""


def image_tag(repo: Path = REPO, allow_dirty: bool = False, now: datetime | None = None) -> str:
    """The git commit; a tree with uncommitted changes gets a distinct, dated tag, and only on request."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    if not status:
        return commit
    if not allow_dirty:
        raise DeployError(
            "the working tree has uncommitted changes, so the image would not match the commit it is "
            "tagged with: commit first, or pass --allow-dirty"
        )
    return f"{commit}-dirty-{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}"


def ensure_repository(ecr: Any, name: str) -> str:
    """The repository's URI, creating it (immutable tags, scan on push, lifecycle) if it is missing."""
    try:
        return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"]
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    repository = ecr.create_repository(
        repositoryName=name,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )["repository"]
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the {KEEP_IMAGES} most recent images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_IMAGES,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
    print(f"deploy: created the ECR repository {repository['repositoryUri']}")
    return repository["repositoryUri"]


def image_exists(ecr: Any, name: str, tag: str) -> bool:
    try:
        ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ImageNotFoundException:
        return False
    return True


def build_and_push(ecr: Any, image: str) -> None:
    """Build for Lambda (x86_64, no attestation manifests, which Lambda refuses), log in, push."""
    builder = (
        ["--provenance=false"]
        if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0
        else []
    )
    run(["docker", "build", "--pull", "--platform", "linux/amd64", *builder, "--tag", image, "."])
    labels = json.loads(
        run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image], capture=True)
        or "{}"
    )
    if STAND_IN_LABEL in (labels or {}):
        raise DeployError(
            "the image was built on the local stand-in for the AWS base image (CI only); remove it "
            "(docker rmi public.ecr.aws/lambda/python:3.13) and build where public.ecr.aws is reachable"
        )
    token = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    run(["docker", "login", "--username", user, "--password-stdin", token["proxyEndpoint"]], stdin=password)
    run(["docker", "push", image])


def sam_cli() -> str:
    return run(["bash", "scripts/container/install-sam.sh"], capture=True).splitlines()[-1]


def alert_figures(point: dict[str, Any]) -> tuple[float, float]:
    """An alert's share of validation images, and how far that share moves for a clinic with
    anywhere from none to twice validation's share of positives (its case mix, not drift)."""
    prevalence = point["n_positive"] / (point["n_positive"] + point["n_negative"])
    false_positive = 1 - point["specificity"]
    rate = point["sensitivity"] * prevalence + false_positive * (1 - prevalence)
    return rate, (point["sensitivity"] - false_positive) * prevalence


def card_parameters(card: dict[str, Any]) -> dict[str, str]:
    """template.yaml's model parameters, from the card shipped in the image: its version, and what it
    measured on validation, which the dashboard shows and the drift alarms compare each day with.
    The out-of-distribution rate may double (other dermoscopes flag more) before it counts as drift.
    """
    melanoma_rate, melanoma_allowance = alert_figures(card["alerts"]["melanoma"])
    malignant_rate, _ = alert_figures(card["alerts"]["malignant"])
    ood = card["ood"]["validation_flagged"]
    matrix = card["validation_metrics"]["confusion_matrix"]  # rows: true class, columns: predicted
    total = sum(map(sum, matrix))
    codes = [entry["code"] for entry in card["classes"]]
    predicted = {code: sum(row[column] for row in matrix) / total for column, code in enumerate(codes)}
    return {
        "ModelVersion": card["version"],
        "ExpectedPredictionMix": ",".join(f"{predicted[code]:.4f}" for code in CLASS_CODES),
        "ExpectedMelanomaAlertRate": f"{melanoma_rate:.4f}",
        "MelanomaAlertAllowance": f"{melanoma_allowance:.4f}",
        "ExpectedMalignantAlertRate": f"{malignant_rate:.4f}",
        "ExpectedOodRate": f"{ood:.4f}",
        "OodAllowance": f"{ood:.4f}",
    }


def shipped_card() -> dict[str, Any]:
    """The card the Dockerfile copies into the image beside the model."""
    return json.loads(card_path(DEFAULT_MODEL_PATH).read_text())


def sam_deploy_command(
    sam: str, stack: str, region: str, repository_uri: str, image: str, model: dict[str, str]
) -> list[str]:
    """`sam deploy` of template.yaml with samconfig.toml; the image (already pushed) and the model's
    card figures are parameters."""
    overrides = [f"ImageUri={image}", *(f"{key}={value}" for key, value in model.items())]
    return [
        sam, "deploy", "--config-file", str(REPO / "samconfig.toml"), "--stack-name", stack,
        "--region", region, "--image-repository", repository_uri,
        "--parameter-overrides", *overrides,
    ]  # fmt: skip


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def serving_versions(lambda_client: Any, function: str) -> dict[str, float]:
    """Each version the alias serves and its share of requests: one, or two while CodeDeploy shifts."""
    alias = lambda_client.get_alias(FunctionName=function, Name=ALIAS)
    shifted = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return {alias["FunctionVersion"]: 1 - sum(shifted.values()), **shifted}


def version_description(lambda_client: Any, function: str, version: str) -> str:
    """What template.yaml wrote into the version: its model and image."""
    configuration = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
    return configuration.get("Description") or "no description"


def deployment_history(codedeploy: Any, application: str, group: str) -> list[dict[str, Any]]:
    """Every CodeDeploy traffic shift of the function's alias, newest first."""
    ids = [
        deployment
        for page in codedeploy.get_paginator("list_deployments").paginate(
            applicationName=application, deploymentGroupName=group
        )
        for deployment in page["deployments"]
    ]
    infos = []
    for start in range(0, len(ids), 25):  # batch_get_deployments' limit
        infos += codedeploy.batch_get_deployments(deploymentIds=ids[start : start + 25])["deploymentsInfo"]
    return sorted(infos, key=lambda info: info["createTime"], reverse=True)


def shifted_versions(deployment: dict[str, Any]) -> tuple[str, str] | None:
    """The (from, to) versions of the alias in a deployment's AppSpec."""
    revision = deployment.get("revision", {})
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    try:
        resources = json.loads(content)["Resources"]
    except (TypeError, ValueError, KeyError):
        return None
    for resource in resources:
        for spec in resource.values():
            properties = spec.get("Properties", {})
            if properties.get("Alias") == ALIAS:
                return str(properties["CurrentVersion"]), str(properties["TargetVersion"])
    return None


def served_versions(history: list[dict[str, Any]]) -> list[str]:
    """The versions the alias has served that a rollback could return to, oldest first: each
    completed release adds its version, each rollback (ours, told by its description) takes off the
    versions after its target. So a second rollback goes further back instead of returning to the
    version the first one left, and a version whose release failed is never a candidate."""
    served: list[str] = []
    for deployment in reversed(history):
        versions = shifted_versions(deployment) if deployment["status"] == "Succeeded" else None
        if versions is None:
            continue
        origin, target = versions
        if deployment.get("description", "").startswith(ROLLBACK_DESCRIPTION):
            while served and served[-1] != target:
                served.pop()
            served = served or [target]
        else:
            served = [*(served or [origin]), target]
    return served


def previous_version(history: list[dict[str, Any]], current: str) -> str | None:
    """Where a rollback from `current` goes; None when the history does not end on `current` (the
    alias was moved by other means) or holds nothing before it."""
    served = served_versions(history)
    return served[-2] if len(served) > 1 and served[-1] == current else None


def rollback(
    lambda_client: Any, codedeploy: Any, outputs: dict[str, str], to_version: str | None = None
) -> str | None:
    """Stop a release in progress (CodeDeploy puts the alias back, CloudFormation rolls the stack
    back); otherwise shift the alias at once to `to_version`, by default the version it served
    before. The shift goes through CodeDeploy, like a release, so that CodeDeploy's history stays
    the record of what the alias served; with the alarms off, since one firing is why we roll back.
    Returns the CodeDeploy deployment to wait for, if any."""
    function = outputs["FunctionName"]
    application, group = outputs["DeploymentApplication"], outputs["DeploymentGroup"]
    history = deployment_history(codedeploy, application, group)
    shifting = [deployment for deployment in history if deployment["status"] in SHIFTING]
    if shifting:
        if to_version is not None:
            raise DeployError("a release is shifting the alias now: roll it back without --to-version first")
        codedeploy.stop_deployment(deploymentId=shifting[0]["deploymentId"], autoRollbackEnabled=True)
        print(
            f"deploy: stopped release {shifting[0]['deploymentId']}: CodeDeploy puts {ALIAS} back, then "
            "CloudFormation rolls the stack back (sam deploy, if still running, reports it)"
        )
        return None
    current = lambda_client.get_alias(FunctionName=function, Name=ALIAS)["FunctionVersion"]
    target = to_version or previous_version(history, current)
    if target is None:
        raise DeployError(
            f"no release to {ALIAS}'s version {current} is recorded, so its previous version is unknown: "
            f"pass --to-version N (aws lambda list-versions-by-function --function-name {function})"
        )
    properties = {"Name": function, "Alias": ALIAS, "CurrentVersion": current, "TargetVersion": target}
    appspec = {
        "version": 0.0,
        "Resources": [{function: {"Type": "AWS::Lambda::Function", "Properties": properties}}],
    }
    deployment = codedeploy.create_deployment(
        applicationName=application,
        deploymentGroupName=group,
        deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce",
        description=f"{ROLLBACK_DESCRIPTION} from version {current} to {target}",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
        autoRollbackConfiguration={"enabled": False},
        overrideAlarmConfiguration={"enabled": False, "alarms": []},
    )["deploymentId"]
    print(f"deploy: moving {ALIAS} from version {current} back to version {target} ({deployment})")
    return deployment


def print_serving(lambda_client: Any, codedeploy: Any, outputs: dict[str, str]) -> None:
    """Which version and model the alias serves, and where `make rollback` would take it."""
    function = outputs["FunctionName"]
    serving = serving_versions(lambda_client, function)
    for version, share in serving.items():
        description = version_description(lambda_client, function, version)
        print(f"{ALIAS}: version {version} ({share:.0%} of requests): {description}")
    primary = next(iter(serving))
    history = deployment_history(codedeploy, outputs["DeploymentApplication"], outputs["DeploymentGroup"])
    if any(deployment["status"] in SHIFTING for deployment in history):
        print(f"a release is shifting {ALIAS}: make rollback stops it, leaving {ALIAS} on version {primary}")
    elif (previous := previous_version(history, primary)) is not None:
        description = version_description(lambda_client, function, previous)
        print(f"make rollback returns {ALIAS} to version {previous}: {description}")


def sam_environment(session: boto3.Session) -> dict[str, str]:
    """The SAM CLI acts with the same profile as this script's own boto3 calls."""
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if session.profile_name and session.profile_name != "default":
        environment["AWS_PROFILE"] = session.profile_name
    return environment


def deploy(args: argparse.Namespace, session: boto3.Session) -> None:
    region = session.region_name
    ecr = session.client("ecr")
    tag = image_tag(allow_dirty=args.allow_dirty)
    model = card_parameters(shipped_card())
    repository_uri = ensure_repository(ecr, args.repository)
    image = f"{repository_uri}:{tag}"
    if image_exists(ecr, args.repository, tag):
        print(f"deploy: {image} is already in ECR; not building it again")
    else:
        build_and_push(ecr, image)
    sam = sam_cli()
    environment = sam_environment(session)
    command = sam_deploy_command(sam, args.stack_name, region, repository_uri, image, model)
    print(
        f"deploy: model {model['ModelVersion']}; CodeDeploy moves {ALIAS} to it gradually, sam deploy waits"
    )
    if subprocess.run(command, cwd=REPO, env=environment).returncode != 0:
        raise DeployError(
            "sam deploy failed (its messages are above); CloudFormation rolls a failed release back"
        )
    outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    print(f"\nimage: {image}\nfunction: {outputs['FunctionName']}\nendpoint: {outputs['PredictUrl']}")
    print_serving(session.client("lambda"), session.client("codedeploy"), outputs)
    print(f"dashboard: {outputs['DashboardUrl']}")
    print(f"try it: .venv/bin/python test.py path/to/lesion.jpg --api-url {outputs['PredictUrl']}")


def destroy(args: argparse.Namespace, session: boto3.Session) -> None:
    sam = sam_cli()
    environment = sam_environment(session)
    command = [sam, "delete", "--config-file", str(REPO / "samconfig.toml"), "--stack-name", args.stack_name,
               "--region", session.region_name, "--no-prompts"]  # fmt: skip
    if subprocess.run(command, cwd=REPO, env=environment).returncode != 0:
        raise DeployError("sam delete failed (its messages are above)")
    ecr = session.client("ecr")
    try:
        ecr.delete_repository(repositoryName=args.repository, force=True)
        print(f"deploy: deleted the ECR repository {args.repository} and its images")
    except ecr.exceptions.RepositoryNotFoundException:
        print(f"deploy: no ECR repository {args.repository}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)"
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or the default profile)")
    parser.add_argument(
        "--stack-name", default=DEFAULT_NAME, help=f"CloudFormation stack (default: {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--repository", default=DEFAULT_NAME, help=f"ECR repository (default: {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="deploy uncommitted changes (tagged <commit>-dirty-<time>)"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--rollback",
        action="store_true",
        help=f"stop a release in progress, or point the alias {ALIAS} back to the version it served before",
    )
    action.add_argument("--destroy", action="store_true", help="delete the stack and the ECR repository")
    parser.add_argument("--to-version", help=f"with --rollback: the version to point {ALIAS} at")
    args = parser.parse_args(argv)
    if args.to_version and not args.rollback:
        parser.error("--to-version goes with --rollback")

    # boto3 reads AWS_DEFAULT_REGION; Lambda and the AWS CLI docs also use AWS_REGION.
    region = args.region or os.environ.get("AWS_REGION")
    session = boto3.Session(profile_name=args.profile, region_name=region)
    if not session.region_name:
        print(
            "deploy: no AWS region: pass --region or set AWS_REGION (docs/deployment.md)",
            file=sys.stderr,
        )
        return 2
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        print(f"deploy: account {account}, region {session.region_name}, stack {args.stack_name}")
        if args.rollback:
            outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
            if "DeploymentGroup" not in outputs:
                raise DeployError(f"the stack has no alias {ALIAS} to roll back yet: make deploy first")
            lambda_client, codedeploy = session.client("lambda"), session.client("codedeploy")
            deployment = rollback(lambda_client, codedeploy, outputs, args.to_version)
            if deployment is not None:
                codedeploy.get_waiter("deployment_successful").wait(deploymentId=deployment)
            print_serving(lambda_client, codedeploy, outputs)
        else:
            (destroy if args.destroy else deploy)(args, session)
    except (DeployError, ClientError, BotoCoreError) as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
