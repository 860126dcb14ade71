"""IAM, as the sandbox enforces it: each request's action and resource, judged against a principal's policies.

moto's own authorization matches every request against resource ``*`` and by API operation name, so it
cannot judge a policy scoped to one stack's resources. The sandbox does it itself, in front of moto:

- :func:`action_of` names a call's IAM action as IAM spells it (``lambda:InvokeFunction`` for Invoke,
  ``s3:GetObject`` for HeadObject, ``codedeploy:GetDeployment``, ``ssm:GetParametersByPath``);
- :func:`resources_of` gives the ARNs it touches (a CodeDeploy deployment's is its deployment group's,
  as AWS authorizes it; an account-wide listing's is ``*``);
- :class:`Authorizer` maps access key ids to policy documents (a restricted principal, opt-in); every other
  key is unrestricted, so the sandbox's printed commands keep working. It records every
  (action, resource) each access key used, allowed or denied.

Policies: ``Effect`` Allow or Deny, ``Action`` and ``Resource`` (strings or lists, with ``*`` and ``?``);
an explicit Deny wins, and what no statement allows is denied. ``NotAction``, ``NotResource`` and
``Condition`` are refused when a policy is loaded: the sandbox could not judge them.

``MDL_SANDBOX_POLICIES`` restricts keys when a sandbox starts: ``KEYID=policy.json[,other.json];KEYID2=...``
(the policy files filled in for the sandbox's stacks, see ``policies/README.md``).
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

ENVIRONMENT_VARIABLE = "MDL_SANDBOX_POLICIES"

# IAM's name of an API operation, where it is not the operation's own.
_ACTIONS = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeAsync": "lambda:InvokeFunction",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
}
# Calls IAM never refuses.
UNAUTHORIZED_ACTIONS = frozenset(["sts:GetCallerIdentity"])
_SUPPORTED_KEYS = frozenset(["Sid", "Effect", "Action", "Resource"])


class PolicyError(ValueError):
    """A policy document the sandbox cannot judge."""


def action_of(call) -> str:
    """The IAM action of an :class:`~mdl_sandbox.wire.AwsCall`."""
    return _ACTIONS.get(call.key, call.key)


def _ssm_parameter(region: str, account: str, name: str) -> str:
    name = str(name)
    if name.startswith("arn:"):
        return name
    return "arn:aws:ssm:{0}:{1}:parameter{2}{3}".format(region, account, "" if name.startswith("/") else "/",
                                                        name.rstrip("/") if name != "/" else name)


def resources_of(call, account: str, deployment_group_of: Callable[[str], Optional[Tuple[str, str]]]) -> List[str]:
    """The ARNs a call touches (``["*"]`` for one that names no resource).

    ``deployment_group_of(deployment_id)`` is ``(application, group)`` of a CodeDeploy deployment, or None when
    the sandbox knows no such deployment (then the call is judged against ``deploymentgroup:*/*``, as no
    stack's resources)."""
    params, region = call.params, call.region
    if call.service == "ssm":
        names = list(params.get("Names") or []) + [params.get("Name"), params.get("Path")]
        found = [_ssm_parameter(region, account, name) for name in names if isinstance(name, str) and name]
        return found or ["*"]
    if call.service == "codedeploy":
        base = "arn:aws:codedeploy:{0}:{1}:".format(region, account)
        ids = list(params.get("deploymentIds") or []) + [params.get("deploymentId")]
        ids = [i for i in ids if isinstance(i, str) and i]
        if ids:
            found = []
            for deployment_id in ids:
                group = deployment_group_of(deployment_id)
                arn = base + "deploymentgroup:{0}/{1}".format(*group) if group else base + "deploymentgroup:*/*"
                if arn not in found:
                    found.append(arn)
            return found
        application = params.get("applicationName")
        if application and params.get("deploymentGroupName"):
            return [base + "deploymentgroup:{0}/{1}".format(application, params["deploymentGroupName"])]
        if application:
            return [base + "application:{0}".format(application)]
        if params.get("deploymentConfigName"):
            return [base + "deploymentconfig:{0}".format(params["deploymentConfigName"])]
        return ["*"]
    if call.service == "lambda":
        name = str(params.get("FunctionName") or "")
        if not name:
            return ["*"]
        name = name.split(":function:")[-1].split(":")[0]
        return ["arn:aws:lambda:{0}:{1}:function:{2}".format(region, account, name)]
    if call.service == "cloudformation":
        name = params.get("StackName")
        if not name:
            return ["*"]
        if str(name).startswith("arn:"):
            return [str(name)]
        return ["arn:aws:cloudformation:{0}:{1}:stack/{2}/*".format(region, account, name)]
    if call.service == "sts" and params.get("RoleArn"):
        return [str(params["RoleArn"])]
    if call.service == "s3":
        bucket, key = params.get("Bucket"), params.get("Key")
        if not bucket:
            return ["*"]
        return ["arn:aws:s3:::{0}/{1}".format(bucket, key) if key else "arn:aws:s3:::{0}".format(bucket)]
    return ["*"]


def _listed(value) -> List[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(pattern: str, value: str, case_sensitive: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


class Policy:
    """One policy document, checked when loaded; ``name`` is how a denial or a report names it."""

    def __init__(self, document: Dict[str, Any], name: str = "policy"):
        if not isinstance(document, dict) or not isinstance(document.get("Statement"), (list, dict)):
            raise PolicyError("{0}: a policy is a mapping with a Statement list".format(name))
        statements = document["Statement"]
        self.statements = [statements] if isinstance(statements, dict) else list(statements)
        self.name = name
        for index, statement in enumerate(self.statements):
            unknown = set(statement) - _SUPPORTED_KEYS
            if unknown:
                raise PolicyError("{0}: Statement[{1}] has {2}: the sandbox judges Effect, Action and Resource "
                                  "only".format(name, index, ", ".join(sorted(unknown))))
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise PolicyError("{0}: Statement[{1}]: Effect must be Allow or Deny".format(name, index))
            for key in ("Action", "Resource"):
                values = _listed(statement.get(key))
                if not values:
                    raise PolicyError("{0}: Statement[{1}] has no {2}".format(name, index, key))
                unfilled = [v for v in values if "{" in v]
                if unfilled:
                    raise PolicyError("{0}: Statement[{1}]: fill the placeholders of {2}".format(name, index, unfilled[0]))

    @classmethod
    def load(cls, path: str) -> "Policy":
        with open(path, "r", encoding="utf-8") as handle:
            return cls(json.load(handle), name=os.path.basename(path))

    def effects(self, action: str, resource: str) -> List[str]:
        """The Effects of the statements that match ``action`` on ``resource``."""
        found = []
        for statement in self.statements:
            if not any(_matches(p, action, False) for p in _listed(statement["Action"])):
                continue
            if any(p == "*" or _matches(p, resource, True) for p in _listed(statement["Resource"])):
                found.append(statement["Effect"])
        return found


class Decision:
    """Whether a call is allowed; when not, the action and resource refused and why."""

    def __init__(self, allowed: bool, action: str = "", resource: str = "", explicit: bool = False):
        self.allowed = allowed
        self.action = action
        self.resource = resource
        self.explicit = explicit

    def message(self, account: str) -> str:
        """The sentence AWS answers a refused caller with."""
        return ("User: arn:aws:sts::{0}:assumed-role/mdl-herd-operator/session is not authorized to perform: {1} "
                "on resource: {2} because {3}".format(
                    account, self.action, self.resource,
                    "of an explicit deny in an identity-based policy" if self.explicit
                    else "no identity-based policy allows the {0} action".format(self.action)))


ALLOWED = Decision(True)


class Authorizer:
    """Restricted principals (access key id -> policies) and the record of what every key used."""

    def __init__(self, account: str, account_of: Optional[Callable[[str], str]] = None):
        self.account = account
        # the account a request is made in, from its access key id (ARNs name it)
        self.account_of = account_of or (lambda access_key: account)
        self._lock = threading.Lock()
        self._principals: Dict[str, List[Policy]] = {}
        self._used: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._denied: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    @classmethod
    def from_environment(cls, account: str, environ=None, account_of: Optional[Callable[[str], str]] = None) -> "Authorizer":
        """An authorizer with the principals of ``MDL_SANDBOX_POLICIES`` (``KEYID=a.json,b.json;KEYID2=c.json``)."""
        authorizer = cls(account, account_of)
        setting = (os.environ if environ is None else environ).get(ENVIRONMENT_VARIABLE, "")
        for part in filter(None, (p.strip() for p in setting.split(";"))):
            key, _, paths = part.partition("=")
            if not key or not paths:
                raise PolicyError("{0}: expected KEYID=policy.json[,other.json] separated by ';' (e.g. "
                                  "AKIAUPGRADE=policies/upgrade.json); got {1!r}".format(ENVIRONMENT_VARIABLE, part))
            authorizer.restrict(key.strip(), [Policy.load(p.strip()) for p in paths.split(",") if p.strip()])
        return authorizer

    def restrict(self, access_key_id: str, policies: Iterable[Any]) -> None:
        """Calls signed with ``access_key_id`` are allowed only what ``policies`` (Policy or documents) allow."""
        loaded = [p if isinstance(p, Policy) else Policy(p, name="policy {0}".format(i + 1))
                  for i, p in enumerate(policies)]
        with self._lock:
            self._principals[access_key_id] = loaded

    def unrestrict(self, access_key_id: str) -> None:
        with self._lock:
            self._principals.pop(access_key_id, None)

    def restricted(self, access_key_id: Optional[str]) -> bool:
        with self._lock:
            return access_key_id in self._principals

    def decide(self, access_key_id: Optional[str], action: str, resources: List[str]) -> Decision:
        """Judge ``action`` on every one of ``resources`` for the key, and record each pair."""
        with self._lock:
            policies = self._principals.get(access_key_id or "")
            key = access_key_id or ""
            for resource in resources:
                self._used[key][(action, resource)] += 1
            if policies is None or action in UNAUTHORIZED_ACTIONS:
                return ALLOWED
            for resource in resources:
                effects = [e for policy in policies for e in policy.effects(action, resource)]
                if "Deny" in effects or "Allow" not in effects:
                    self._denied[key][(action, resource)] += 1
                    return Decision(False, action, resource, explicit="Deny" in effects)
            return ALLOWED

    def used(self, access_key_id: Optional[str] = None) -> Dict[Tuple[str, str], int]:
        """(action, resource) -> calls, of one key or (None) of every key."""
        with self._lock:
            if access_key_id is not None:
                return dict(self._used.get(access_key_id, {}))
            total: collections.Counter = collections.Counter()
            for counts in self._used.values():
                total.update(counts)
            return dict(total)

    def denied(self, access_key_id: str) -> Dict[Tuple[str, str], int]:
        with self._lock:
            return dict(self._denied.get(access_key_id, {}))

    def forget(self, access_key_id: str) -> None:
        """Drop the record of one key (a test that reuses a key starts from nothing)."""
        with self._lock:
            self._used.pop(access_key_id, None)
            self._denied.pop(access_key_id, None)

    def judge(self, call, deployment_group_of: Callable[[str], Optional[Tuple[str, str]]]) -> Optional[str]:
        """The AccessDenied message for an :class:`~mdl_sandbox.wire.AwsCall`, or None when it is allowed."""
        account = self.account_of(call.access_key or "")
        decision = self.decide(call.access_key, action_of(call), resources_of(call, account, deployment_group_of))
        return None if decision.allowed else decision.message(account)


PLACEHOLDERS = ("region", "account", "instance", "environment", "staging_bucket")


def fill(document: Dict[str, Any], stacks: Iterable[Dict[str, str]]) -> Dict[str, Any]:
    """A shipped policy (``policies/*.json``) filled in for one stack or a fleet: each Resource with a
    placeholder is listed once per stack. ``stacks`` are mappings of :data:`PLACEHOLDERS` (see
    :func:`stack_values`)."""
    stacks = list(stacks)
    filled = json.loads(json.dumps(document))
    for statement in filled["Statement"]:
        resources: List[str] = []
        for pattern in _listed(statement["Resource"]):
            for values in (stacks if "{" in pattern else [{}]):
                resource = pattern.format(**values) if values else pattern
                if resource not in resources:
                    resources.append(resource)
        statement["Resource"] = resources
    return filled


def stack_values(entry: Dict[str, Any], account: str) -> Dict[str, str]:
    """The placeholder values of a sandbox stack, from its endpoints entry."""
    return {"region": entry["aws_region"], "account": account, "instance": entry["mdl_instance_name"],
            "environment": entry["mdl_environment"], "staging_bucket": entry["staging_bucket"]}
