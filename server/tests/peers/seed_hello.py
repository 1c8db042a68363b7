#!/usr/bin/env python3
"""Creates, in a running moto_ecs.py peer, what the `hello` pipeline of
server/tests/fixtures/hello.toml points at, as an operator would with an AWS SDK:
the ECR repository `hello-world`, clusters `stg` and `prod` each with a Fargate
service `hello` (container `app`), and an image pushed under each tag given.

Usage: python3 seed_hello.py <peer url> [tag ...]
Prints one JSON line: {"digests": {tag: digest}}.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request

import boto3

REGION = "us-east-1"


def main() -> None:
    url, tags = sys.argv[1], sys.argv[2:]
    kwargs = dict(endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    ecs, ecr = boto3.client("ecs", **kwargs), boto3.client("ecr", **kwargs)
    with urllib.request.urlopen(f"{url}/_shipgate/network", timeout=10) as reply:
        network = json.load(reply)
    ecr.create_repository(repositoryName="hello-world")
    for cluster in ("stg", "prod"):
        ecs.create_cluster(clusterName=cluster)
        arn = ecs.register_task_definition(
            family="hello",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world:previous", "essential": True, "memory": 512},
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=cluster,
            serviceName="hello",
            taskDefinition=arn,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": network["subnets"], "securityGroups": network["securityGroups"]}},
        )
    digests = {}
    for tag in tags:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
                "layers": [],
            }
        )
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        # moto computes a wrong digest unless it is given one.
        ecr.put_image(repositoryName="hello-world", imageManifest=manifest, imageTag=tag, imageDigest=digest)
        digests[tag] = digest
    print(json.dumps({"digests": digests}), flush=True)


if __name__ == "__main__":
    main()
