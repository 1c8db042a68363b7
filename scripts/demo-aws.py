#!/usr/bin/env python3
"""The demo's AWS side, against the local stand-in (server/tests/peers/moto_ecs.py), done
with boto3 as an operator and a CI job would do it against a real account.

  demo-aws.py seed URL [--config FILE]
      Creates what every pipeline of the config points at: its ECR repository, holding an
      image tagged `initial`, and for each environment its ECS cluster and a Fargate service
      (desired count 4) whose task definition runs that image in the environment's container.
      Prints one line per thing created.

  demo-aws.py ci URL --sha SHA [--repository R] [--branch B] [--polls N] [--config FILE]
      What CI does for a commit: pushes an image for it to the ECR repository of every
      pipeline that tracks R@B, under the pipeline's `image_tag`; and tells the stand-in that
      the next rollout of each of their services takes N polls (DescribeServices calls), so
      that progress can be watched. Prints one line per image: `<uri>:<tag> <digest>`.

The config is Shipgate's own TOML file (examples/demo.toml by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "demo.toml"
DESIRED_COUNT = 4


def pipelines(config: Path) -> list[dict]:
    with open(config, "rb") as f:
        found = tomllib.load(f).get("pipeline", [])
    if not found:
        sys.exit(f"demo-aws.py: {config} declares no [[pipeline]]")
    return found


def environments(pipeline: dict) -> list[dict]:
    return pipeline.get("environment", [])


def ecr_region(pipeline: dict) -> str:
    envs = environments(pipeline)
    return pipeline.get("ecr_region") or (envs[0]["region"] if envs else "us-east-1")


def client(url: str, service: str, region: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def control(url: str, method: str, path: str, body: dict | None = None) -> dict:
    """The stand-in's own control API (plain JSON, no signature)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def push_image(url: str, region: str, repository: str, tag: str, seed: str) -> dict:
    """Puts an image manifest into ECR under `tag`, as `docker push` would, and returns its
    URI and digest. `seed` makes the content (and so the digest) distinct."""
    ecr = client(url, "ecr", region)
    layer = hashlib.sha256(f"layer {seed}".encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": "sha256:" + hashlib.sha256(f"config {seed}".encode()).hexdigest(),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 2811478,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    # moto records the digest of an empty manifest unless it is given the real one.
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag, imageDigest=digest)
    uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    return {"uri": uri, "digest": digest}


def seed(url: str, config: Path) -> None:
    networks: dict[str, dict] = {}
    clusters: set[tuple[str, str]] = set()
    for pipeline in pipelines(config):
        region = ecr_region(pipeline)
        repository = pipeline["ecr_repository"]
        ecr = client(url, "ecr", region)
        ecr.create_repository(repositoryName=repository)
        initial = push_image(url, region, repository, "initial", f"{repository} initial")
        print(f"ECR repository {repository} ({region}), holding {initial['uri']}:initial", flush=True)
        for env in environments(pipeline):
            env_region = env["region"]
            ecs = client(url, "ecs", env_region)
            if (env_region, env["cluster"]) not in clusters:
                ecs.create_cluster(clusterName=env["cluster"])
                clusters.add((env_region, env["cluster"]))
            if env_region not in networks:
                networks[env_region] = control(url, "GET", f"/_shipgate/network?region={env_region}")
            network = networks[env_region]
            family = f"{env['service']}-{env['name']}"
            task_definition = ecs.register_task_definition(
                family=family,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
                containerDefinitions=[
                    {
                        "name": env["container"],
                        "image": f"{initial['uri']}:initial",
                        "essential": True,
                        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                        "environment": [{"name": "ENVIRONMENT", "value": env["name"]}],
                    }
                ],
            )["taskDefinition"]
            ecs.create_service(
                cluster=env["cluster"],
                serviceName=env["service"],
                taskDefinition=task_definition["taskDefinitionArn"],
                desiredCount=DESIRED_COUNT,
                launchType="FARGATE",
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": network["subnets"],
                        "securityGroups": network["securityGroups"],
                        "assignPublicIp": "DISABLED",
                    }
                },
            )
            print(
                f"ECS service {env['cluster']}/{env['service']} ({env_region}): Fargate, "
                f"{DESIRED_COUNT} tasks of {family}:{task_definition['revision']} "
                f"(container {env['container']})",
                flush=True,
            )


def image_tag(pipeline: dict, sha: str, branch: str) -> str:
    """The pipeline's `image_tag` filled in, as Shipgate fills it (pipeline/src/settings.rs)."""
    safe_branch = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in branch)
    return (
        pipeline.get("image_tag", "{sha}")
        .replace("{sha}", sha)
        .replace("{short_sha}", sha[:7])
        .replace("{branch}", safe_branch)
    )


def ci(url: str, config: Path, repository: str, branch: str, sha: str, polls: int) -> None:
    images = []
    for pipeline in pipelines(config):
        if pipeline["repository"].lower() != repository.lower() or pipeline["branch"] != branch:
            continue
        tag = image_tag(pipeline, sha, branch)
        image = push_image(url, ecr_region(pipeline), pipeline["ecr_repository"], tag, sha)
        images.append(f"{image['uri']}:{tag} {image['digest']}")
        for env in environments(pipeline):
            control(
                url,
                "POST",
                "/_shipgate/rollout",
                {"cluster": env["cluster"], "service": env["service"], "outcome": "completed", "polls": polls},
            )
    if not images:
        sys.exit(f"demo-aws.py: no pipeline of {config} tracks {repository}@{branch}")
    print("\n".join(images), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="create what the config's pipelines point at")
    seeding.add_argument("url", help="the stand-in, e.g. http://127.0.0.1:41234")
    seeding.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    building = commands.add_parser("ci", help="push a commit's image and script the next rollouts")
    building.add_argument("url")
    building.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    building.add_argument("--sha", required=True)
    building.add_argument("--repository", default="octo-org/demo")
    building.add_argument("--branch", default="main")
    building.add_argument("--polls", type=int, default=8, help="DescribeServices polls each rollout takes")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    if args.command == "seed":
        seed(url, args.config)
    else:
        if args.polls < 1:
            parser.error("--polls must be at least 1")
        ci(url, args.config, args.repository, args.branch, args.sha, args.polls)


if __name__ == "__main__":
    main()
