"""Tests for the moto_ecs.py test peer.

Run from the repository root:

    python3 -m unittest server/tests/peers/test_moto_ecs.py -v

Starts the peer as a subprocess on a free port and talks to it with boto3
(dummy credentials, like the AWS Rust SDK in Shipgate's tests) and with plain
HTTP for the control API.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_ecs.py")
LISTEN_RE = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)\n$")
DEPLOYMENT_ID_RE = re.compile(r"^ecs-svc/\d{19}$")


def start_peer(testcase: unittest.TestCase | None = None) -> tuple[subprocess.Popen, str, Any]:
    """Start the peer; returns (process, base url, stderr file)."""
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, PEER, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not line or not LISTEN_RE.match(line[0]):
        proc.kill()
        stderr.seek(0)
        raise RuntimeError(f"peer did not start: {line!r}\n{stderr.read().decode()}")
    port = LISTEN_RE.match(line[0]).group(1)
    return proc, f"http://127.0.0.1:{port}", stderr


class PeerTestCase(unittest.TestCase):
    proc: subprocess.Popen
    base: str

    @classmethod
    def setUpClass(cls) -> None:
        cls.proc, cls.base, cls.stderr = start_peer()
        kwargs = dict(
            endpoint_url=cls.base,
            region_name="us-east-1",
            aws_access_key_id="AKIDTESTTESTTESTTEST",
            aws_secret_access_key="secret",
        )
        cls.ecs = boto3.client("ecs", **kwargs)
        cls.ecr = boto3.client("ecr", **kwargs)
        cls.ec2 = boto3.client("ec2", **kwargs)
        # No SDK retries, so each injected fault maps to exactly one call.
        cls.ecs_once = boto3.client(
            "ecs", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}), **kwargs
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.proc.wait(timeout=15)
        finally:
            if cls.proc.poll() is None:
                cls.proc.kill()
            cls.proc.stdout.close()
            cls.stderr.close()

    def setUp(self) -> None:
        self.control("POST", "/_shipgate/reset")

    # -- helpers -------------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, (json.loads(raw) if raw else None)

    def default_network(self) -> dict[str, Any]:
        # Moto's default VPC ids are random per process and per reset, so a
        # client has to look them up; this is how an SDK user would.
        vpc = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])[
            "Vpcs"
        ][0]["VpcId"]
        subnets = self.ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default-for-az", "Values": ["true"]}]
        )["Subnets"]
        groups = self.ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        return {
            "awsvpcConfiguration": {
                "subnets": [subnets[0]["SubnetId"]],
                "securityGroups": [groups[0]["GroupId"]],
                "assignPublicIp": "DISABLED",
            }
        }

    def register(self, image: str) -> str:
        return self.ecs.register_task_definition(
            family="api",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "api", "image": image, "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]

    def create_fixture(self) -> tuple[str, str]:
        """Cluster stg, service api (desired 2) on api:1; api:2 registered."""
        self.ecs.create_cluster(clusterName="stg")
        td1 = self.register("nginx:1")
        service = self.ecs.create_service(
            cluster="stg",
            serviceName="api",
            taskDefinition=td1,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration=self.default_network(),
        )["service"]
        self.assertEqual(service["runningCount"], 2)
        self.assertEqual(service["deployments"][0]["rolloutState"], "COMPLETED")
        td2 = self.register("nginx:2")
        return td1, td2

    def describe(self) -> dict[str, Any]:
        return self.ecs.describe_services(cluster="stg", services=["api"])["services"][0]

    def deploy(self, td: str, **kwargs: Any) -> dict[str, Any]:
        return self.ecs.update_service(cluster="stg", service="api", taskDefinition=td, **kwargs)[
            "service"
        ]

    def script(self, outcome: str, polls: int = 2, cluster: str = "stg") -> None:
        status, body = self.control(
            "POST",
            "/_shipgate/rollout",
            {"cluster": cluster, "service": "api", "outcome": outcome, "polls": polls},
        )
        self.assertEqual(status, 200, body)

    def messages(self, service: dict[str, Any]) -> list[str]:
        return [e["message"] for e in service["events"]]


class RolloutTests(PeerTestCase):
    def test_task_definition_arns(self) -> None:
        self.ecs.create_cluster(clusterName="stg")
        self.assertEqual(
            self.register("nginx:1"), "arn:aws:ecs:us-east-1:123456789012:task-definition/api:1"
        )
        self.assertEqual(
            self.register("nginx:2"), "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2"
        )

    def test_update_service_rolls_out_and_completes(self) -> None:
        td1, td2 = self.create_fixture()
        updated = self.deploy(
            "api:2",  # family:revision is resolved to the ARN
            deploymentConfiguration={
                "minimumHealthyPercent": 50,
                "maximumPercent": 200,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        )
        self.assertEqual(updated["taskDefinition"], td2)
        self.assertEqual(
            updated["deploymentConfiguration"],
            {
                "minimumHealthyPercent": 50,
                "maximumPercent": 200,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        )
        primary, active = updated["deployments"]
        self.assertEqual(primary["status"], "PRIMARY")
        self.assertEqual(primary["taskDefinition"], td2)
        self.assertEqual(primary["rolloutState"], "IN_PROGRESS")
        self.assertEqual(
            primary["rolloutStateReason"], f"ECS deployment {primary['id']} in progress."
        )
        self.assertRegex(primary["id"], DEPLOYMENT_ID_RE)
        self.assertEqual(
            (primary["desiredCount"], primary["runningCount"], primary["pendingCount"]), (2, 0, 2)
        )
        self.assertEqual(primary["failedTasks"], 0)
        self.assertEqual(primary["launchType"], "FARGATE")
        self.assertIn("awsvpcConfiguration", primary["networkConfiguration"])
        self.assertIn("createdAt", primary)
        self.assertIn("updatedAt", primary)
        self.assertEqual(active["status"], "ACTIVE")
        self.assertEqual(active["taskDefinition"], td1)

        first = self.describe()
        self.assertEqual(len(first["deployments"]), 2)
        self.assertEqual(first["deployments"][0]["rolloutState"], "IN_PROGRESS")
        self.assertEqual(first["deployments"][0]["runningCount"], 1)
        self.assertEqual(first["deployments"][0]["pendingCount"], 1)
        self.assertTrue(any("has started 2 tasks" in m for m in self.messages(first)))

        done = self.describe()
        self.assertEqual(len(done["deployments"]), 1, "old deployment should be gone")
        final = done["deployments"][0]
        self.assertEqual(final["id"], primary["id"])
        self.assertEqual(final["status"], "PRIMARY")
        self.assertEqual(final["rolloutState"], "COMPLETED")
        self.assertEqual(final["rolloutStateReason"], f"ECS deployment {final['id']} completed.")
        self.assertEqual((final["runningCount"], final["pendingCount"]), (2, 0))
        self.assertEqual((done["runningCount"], done["pendingCount"]), (2, 0))
        self.assertEqual(done["taskDefinition"], td2)
        messages = self.messages(done)
        # Newest first, as ECS returns them.
        self.assertEqual(messages[0], "(service api) has reached a steady state.")
        self.assertEqual(
            messages[1], f"(service api) (deployment {final['id']}) deployment completed."
        )
        for event in done["events"]:
            self.assertTrue(event["id"])
            self.assertIn("createdAt", event)
        stamps = [e["createdAt"] for e in done["events"]]
        self.assertEqual(stamps, sorted(stamps, reverse=True))

        # Completed is terminal.
        self.assertEqual(self.describe()["deployments"], done["deployments"])

    def test_completed_with_custom_polls(self) -> None:
        self.create_fixture()
        self.script("completed", polls=4)
        self.deploy("api:2")
        states = [self.describe()["deployments"][0]["rolloutState"] for _ in range(4)]
        self.assertEqual(states, ["IN_PROGRESS"] * 3 + ["COMPLETED"])

    def test_failed_script(self) -> None:
        td1, td2 = self.create_fixture()
        self.script("failed", polls=2)
        self.deploy(td2)
        self.assertEqual(self.describe()["deployments"][0]["rolloutState"], "IN_PROGRESS")
        failed = self.describe()
        primary, active = failed["deployments"]
        self.assertEqual(primary["status"], "PRIMARY")
        self.assertEqual(primary["taskDefinition"], td2)
        self.assertEqual(primary["rolloutState"], "FAILED")
        self.assertEqual(
            primary["rolloutStateReason"], "ECS deployment circuit breaker: tasks failed to start."
        )
        self.assertGreater(primary["failedTasks"], 0)
        self.assertEqual(primary["runningCount"], 0)
        self.assertEqual(active["status"], "ACTIVE")
        self.assertEqual(active["taskDefinition"], td1)
        self.assertEqual(active["runningCount"], 2)
        self.assertIn(
            f"(service api) (deployment {primary['id']}) deployment failed: tasks failed to start.",
            self.messages(failed),
        )
        # FAILED is terminal: no rollback without the rolled_back script.
        for _ in range(3):
            again = self.describe()
        self.assertEqual(again["deployments"], failed["deployments"])

    def test_rolled_back_script(self) -> None:
        td1, td2 = self.create_fixture()
        original_id = self.describe()["deployments"][0]["id"]
        self.script("rolled_back", polls=2)
        failing_id = self.deploy(td2)["deployments"][0]["id"]

        seen_failed = False
        service = None
        for _ in range(10):
            service = self.describe()
            for d in service["deployments"]:
                if d["id"] == failing_id and d["rolloutState"] == "FAILED":
                    seen_failed = True
                    self.assertIn("circuit breaker", d["rolloutStateReason"])
                    self.assertEqual(d["status"], "ACTIVE")
                    self.assertGreater(d["failedTasks"], 0)
            if service["deployments"][0]["rolloutState"] == "COMPLETED":
                break
        self.assertTrue(seen_failed, "the failed deployment should be reported FAILED")
        self.assertEqual(len(service["deployments"]), 1)
        final = service["deployments"][0]
        self.assertEqual(final["status"], "PRIMARY")
        self.assertEqual(final["rolloutState"], "COMPLETED")
        self.assertEqual(final["taskDefinition"], td1)
        self.assertNotIn(final["id"], (failing_id, original_id))
        self.assertEqual(service["taskDefinition"], td1)
        self.assertEqual(service["runningCount"], 2)
        messages = self.messages(service)
        self.assertIn(
            f"(service api) (deployment {failing_id}) deployment failed: tasks failed to start.",
            messages,
        )
        self.assertIn(f"(service api) rolling back to deployment {original_id}.", messages)
        self.assertEqual(messages[0], "(service api) has reached a steady state.")

    def test_stuck_script(self) -> None:
        self.create_fixture()
        self.script("stuck")
        self.deploy("api:2")
        for _ in range(10):
            service = self.describe()
        primary = service["deployments"][0]
        self.assertEqual(primary["rolloutState"], "IN_PROGRESS")
        self.assertGreater(primary["pendingCount"], 0)
        self.assertEqual(len(service["deployments"]), 2)

    def test_script_is_consumed_by_one_deployment(self) -> None:
        self.create_fixture()
        self.script("failed", polls=1)
        self.deploy("api:2")
        self.assertEqual(self.describe()["deployments"][0]["rolloutState"], "FAILED")
        self.deploy("api:1")  # next deployment uses the default script
        self.describe()
        self.assertEqual(self.describe()["deployments"][0]["rolloutState"], "COMPLETED")

    def test_script_accepts_cluster_arn(self) -> None:
        self.create_fixture()
        self.script("failed", polls=1, cluster="arn:aws:ecs:us-east-1:123456789012:cluster/stg")
        self.deploy("api:2")
        self.assertEqual(self.describe()["deployments"][0]["rolloutState"], "FAILED")

    def test_force_new_deployment_same_task_definition(self) -> None:
        td1, _ = self.create_fixture()
        before = self.describe()["deployments"][0]["id"]
        updated = self.ecs.update_service(cluster="stg", service="api", forceNewDeployment=True)[
            "service"
        ]
        self.assertEqual([d["status"] for d in updated["deployments"]], ["PRIMARY", "ACTIVE"])
        self.assertNotEqual(updated["deployments"][0]["id"], before)
        self.assertEqual(updated["deployments"][0]["taskDefinition"], td1)

    def test_scaling_only_does_not_start_a_deployment(self) -> None:
        self.create_fixture()
        updated = self.ecs.update_service(cluster="stg", service="api", desiredCount=3)["service"]
        self.assertEqual(len(updated["deployments"]), 1)
        self.assertEqual(updated["deployments"][0]["desiredCount"], 3)
        self.assertEqual(updated["desiredCount"], 3)

    def test_concurrent_describes(self) -> None:
        self.create_fixture()
        self.script("stuck")
        self.deploy("api:2")
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(5):
                    self.describe()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])


class PagingTests(PeerTestCase):
    def test_list_clusters_and_services_page_as_ecs_does(self) -> None:
        for i in range(7):
            self.ecs.create_cluster(clusterName=f"c{i}")
        first = self.ecs.list_clusters(maxResults=3)
        self.assertEqual(len(first["clusterArns"]), 3)
        seen = list(first["clusterArns"])
        token = first["nextToken"]
        while token:
            page = self.ecs.list_clusters(maxResults=3, nextToken=token)
            seen += page["clusterArns"]
            token = page.get("nextToken")
        self.assertEqual(sorted(seen), sorted(self.ecs.list_clusters()["clusterArns"]))
        self.assertEqual(len(set(seen)), 7)
        self.assertNotIn("nextToken", self.ecs.list_clusters(), "one default page of 100")

        td = self.register("nginx:1")
        for i in range(12):
            self.ecs.create_service(cluster="c0", serviceName=f"s{i}", taskDefinition=td, desiredCount=0)
        page = self.ecs.list_services(cluster="c0")
        self.assertEqual(len(page["serviceArns"]), 10, "ListServices pages by 10 by default")
        rest = self.ecs.list_services(cluster="c0", nextToken=page["nextToken"])
        self.assertEqual(len(rest["serviceArns"]), 2)
        self.assertNotIn("nextToken", rest)
        with self.assertRaises(self.ecs.exceptions.InvalidParameterException):
            self.ecs.list_clusters(maxResults=101)
        with self.assertRaises(self.ecs.exceptions.InvalidParameterException):
            self.ecs.list_services(cluster="c0", nextToken="forged")


class FaultAndCallLogTests(PeerTestCase):
    def test_fault_injection_for_exactly_times_calls(self) -> None:
        self.create_fixture()
        message = (
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
            "ecs:UpdateService on resource: arn:aws:ecs:us-east-1:123456789012:service/stg/api"
        )
        status, _ = self.control(
            "POST",
            "/_shipgate/fault",
            {"action": "UpdateService", "code": "AccessDeniedException", "message": message, "times": 2},
        )
        self.assertEqual(status, 200)
        for _ in range(2):
            with self.assertRaises(ClientError) as ctx:
                self.deploy("api:2")
            error = ctx.exception.response
            self.assertEqual(error["Error"]["Code"], "AccessDeniedException")
            self.assertEqual(error["Error"]["Message"], message)
            self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.deploy("api:2")["deployments"][0]["status"], "PRIMARY")

        _, log = self.control("GET", "/_shipgate/calls?action=UpdateService")
        self.assertEqual([c["faulted"] for c in log["calls"]], [True, True, False])

    def test_server_error_and_throttling_faults(self) -> None:
        self.create_fixture()
        self.control(
            "POST",
            "/_shipgate/fault",
            {"action": "DescribeServices", "code": "ServiceUnavailableException", "status": 503},
        )
        self.control("POST", "/_shipgate/fault", {"action": "DescribeServices", "code": "ThrottlingException"})
        with self.assertRaises(ClientError) as ctx:
            self.ecs_once.describe_services(cluster="stg", services=["api"])
        self.assertEqual(ctx.exception.response["Error"]["Code"], "ServiceUnavailableException")
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        with self.assertRaises(ClientError) as ctx:
            self.ecs_once.describe_services(cluster="stg", services=["api"])
        self.assertEqual(ctx.exception.response["Error"]["Code"], "ThrottlingException")
        self.ecs_once.describe_services(cluster="stg", services=["api"])

    def test_fault_on_ecr_action(self) -> None:
        self.ecr.create_repository(repositoryName="api")
        self.control(
            "POST", "/_shipgate/fault", {"action": "DescribeImages", "code": "AccessDeniedException"}
        )
        with self.assertRaises(ClientError) as ctx:
            self.ecr.describe_images(repositoryName="api")
        self.assertEqual(ctx.exception.response["Error"]["Code"], "AccessDeniedException")
        self.ecr.describe_images(repositoryName="api")

    def test_call_log_records_bodies_and_arrival(self) -> None:
        self.create_fixture()
        before = time.time()
        self.deploy("api:2")
        after = time.time()
        self.ecr.create_repository(repositoryName="api")

        _, log = self.control("GET", "/_shipgate/calls?action=UpdateService")
        (call,) = log["calls"]
        self.assertEqual(call["service"], "ecs")
        self.assertEqual(call["action"], "UpdateService")
        self.assertFalse(call["faulted"])
        self.assertEqual(call["body"], {"cluster": "stg", "service": "api", "taskDefinition": "api:2"})
        self.assertIsInstance(call["at"], float)
        self.assertTrue(before <= call["at"] <= after, (before, call["at"], after))

        _, everything = self.control("GET", "/_shipgate/calls")
        actions = [(c["service"], c["action"]) for c in everything["calls"]]
        self.assertIn(("ecs", "CreateCluster"), actions)
        self.assertIn(("ecr", "CreateRepository"), actions)
        self.assertNotIn("ec2", {s for s, _ in actions}, "only ECS/ECR are logged")
        stamps = [c["at"] for c in everything["calls"]]
        self.assertEqual(stamps, sorted(stamps))
        _, ecr_only = self.control("GET", "/_shipgate/calls?service=ecr")
        self.assertEqual([c["action"] for c in ecr_only["calls"]], ["CreateRepository"])

    def test_reset_clears_everything(self) -> None:
        self.create_fixture()
        self.script("stuck")
        self.control("POST", "/_shipgate/fault", {"action": "ListClusters", "code": "AccessDeniedException"})
        status, _ = self.control("POST", "/_shipgate/reset")
        self.assertEqual(status, 200)
        self.assertEqual(self.control("GET", "/_shipgate/calls")[1], {"calls": []})
        self.assertEqual(self.ecs.list_clusters()["clusterArns"], [])  # moto state and fault gone
        self.create_fixture()
        self.deploy("api:2")
        self.describe()
        self.assertEqual(self.describe()["deployments"][0]["rolloutState"], "COMPLETED")

    def test_control_api_validation(self) -> None:
        status, body = self.control(
            "POST", "/_shipgate/rollout", {"cluster": "stg", "service": "api", "outcome": "exploded"}
        )
        self.assertEqual(status, 400)
        self.assertIn("outcome", body["error"])
        status, _ = self.control("POST", "/_shipgate/fault", {"action": "UpdateService"})
        self.assertEqual(status, 400)
        status, _ = self.control("GET", "/_shipgate/nope")
        self.assertEqual(status, 404)

    def test_network_helper_matches_ec2(self) -> None:
        _, net = self.control("GET", "/_shipgate/network")
        expected = self.default_network()["awsvpcConfiguration"]
        self.assertIn(expected["subnets"][0], net["subnets"])
        self.assertEqual(net["securityGroups"], expected["securityGroups"])


    def test_calls_name_their_signing_key_and_sts_is_logged(self) -> None:
        sts = boto3.client(
            "sts",
            endpoint_url=self.base,
            region_name="us-east-1",
            aws_access_key_id="AKIDTESTTESTTESTTEST",
            aws_secret_access_key="secret",
        )
        role = "arn:aws:iam::210987654321:role/deployer"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="peer-test")["Credentials"]
        other = boto3.client(
            "ecs",
            endpoint_url=self.base,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        other.create_cluster(clusterName="elsewhere")
        _, assumed = self.control("GET", "/_shipgate/calls?service=sts&action=AssumeRole")
        self.assertEqual(len(assumed["calls"]), 1)
        self.assertEqual(assumed["calls"][0]["body"]["RoleArn"], role)
        self.assertEqual(assumed["calls"][0]["accessKey"], "AKIDTESTTESTTESTTEST")
        _, created = self.control("GET", "/_shipgate/calls?action=CreateCluster")
        self.assertEqual(created["calls"][-1]["accessKey"], creds["AccessKeyId"])
        # The role's account is a different moto account: the default one has no such cluster.
        self.assertEqual(self.ecs.describe_clusters(clusters=["elsewhere"])["clusters"], [])
        self.assertEqual(len(other.describe_clusters(clusters=["elsewhere"])["clusters"]), 1)
        _, net = self.control("GET", "/_shipgate/network?account=210987654321")
        self.assertTrue(net["subnets"], "the other account has a default VPC too")


class IamTests(PeerTestCase):
    """SimulatePrincipalPolicy (which stock moto lacks) and faults on query-protocol calls."""

    def iam(self) -> Any:
        return boto3.client(
            "iam",
            endpoint_url=self.base,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def test_simulation_judges_a_users_policies(self) -> None:
        iam = self.iam()
        iam.create_user(UserName="engine")
        iam.put_user_policy(
            UserName="engine",
            PolicyName="deploy",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ecs:UpdateService",
                            "Resource": "arn:aws:ecs:us-east-1:123456789012:service/c/api",
                        },
                        {
                            "Effect": "Allow",
                            "Action": "iam:PassRole",
                            "Resource": "arn:aws:iam::123456789012:role/task",
                            "Condition": {
                                "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
                            },
                        },
                        {"Effect": "Deny", "Action": "ecs:DeleteService", "Resource": "*"},
                    ],
                }
            ),
        )
        user = "arn:aws:iam::123456789012:user/engine"

        def decide(action: str, resource: str) -> str:
            result = iam.simulate_principal_policy(
                PolicySourceArn=user,
                ActionNames=[action],
                ResourceArns=[resource],
                ContextEntries=[
                    {
                        "ContextKeyName": "iam:PassedToService",
                        "ContextKeyValues": ["ecs-tasks.amazonaws.com"],
                        "ContextKeyType": "string",
                    }
                ],
            )
            (only,) = result["EvaluationResults"]
            self.assertEqual(only["EvalActionName"], action)
            return only["EvalDecision"]

        self.assertEqual(
            decide("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/c/api"),
            "allowed",
        )
        self.assertEqual(
            decide("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/c/web"),
            "implicitDeny",
        )
        self.assertEqual(decide("iam:PassRole", "arn:aws:iam::123456789012:role/task"), "allowed")
        self.assertEqual(decide("ecs:DeleteService", "*"), "explicitDeny")
        with self.assertRaises(ClientError) as missing:
            iam.simulate_principal_policy(
                PolicySourceArn="arn:aws:iam::123456789012:user/nobody",
                ActionNames=["ecs:UpdateService"],
            )
        self.assertEqual(missing.exception.response["Error"]["Code"], "NoSuchEntity")

    def test_query_protocol_calls_can_be_faulted_and_are_logged(self) -> None:
        self.control(
            "POST",
            "/_shipgate/fault",
            {"service": "iam", "action": "SimulatePrincipalPolicy", "code": "AccessDenied", "status": 403},
        )
        iam = self.iam()
        with self.assertRaises(ClientError) as refused:
            iam.simulate_principal_policy(
                PolicySourceArn="arn:aws:iam::123456789012:user/engine",
                ActionNames=["ecs:UpdateService"],
            )
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        _, calls = self.control("GET", "/_shipgate/calls?service=iam&action=SimulatePrincipalPolicy")
        self.assertEqual([c["faulted"] for c in calls["calls"]], [True])
        # The fault was used up: moto's own IAM answers the next call.
        iam.create_user(UserName="after")
        self.assertEqual(iam.get_user(UserName="after")["User"]["UserName"], "after")


class EcrTests(PeerTestCase):
    def test_put_and_describe_image_and_scan_findings(self) -> None:
        repo = self.ecr.create_repository(repositoryName="shipgate/api")["repository"]
        self.assertEqual(
            repo["repositoryUri"], "123456789012.dkr.ecr.us-east-1.amazonaws.com/shipgate/api"
        )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 7023,
                    "digest": "sha256:" + "a" * 64,
                },
                "layers": [],
            }
        )
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        # Without imageDigest moto derives a digest that is not the manifest's.
        self.ecr.put_image(
            repositoryName="shipgate/api", imageManifest=manifest, imageTag="v1", imageDigest=digest
        )
        images = self.ecr.describe_images(repositoryName="shipgate/api")["imageDetails"]
        self.assertEqual(len(images), 1)
        self.assertEqual(images[0]["imageDigest"], digest)
        self.assertEqual(images[0]["imageTags"], ["v1"])

        findings = {
            "imageScanFindings": {
                "findings": [],
                "findingSeverityCounts": {"CRITICAL": 2, "HIGH": 1},
            },
            "registryId": "123456789012",
            "repositoryName": "shipgate/api",
            "imageId": {"imageTag": "v1"},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        }
        request = urllib.request.Request(
            self.base + "/moto-api/static/ecr/scan-finding-results",
            data=json.dumps({"results": [findings], "region": "us-east-1"}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(response.status, 201)
        # Moto only answers DescribeImageScanFindings after StartImageScan.
        self.ecr.start_image_scan(repositoryName="shipgate/api", imageId={"imageTag": "v1"})
        result = self.ecr.describe_image_scan_findings(
            repositoryName="shipgate/api", imageId={"imageTag": "v1"}
        )
        self.assertEqual(
            result["imageScanFindings"]["findingSeverityCounts"], {"CRITICAL": 2, "HIGH": 1}
        )

    def test_moto_api_reset_still_works(self) -> None:
        self.ecr.create_repository(repositoryName="api")
        request = urllib.request.Request(self.base + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(response.status, 200)
        self.assertEqual(self.ecr.describe_repositories()["repositories"], [])


class ProcessTests(unittest.TestCase):
    def test_prints_one_line_and_exits_cleanly_on_sigterm(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            proc, base, stderr = start_peer()
            try:
                with urllib.request.urlopen(base + "/_shipgate/calls", timeout=10) as response:
                    self.assertEqual(json.loads(response.read()), {"calls": []})
                proc.send_signal(sig)
                self.assertEqual(proc.wait(timeout=15), 0)
                self.assertEqual(proc.stdout.read(), "", "stdout must hold exactly one line")
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()
                stderr.close()


if __name__ == "__main__":
    unittest.main()
