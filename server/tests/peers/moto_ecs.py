#!/usr/bin/env python3
"""Moto server with simulated ECS deployment rollouts, fault injection and a call log.

Test peer for Shipgate's AWS integration. It serves every moto service on one
port (the AWS Rust SDK reaches it via ``AWS_ENDPOINT_URL``), but patches moto's
ECS backend so that deployments behave like real ECS rolling updates:

* stock moto never changes ``deployments`` after CreateService: UpdateService
  with a new task definition only rewrites ``service.taskDefinition`` (to the
  raw string the caller sent, not an ARN), so a deploy can never be observed
  progressing, completing, failing or rolling back;
* here UpdateService starts a new PRIMARY deployment and every DescribeServices
  call advances it one step along a per-service script (``completed``,
  ``failed``, ``rolled_back``, ``stuck``) chosen through the control API.

Control API (plain JSON, no AWS signature, same port):

  POST /_shipgate/rollout  {"cluster", "service", "outcome", "polls"}
  POST /_shipgate/fault    {"action", "code", "message", "status", "times", "service"}
  GET  /_shipgate/calls    [?action=UpdateService][&service=ecs|ecr|sts|iam]
  GET  /_shipgate/network  [?region=us-east-1][&account=123456789012]
                           default VPC subnets / security group

Each logged call carries ``accessKey``, the key id its signature names, so a test
can tell which credentials (e.g. an assumed role's) made it. STS and IAM calls (query
protocol) are logged with their form fields as ``body``, and can be faulted too
(``"service": "iam"``). IAM ``SimulatePrincipalPolicy``, which moto lacks, is answered
from the principal's policies in moto's IAM, judged by moto's own policy evaluator.
  POST /_shipgate/reset    scripts + faults + call log + all moto state

Usage: ``python3 moto_ecs.py --port 0`` prints exactly one stdout line,
``listening on http://127.0.0.1:<port>``, once the socket accepts connections,
and serves until SIGTERM/SIGINT.

Only moto's public extension points and a few methods of its ECS classes are
wrapped (at import time, see ``install_ecs_patches``); site-packages is never
modified.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.ecs import exceptions as ecs_exceptions
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)

# X-Amz-Target prefixes of the two JSON-protocol services whose calls we log.
TARGET_PREFIX_TO_SERVICE = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
}

OUTCOMES = ("completed", "failed", "rolled_back", "stuck")
DEFAULT_SCRIPT = ("completed", 2)

# What ECS reports for a service created without a deploymentConfiguration.
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}

# Real ECS keeps only the most recent 100 service events.
MAX_EVENTS = 100

_rng = random.SystemRandom()


def _plain(value: Any) -> Any:
    """Deep copy of request data as plain dicts/lists (moto may hand us mappings)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _last_segment(name_or_arn: str) -> str:
    """ECS accepts names or ARNs for clusters/services; our keys are names."""
    return str(name_or_arn).rstrip("/").split("/")[-1]


# --------------------------------------------------------------------------
# Shared peer state: rollout scripts, queued faults and the call log.
# --------------------------------------------------------------------------


@dataclass
class Fault:
    action: str
    code: str
    message: str
    status: int
    remaining: int  # -1 means "every call until reset"
    service: str | None = None  # restrict to "ecs"/"ecr"; None = any


class PeerState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[tuple[str, str], tuple[str, int]] = {}
        self._faults: list[Fault] = []
        self._calls: list[dict[str, Any]] = []

    def set_script(self, cluster: str, service: str, outcome: str, polls: int) -> None:
        with self._lock:
            self._scripts[(cluster, service)] = (outcome, polls)

    def take_script(self, cluster: str, service: str) -> tuple[str, int]:
        """A script applies to exactly one deployment: the next one started."""
        with self._lock:
            return self._scripts.pop((cluster, service), DEFAULT_SCRIPT)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_fault(self, service: str, action: str) -> Fault | None:
        """First queued fault matching this call, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.action != action:
                    continue
                if fault.service is not None and fault.service != service:
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
            return None

    def record_call(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(entry)

    def calls(self, action: str | None, service: str | None) -> list[dict[str, Any]]:
        with self._lock:
            calls = list(self._calls)
        calls = [
            c
            for c in calls
            if (action is None or c["action"] == action)
            and (service is None or c["service"] == service)
        ]
        # Entries are appended after the body is read, so concurrent requests
        # may land out of order; the arrival stamp is the truth.
        return sorted(calls, key=lambda c: c["at"])

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._faults.clear()
            self._calls.clear()


STATE = PeerState()

# Moto's backends are plain Python objects without locking, and the rollout
# simulation mutates service objects that moto's serializer walks while
# building the response. Every ECS request therefore runs under this lock
# (other services stay fully concurrent).
ECS_LOCK = threading.RLock()


# --------------------------------------------------------------------------
# ECS rollout simulation.
# --------------------------------------------------------------------------


@dataclass
class Rollout:
    """Progress of one deployment; kept in ``service._shipgate_rollouts``.

    The leading underscore keeps it out of API responses: moto's serializer
    only looks up attributes named after members of the AWS response shape.
    """

    outcome: str
    polls: int
    old_running: int  # tasks of older deployments when this one started
    rollback_to: tuple[str, str] | None  # (deployment id, task def ARN)
    polls_done: int = 0


def _new_deployment_id() -> str:
    # Real ids are "ecs-svc/" + 19 digits; moto uses a random int of any width.
    return f"ecs-svc/{_rng.randrange(10**18, 10**19)}"


def _task_list(count: int) -> str:
    return " ".join(f"(task {uuid.uuid4().hex})" for _ in range(count))


def _add_events(service: Any, *messages: str) -> None:
    """Append events (given oldest first); ECS lists newest first."""
    # The wire format has millisecond precision: keep event timestamps at
    # least 1 ms apart so clients that sort by createdAt keep emission order.
    at = utcnow()
    last = getattr(service, "_shipgate_last_event_at", None)
    for message in messages:
        if last is not None and at <= last:
            at = last + timedelta(milliseconds=1)
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": at, "message": message})
        last = at
    service._shipgate_last_event_at = last
    del service.events[MAX_EVENTS:]


def _msg(service: Any, text: str) -> str:
    return f"(service {service.name}) {text}"


def _started(service: Any, count: int) -> str:
    return _msg(service, f"has started {count} tasks: {_task_list(count)}.")


def _stopped(service: Any, count: int) -> str:
    return _msg(service, f"has stopped {count} running tasks: {_task_list(count)}.")


def _primary(service: Any) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)


def _sync_counts(backend: Any, service: Any) -> None:
    """Service counts are the sum over its deployments; keep the cluster's
    runningTasksCount/pendingTasksCount consistent with the change."""
    running = sum(d.get("runningCount", 0) for d in service.deployments)
    pending = sum(d.get("pendingCount", 0) for d in service.deployments)
    cluster = backend._get_cluster(service.cluster_name)
    backend.update_cluster_resources(cluster, running - service.running_count, "RUNNING")
    backend.update_cluster_resources(cluster, pending - service.pending_count, "PENDING")
    service.running_count = running
    service.pending_count = pending


def _merge_deployment_configuration(current: Any, requested: Any) -> dict[str, Any]:
    """UpdateService only changes the keys it was given (stock moto replaces
    the whole attribute with the partial request)."""
    merged = _plain(current) if current else _plain(DEFAULT_DEPLOYMENT_CONFIGURATION)
    for key, value in (_plain(requested) or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _circuit_breaker_threshold(desired: int) -> int:
    # ECS: half the desired count, clamped to [3, 200].
    return min(200, max(3, (desired + 1) // 2))


def _new_deployment(service: Any, task_definition: str, template: dict | None) -> dict:
    now = utcnow()
    deployment_id = _new_deployment_id()
    network = getattr(service, "network_configuration", None) or None
    deployment = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": service.desired_count,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": getattr(service, "platform_version", None),
        "platformFamily": (template or {}).get("platformFamily")
        or ("EC2" if service.launch_type == "EC2" else "FARGATE"),
        "networkConfiguration": _plain(network),
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    return deployment


def _start_deployment(service: Any) -> None:
    """UpdateService with a new task definition / forceNewDeployment."""
    outcome, polls = STATE.take_script(service.cluster_name, service.name)
    previous = _primary(service)

    # Circuit-breaker rollback targets the last deployment that COMPLETED
    # (ECS refuses to roll back when there is none).
    completed = [d for d in service.deployments if d.get("rolloutState") == "COMPLETED"]
    completed.sort(key=lambda d: d.get("status") != "PRIMARY")
    rollback_to = (completed[0]["id"], completed[0]["taskDefinition"]) if completed else None

    now = utcnow()
    for deployment in service.deployments:
        if deployment["status"] == "PRIMARY":
            deployment["status"] = "ACTIVE"
            deployment["updatedAt"] = now

    deployment = _new_deployment(service, service.task_definition, previous)
    service.deployments.insert(0, deployment)
    service._shipgate_rollouts[deployment["id"]] = Rollout(
        outcome=outcome,
        polls=polls,
        old_running=sum(d["runningCount"] for d in service.deployments[1:]),
        rollback_to=rollback_to,
    )


def _drain_old(service: Any, primary: dict, keep: int) -> int:
    """Stop tasks of non-primary deployments until at most ``keep`` remain.
    Returns how many were stopped."""
    stopped = 0
    total = sum(d["runningCount"] for d in service.deployments if d is not primary)
    excess = max(0, total - keep)
    for deployment in service.deployments:
        if deployment is primary or excess == 0:
            continue
        take = min(excess, deployment["runningCount"])
        if take:
            deployment["runningCount"] -= take
            deployment["desiredCount"] = deployment["runningCount"]
            deployment["updatedAt"] = utcnow()
            excess -= take
            stopped += take
    return stopped


def _complete(service: Any, primary: dict, messages: list[str]) -> None:
    desired = primary["desiredCount"]
    stopped = _drain_old(service, primary, keep=0)
    if stopped:
        messages.append(_stopped(service, stopped))
    primary.update(
        runningCount=desired,
        pendingCount=0,
        rolloutState="COMPLETED",
        rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        updatedAt=utcnow(),
    )
    # Old deployments disappear once the new one owns all tasks.
    service.deployments[:] = [primary]
    service.task_definition = primary["taskDefinition"]
    messages.append(_msg(service, f"(deployment {primary['id']}) deployment completed."))
    messages.append(_msg(service, "has reached a steady state."))


def _step_completed(service: Any, primary: dict, rollout: Rollout, messages: list[str]) -> None:
    desired = primary["desiredCount"]
    if rollout.polls_done == 1 and primary["pendingCount"] > 0:
        # The scheduler launches the new tasks; they show up as pending first.
        messages.append(_started(service, primary["pendingCount"]))
    if rollout.polls_done >= rollout.polls:
        _complete(service, primary, messages)
        return
    running = desired * rollout.polls_done // rollout.polls
    primary.update(runningCount=running, pendingCount=desired - running, updatedAt=utcnow())
    # minimumHealthyPercent=100 style: an old task stops once a new one runs.
    stopped = _drain_old(service, primary, keep=max(0, rollout.old_running - running))
    if stopped:
        messages.append(_stopped(service, stopped))


def _step_failing(service: Any, primary: dict, rollout: Rollout, messages: list[str]) -> None:
    """Shared by ``failed`` and ``rolled_back``: tasks keep failing to start
    until the circuit breaker trips on poll ``polls``."""
    desired = primary["desiredCount"]
    batch = max(desired, 1)
    messages.append(_started(service, batch))
    if rollout.polls_done < rollout.polls:
        # Each poll, the previous batch has failed and a replacement started.
        primary.update(
            failedTasks=(rollout.polls_done - 1) * batch,
            runningCount=0,
            pendingCount=batch,
            updatedAt=utcnow(),
        )
        if rollout.polls_done > 1:
            messages.append(
                _msg(
                    service,
                    "is unable to consistently start tasks successfully. For more "
                    "information, see the Troubleshooting section of the Amazon "
                    "ECS Developer Guide.",
                )
            )
        return

    # Circuit breaker trips: stop launching tasks.
    primary.update(
        failedTasks=max(rollout.polls_done * batch, _circuit_breaker_threshold(desired)),
        runningCount=0,
        pendingCount=0,
        rolloutState="FAILED",
        rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
        updatedAt=utcnow(),
    )
    messages.append(
        _msg(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
    )
    if rollout.outcome != "rolled_back" or rollout.rollback_to is None:
        # No rollback: the failed deployment stays PRIMARY, older ones keep
        # serving their tasks as ACTIVE.
        return

    # Rollback: ECS starts a fresh deployment of the last completed task
    # definition; the failed one is demoted to ACTIVE and removed when the
    # rollback deployment completes (next poll).
    target_id, target_td = rollout.rollback_to
    old_running = sum(d["runningCount"] for d in service.deployments if d is not primary)
    primary["status"] = "ACTIVE"
    rollback = _new_deployment(service, target_td, primary)
    adopted = min(old_running, rollback["desiredCount"])
    rollback.update(
        runningCount=adopted,
        pendingCount=rollback["desiredCount"] - adopted,
        rolloutStateReason=f"ECS deployment circuit breaker: rolling back to deploymentId {target_id}.",
    )
    # The previous deployments' tasks (same task definition) carry over into
    # the rollback deployment rather than being counted twice.
    service.deployments[:] = [rollback, primary]
    service.task_definition = target_td
    service._shipgate_rollouts[rollback["id"]] = Rollout(
        outcome="completed", polls=1, old_running=0, rollback_to=None
    )
    messages.append(_msg(service, f"rolling back to deployment {target_id}."))


def _step_stuck(service: Any, primary: dict, rollout: Rollout, messages: list[str]) -> None:
    pending = max(primary["desiredCount"], 1)
    if rollout.polls_done == 1:
        messages.append(_started(service, pending))
    primary.update(runningCount=0, pendingCount=pending, updatedAt=utcnow())


def advance_rollout(backend: Any, service: Any) -> None:
    """One DescribeServices poll worth of progress for the PRIMARY deployment.

    Only the PRIMARY deployment progresses; superseded ones are frozen until
    a completion removes them, as with real ECS."""
    rollouts = getattr(service, "_shipgate_rollouts", None)
    primary = _primary(service)
    if not rollouts or primary is None or primary.get("rolloutState") != "IN_PROGRESS":
        return
    rollout = rollouts.get(primary["id"])
    if rollout is None:
        return
    rollout.polls_done += 1
    messages: list[str] = []
    if rollout.outcome == "completed":
        _step_completed(service, primary, rollout, messages)
    elif rollout.outcome in ("failed", "rolled_back"):
        _step_failing(service, primary, rollout, messages)
    elif rollout.outcome == "stuck":
        _step_stuck(service, primary, rollout, messages)
    # Forget finished rollouts so the dict only holds live ones.
    live = {d["id"] for d in service.deployments}
    for deployment_id in list(rollouts):
        if deployment_id not in live:
            del rollouts[deployment_id]
    _add_events(service, *messages)
    _sync_counts(backend, service)


# --------------------------------------------------------------------------
# Patches to moto's ECS backend and response handler.
# --------------------------------------------------------------------------

_Backend = ecs_models.EC2ContainerServiceBackend
_Response = ecs_responses.EC2ContainerServiceResponse


def _page(response: Any, result: Any, key: str, default: int) -> Any:
    """Pages a List* answer as ECS does (stock moto returns everything at once):
    ``maxResults`` 1-100 (``default`` when absent) and an opaque ``nextToken``."""
    max_results = response._get_param("maxResults") or default
    token = response._get_param("nextToken")
    if not isinstance(max_results, int) or not 1 <= max_results <= 100:
        raise ecs_exceptions.InvalidParameterException(
            "maxResults must be between 1 and 100."
        )
    start = 0
    if token:
        if not str(token).startswith("shipgate-page-") or not token[14:].isdigit():
            raise ecs_exceptions.InvalidParameterException("Invalid nextToken.")
        start = int(token[14:])
    items = result.result[key]
    result.result[key] = items[start : start + max_results]
    if start + max_results < len(items):
        result.result["nextToken"] = f"shipgate-page-{start + max_results}"
    return result


def install_ecs_patches() -> None:
    """Wrap the few ECS methods whose stock behaviour cannot simulate a rollout.

    Moto instantiates ``EC2ContainerServiceBackend`` lazily per account and
    region through a ``BackendDict``, so the methods are wrapped on the class
    itself rather than subclassed (a subclass would never be instantiated).
    """
    if getattr(_Backend, "_shipgate_patched", False):
        return
    _Backend._shipgate_patched = True

    orig_create_service = _Backend.create_service
    orig_update_service = _Backend.update_service
    orig_create_service_response = _Response.create_service
    orig_describe_services_response = _Response.describe_services
    orig_list_clusters_response = _Response.list_clusters
    orig_list_services_response = _Response.list_services

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = orig_create_service(self, *args, **kwargs)
        service.created_at = utcnow()
        service.deployment_configuration = _plain(DEFAULT_DEPLOYMENT_CONFIGURATION)
        service._shipgate_rollouts = {}
        primary = _primary(service)
        if primary is not None:
            # Fixtures create services to deploy *to*: start them steady
            # (stock moto leaves the first deployment IN_PROGRESS forever with
            # runningCount 0, which would leave nothing to roll back to).
            deployment_id = _new_deployment_id()
            primary.update(
                id=deployment_id,
                runningCount=service.desired_count,
                pendingCount=0,
                failedTasks=0,
                rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {deployment_id} completed.",
            )
            messages = []
            if service.desired_count:
                messages.append(_started(service, service.desired_count))
            messages.append(_msg(service, "has reached a steady state."))
            _add_events(service, *messages)
        _sync_counts(self, service)
        return service

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        props = dict(service_properties)
        cluster_str = props.get("cluster") or "default"
        service = self._get_service(cluster_str, _last_segment(props["service"]))
        cluster = self._get_cluster(cluster_str)

        # Validate before moto mutates anything, and resolve "family[:rev]" to
        # an ARN (moto stores the raw string as service.taskDefinition).
        new_td_arn = None
        if props.get("task_definition"):
            new_td_arn = self.describe_task_definition(props["task_definition"]).arn
        if props.get("network_configuration"):
            service._validate_network(props["network_configuration"])

        previous_config = getattr(service, "deployment_configuration", None)
        force = bool(props.pop("force_new_deployment", False))  # moto would rename the PRIMARY
        requested_config = props.pop("deployment_configuration", None)
        counts_before = (
            cluster.running_tasks_count,
            cluster.pending_tasks_count,
            service.running_count,
            service.pending_count,
        )

        orig_update_service(self, props)

        # Moto rewrites counts as if every desired task were instantly running;
        # undo that and derive counts from deployments instead.
        (
            cluster.running_tasks_count,
            cluster.pending_tasks_count,
            service.running_count,
            service.pending_count,
        ) = counts_before
        service.deployment_configuration = _merge_deployment_configuration(
            previous_config, requested_config
        )
        if new_td_arn:
            service.task_definition = new_td_arn
        if not hasattr(service, "_shipgate_rollouts"):
            service._shipgate_rollouts = {}

        primary = _primary(service)
        if service.deployment_controller.get("type", "ECS") == "ECS":
            new_td = new_td_arn is not None and (
                primary is None or primary.get("taskDefinition") != new_td_arn
            )
            if new_td or force:
                _start_deployment(service)
            elif primary is not None:
                # Scaling only: ECS adjusts the current deployment in place.
                primary["desiredCount"] = service.desired_count
                if primary.get("rolloutState") == "COMPLETED":
                    primary["runningCount"] = service.desired_count
                    primary["pendingCount"] = 0
                primary["updatedAt"] = utcnow()
        _sync_counts(self, service)
        return service

    def create_service_response(self: Any) -> Any:
        # The backend's create_service never sees deploymentConfiguration.
        result = orig_create_service_response(self)
        requested = self._get_param("deploymentConfiguration")
        if requested:
            service = result.result["service"]
            service.deployment_configuration = _merge_deployment_configuration(
                service.deployment_configuration, requested
            )
        return result

    def describe_services_response(self: Any) -> Any:
        # Advance here (once per API call) rather than in the backend's
        # describe_services, which moto also calls internally for tagging
        # and task sets.
        services, _ = self.ecs_backend.describe_services(
            self._get_param("cluster", "default"), self._get_param("services", [])
        )
        seen: set[int] = set()
        for service in services:
            if id(service) not in seen:
                seen.add(id(service))
                advance_rollout(self.ecs_backend, service)
        return orig_describe_services_response(self)

    def list_clusters_response(self: Any) -> Any:
        return _page(self, orig_list_clusters_response(self), "clusterArns", default=100)

    def list_services_response(self: Any) -> Any:
        return _page(self, orig_list_services_response(self), "serviceArns", default=10)

    _Backend.create_service = create_service
    _Backend.update_service = update_service
    _Response.list_clusters = list_clusters_response
    _Response.list_services = list_services_response
    _Response.create_service = create_service_response
    _Response.describe_services = describe_services_response


install_ecs_patches()


# --------------------------------------------------------------------------
# WSGI layer: control API, fault injection, call log.
# --------------------------------------------------------------------------


def _json_response(start_response: Any, status: int, payload: Any, extra_headers=()) -> list[bytes]:
    body = json.dumps(payload).encode()
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers)
    start_response(f"{status} {phrase}", headers)
    return [body]


# Services that speak AWS's query protocol (form-encoded ``Action=``, XML replies): their
# calls are logged and can be faulted like the JSON ones.
QUERY_SERVICES = ("sts", "iam")


def _query_error(start_response: Any, fault: Fault) -> list[bytes]:
    """AWS query-protocol error (STS, IAM), as the Rust SDK and botocore parse it."""
    kind = "Receiver" if fault.status >= 500 else "Sender"
    body = (
        "<ErrorResponse><Error>"
        f"<Type>{kind}</Type><Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    phrase = HTTPStatus(fault.status).phrase if fault.status in HTTPStatus._value2member_map_ else "Error"
    start_response(
        f"{fault.status} {phrase}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _principal_policies(policy_source_arn: str) -> list[Any] | None:
    """The identity policies of a user or role in moto's IAM (inline, attached, and for a
    user its groups'), or None when there is no such principal."""
    from moto.iam.models import iam_backends

    parts = policy_source_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return None
    account, resource = parts[4], parts[5]
    backend = iam_backends[account][parts[1]]
    kind, _, name = resource.partition("/")
    name = name.rsplit("/", 1)[-1]
    policies: list[Any] = []
    try:
        if kind == "user":
            backend.get_user(name)
            for policy_name in backend.list_user_policies(name):
                policies.append(backend.get_user_policy(name, policy_name))
            policies += backend.list_attached_user_policies(name)[0]
            for group in backend.get_groups_for_user(name):
                for policy_name in backend.list_group_policies(group.name):
                    policies.append(backend.get_group_policy(group.name, policy_name))
                policies += backend.list_attached_group_policies(group.name)[0]
        elif kind == "role":
            backend.get_role(name)
            for policy_name in backend.list_role_policies(name):
                policies.append(backend.get_role_policy(name, policy_name)[1])
            policies += backend.list_attached_role_policies(name)[0]
        else:
            return None
    except Exception:  # moto raises its own NoSuchEntity types
        return None
    return policies


def _members(fields: dict[str, str], prefix: str) -> list[str]:
    found = []
    index = 1
    while f"{prefix}.member.{index}" in fields:
        found.append(fields[f"{prefix}.member.{index}"])
        index += 1
    return found


def simulate_principal_policy(start_response: Any, fields: dict[str, str]) -> list[bytes]:
    """IAM SimulatePrincipalPolicy, which moto lacks: each action on each resource,
    judged by moto's own policy evaluator over the principal's identity policies
    (an explicit Deny wins, then any Allow, else implicitDeny). Context entries
    (``ContextEntries.member.N.ContextKeyName``/``ContextKeyValues.member.1``) feed the
    policies' conditions. Like moto's evaluator, a statement whose condition is not met
    counts as a Deny, so callers pass the context their real calls would carry."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    source = fields.get("PolicySourceArn", "")
    policies = _principal_policies(source)
    if policies is None:
        return _query_error(
            start_response,
            Fault(
                action="SimulatePrincipalPolicy",
                code="NoSuchEntity",
                message=f"The user or role {source} cannot be found.",
                status=404,
                remaining=1,
                service="iam",
            ),
        )
    # moto's evaluator takes one value per condition key.
    context: dict[str, str] = {}
    index = 1
    while f"ContextEntries.member.{index}.ContextKeyName" in fields:
        key = fields[f"ContextEntries.member.{index}.ContextKeyName"]
        values = _members(fields, f"ContextEntries.member.{index}.ContextKeyValues")
        if values:
            context[key] = values[0]
        index += 1
    members = []
    for action in _members(fields, "ActionNames"):
        for resource in _members(fields, "ResourceArns") or ["*"]:
            results = [
                IAMPolicy(policy).is_action_permitted(action, resource, None, context)
                for policy in policies
            ]
            if PermissionResult.DENIED in results:
                decision = "explicitDeny"
            elif PermissionResult.PERMITTED in results:
                decision = "allowed"
            else:
                decision = "implicitDeny"
            members.append(
                "<member>"
                f"<EvalActionName>{escape(action)}</EvalActionName>"
                f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
                f"<EvalDecision>{decision}</EvalDecision>"
                "<MatchedStatements/><MissingContextValues/>"
                "</member>"
            )
    body = (
        '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>"
        f"<EvaluationResults>{''.join(members)}</EvaluationResults>"
        "</SimulatePrincipalPolicyResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</SimulatePrincipalPolicyResponse>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _aws_error(start_response: Any, fault: Fault) -> list[bytes]:
    """AWS JSON-protocol error, as the Rust SDK and botocore parse it."""
    body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
    phrase = (
        HTTPStatus(fault.status).phrase
        if fault.status in HTTPStatus._value2member_map_
        else "Error"
    )
    start_response(
        f"{fault.status} {phrase}",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", fault.code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [body]


def _credential_scope(environ: dict[str, Any]) -> list[str]:
    """``[key, date, region, service, "aws4_request"]`` from a SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return []
    return auth.split(marker, 1)[1].split(",", 1)[0].strip().split("/")


def _signing_key(environ: dict[str, Any]) -> str | None:
    scope = _credential_scope(environ)
    return scope[0] if scope else None


def _signing_service(environ: dict[str, Any]) -> str | None:
    scope = _credential_scope(environ)
    return scope[3] if len(scope) >= 4 else None


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back so moto can read it again."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()  # chunked upload, already de-chunked by werkzeug
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _parse_json_body(environ: dict[str, Any], body: bytes) -> Any:
    if not body:
        return {}
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError:
            pass
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _default_network(region: str, account: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any]:
    """Default-VPC ids of an account; moto randomises them per process and per reset."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account][region]
    vpc = ec2.get_default_vpc()
    if vpc is None:
        return {"region": region, "vpcId": None, "subnets": [], "securityGroups": []}
    subnets = sorted(
        ec2.describe_subnets(filters={"vpc-id": [vpc.id]}),
        key=lambda s: s.availability_zone,
    )
    groups = ec2.describe_security_groups(
        filters={"vpc-id": [vpc.id], "group-name": ["default"]}
    )
    return {
        "region": region,
        "vpcId": vpc.id,
        "subnets": [s.id for s in subnets],
        "securityGroups": [g.id for g in groups],
    }


def _reset_moto() -> None:
    # Same as POST /moto-api/reset, which drops every backend's state.
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


class ShipgateApp:
    """WSGI middleware in front of moto's DomainDispatcherApplication."""

    def __init__(self, moto_app: Any, state: PeerState) -> None:
        self.moto_app = moto_app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # Stamped by ShipgateRequestHandler right after the request line was
        # read; fall back to now for other servers.
        arrived_at = environ.get("shipgate.arrived_at") or time.time()
        path = environ.get("PATH_INFO", "")
        if path == "/_shipgate" or path.startswith("/_shipgate/"):
            return self.control(environ, start_response)

        access_key = _signing_key(environ)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if not target or "." not in target:
            query_service = _signing_service(environ)
            if query_service in QUERY_SERVICES:
                form = parse_qs(_buffer_body(environ).decode("utf-8", "replace"))
                fields = {k: v[0] for k, v in form.items()}
                action = fields.get("Action", "")
                fault = self.state.take_fault(query_service, action)
                self.state.record_call(
                    {
                        "service": query_service,
                        "action": action,
                        "at": arrived_at,
                        "faulted": fault is not None,
                        "faultCode": fault.code if fault else None,
                        "accessKey": access_key,
                        "body": fields,
                    }
                )
                if fault is not None:
                    return _query_error(start_response, fault)
                if (query_service, action) == ("iam", "SimulatePrincipalPolicy"):
                    return simulate_principal_policy(start_response, fields)
            return self.moto_app(environ, start_response)

        prefix, _, action = target.partition(".")
        service = TARGET_PREFIX_TO_SERVICE.get(prefix)
        body = _buffer_body(environ)
        fault = self.state.take_fault(service or prefix, action)
        if service is not None:
            self.state.record_call(
                {
                    "service": service,
                    "action": action,
                    "at": arrived_at,
                    "faulted": fault is not None,
                    "faultCode": fault.code if fault else None,
                    "accessKey": access_key,
                    "body": _parse_json_body(environ, body),
                }
            )
        if fault is not None:
            return _aws_error(start_response, fault)
        if service == "ecs":
            with ECS_LOCK:
                # Moto builds the complete body inside this call, so the lock
                # also covers serialisation of the service objects.
                return self.moto_app(environ, start_response)
        return self.moto_app(environ, start_response)

    # -- control API -------------------------------------------------------

    def control(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("POST", "/_shipgate/rollout"):
                return self._rollout(request, start_response)
            if route == ("POST", "/_shipgate/fault"):
                return self._fault(request, start_response)
            if route == ("GET", "/_shipgate/calls"):
                calls = self.state.calls(
                    request.args.get("action"), request.args.get("service")
                )
                return _json_response(start_response, 200, {"calls": calls})
            if route == ("POST", "/_shipgate/reset"):
                with ECS_LOCK:
                    self.state.clear()
                    _reset_moto()
                return _json_response(start_response, 200, {"ok": True})
            if route == ("GET", "/_shipgate/network"):
                region = request.args.get("region", "us-east-1")
                account = request.args.get("account", DEFAULT_ACCOUNT_ID)
                return _json_response(start_response, 200, _default_network(region, account))
        except BadRequest as exc:
            return _json_response(start_response, 400, {"error": str(exc)})
        return _json_response(
            start_response, 404, {"error": f"no route {request.method} {request.path}"}
        )

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(request.get_data() or b"{}")
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise BadRequest("body must be a JSON object")
        return payload

    def _rollout(self, request: Request, start_response: Any) -> Any:
        payload = self._json_body(request)
        cluster = payload.get("cluster") or "default"
        service = payload.get("service")
        outcome = payload.get("outcome", "completed")
        polls = payload.get("polls", DEFAULT_SCRIPT[1])
        if not service:
            raise BadRequest("'service' is required")
        if outcome not in OUTCOMES:
            raise BadRequest(f"'outcome' must be one of {', '.join(OUTCOMES)}")
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 1:
            raise BadRequest("'polls' must be an integer >= 1")
        cluster, service = _last_segment(cluster), _last_segment(service)
        self.state.set_script(cluster, service, outcome, polls)
        return _json_response(
            start_response,
            200,
            {"cluster": cluster, "service": service, "outcome": outcome, "polls": polls},
        )

    def _fault(self, request: Request, start_response: Any) -> Any:
        payload = self._json_body(request)
        action, code = payload.get("action"), payload.get("code")
        if not action or not code:
            raise BadRequest("'action' and 'code' are required")
        status = payload.get("status", 400)
        times = payload.get("times", 1)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise BadRequest("'status' must be an HTTP error status")
        if not isinstance(times, int) or isinstance(times, bool) or times == 0 or times < -1:
            raise BadRequest("'times' must be an integer >= 1, or -1 for always")
        service = payload.get("service")
        fault = Fault(
            action=action,
            code=code,
            message=payload.get("message") or f"Injected {code} for {action}",
            status=status,
            remaining=times,
            service=service,
        )
        self.state.add_fault(fault)
        return _json_response(
            start_response,
            200,
            {
                "action": action,
                "code": code,
                "message": fault.message,
                "status": status,
                "times": times,
                "service": service,
            },
        )


class BadRequest(Exception):
    pass


class ShipgateRequestHandler(WSGIRequestHandler):
    """Stamps arrival time as early as the stdlib server allows and keeps
    access logging off unless --verbose (a full, undrained stderr pipe would
    otherwise stall the server)."""

    verbose = False

    def parse_request(self) -> bool:
        # Called right after the request line arrived, before headers/body.
        self._shipgate_arrived_at = time.time()
        return super().parse_request()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["shipgate.arrived_at"] = getattr(self, "_shipgate_arrived_at", None)
        return environ

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        if self.verbose:
            super().log_request(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    ShipgateRequestHandler.verbose = args.verbose
    app = ShipgateApp(DomainDispatcherApplication(create_backend_app), STATE)
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=ShipgateRequestHandler
    )
    port = server.server_port
    # Some moto services (SQS queue URLs, S3 presigned URLs) embed the port.
    os.environ.setdefault("MOTO_PORT", str(port))

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="moto-ecs", daemon=True)
    thread.start()

    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"listening on http://{host}:{port}", flush=True)
    # Callers read stdout for that single line; moto occasionally print()s
    # diagnostics, so send anything else to stderr.
    sys.stdout = sys.stderr

    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
