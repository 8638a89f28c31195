"""Deploy the classifier to AWS in one command, from a fresh account or over a running stack.

  make deploy                                  # the same as: .venv/bin/python scripts/deploy.py
  .venv/bin/python scripts/deploy.py --region eu-west-1 --stack-name skin-lesion-classifier
  .venv/bin/python scripts/deploy.py --destroy # delete the stack, then the ECR repository

Steps: create (or reuse) the ECR repository; build the image from the Dockerfile and tag it with
the git commit; log in to ECR and push it (skipped when that commit's image is already there);
`sam deploy` template.yaml (settings in samconfig.toml), which creates or updates the function
and the REST API through CloudFormation; print the endpoint URL from the stack's outputs.
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NAME = "skin-lesion-classifier"  # the stack, the function, the API and the ECR repository
STAND_IN_LABEL = "skinlesion.stand-in.recipe"  # set by scripts/container/build-base-image.sh
KEEP_IMAGES = 10  # the ECR lifecycle policy expires older images (storage is what costs at rest)


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


def sam_deploy_command(sam: str, stack: str, region: str, repository_uri: str, image: str) -> list[str]:
    """`sam deploy` of template.yaml with samconfig.toml; the image is a parameter, already pushed."""
    return [
        sam, "deploy", "--config-file", str(REPO / "samconfig.toml"), "--stack-name", stack,
        "--region", region, "--image-repository", repository_uri,
        "--parameter-overrides", f"ImageUri={image}",
    ]  # fmt: skip


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


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
    repository_uri = ensure_repository(ecr, args.repository)
    image = f"{repository_uri}:{tag}"
    if image_exists(ecr, args.repository, tag):
        print(f"deploy: {image} is already in ECR; not building it again")
    else:
        build_and_push(ecr, image)
    sam = sam_cli()
    environment = sam_environment(session)
    command = sam_deploy_command(sam, args.stack_name, region, repository_uri, image)
    if subprocess.run(command, cwd=REPO, env=environment).returncode != 0:
        raise DeployError("sam deploy failed (its messages are above)")
    outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    print(f"\nimage: {image}\nfunction: {outputs['FunctionName']}\nendpoint: {outputs['PredictUrl']}")
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
    parser.add_argument("--destroy", action="store_true", help="delete the stack and the ECR repository")
    args = parser.parse_args(argv)

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
        (destroy if args.destroy else deploy)(args, session)
    except (DeployError, ClientError, BotoCoreError) as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
