"""The fault matrix: one row per fault an operator can meet, and the outcome they must get.

``ROWS`` is the table; ``tests/scenarios/test_fault_matrix.py`` runs each row against the
sandbox (``ansible-playbook mdl.herd.upgrade_herd`` at -vvv) and checks its outcome and its
counts; ``docs/reliability.md`` is generated from it (``make reliability-doc``), and a test
fails when the published table differs, so the two cannot drift.

``invokes`` counts the Invoke calls the sandbox received for the stack (refused ones included),
``deployments`` the deployments of the stack that were not CodeDeploy's own rollbacks; across
every row, duplicates (a second deployment for one request) must be 0.
"""

from __future__ import annotations

import dataclasses
from typing import List

GREEN_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart",
                "ValidateService", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")


@dataclasses.dataclass(frozen=True)
class Row:
    id: str
    area: str
    fault: str
    outcome: str
    invokes: int
    deployments: int


ROWS: List[Row] = [
    # input and safety
    Row("version-latest", "input", "`-e herd_version=latest`",
        "refused before any AWS call, naming `herd_version` and the grammar", 0, 0),
    Row("version-dots", "input", "`-e herd_version=..`", "refused before any AWS call", 0, 0),
    Row("negative-timeout", "input", "`-e herd_upgrade_wait_timeout=-5`",
        "refused before any AWS call, naming `herd_upgrade_wait_timeout`", 0, 0),
    Row("same-version-other-spelling", "input", "`herd_version=0.176` on a stack serving 0.176.0",
        "nothing to do, nothing invoked", 0, 0),
    Row("downgrade", "safety", "0.170.0 -> 0.160.0", "refused naming both versions and `herd_upgrade_allow_downgrade`",
        0, 0),
    Row("unpublished", "safety", "a version the artifact repository does not have",
        "preflight fails in seconds naming the URL checked; nothing invoked", 0, 0),
    # reaching AWS
    Row("missing-function", "aws", "the upgrade Lambda does not exist",
        "fails naming the function, region and the variables to check; nothing invoked", 0, 0),
    Row("wrong-region", "aws", "`herd_upgrade_aws_region` names another region",
        "fails naming that region; nothing invoked", 0, 0),
    Row("no-credentials", "aws", "no AWS credentials anywhere", "fails saying credentials are missing", 0, 0),
    Row("expired-credentials", "aws", "expired temporary credentials", "fails with ExpiredToken; nothing invoked", 0, 0),
    Row("access-denied-invoke", "aws", "IAM denies lambda:InvokeFunction",
        "fails: not allowed to invoke, nothing started", 1, 0),
    # the Lambda
    Row("lambda-raises", "lambda", "the upgrade Lambda raises",
        "fails with its error type and message, changed, and what a re-run does", 1, 0),
    Row("log-over-4kb", "lambda", "the id line falls out of the 4 KB log tail", "succeeds: the id comes from SSM", 1, 1),
    Row("invoke-throttled", "lambda", "Lambda answers TooManyRequests to the first invoke",
        "fails (never retried automatically); the re-run upgrades", 2, 1),
    Row("invoke-answer-lost", "lambda", "the Invoke's answer does not come back within its read timeout",
        "fails after the read timeout, not retried, changed; the re-run joins the deployment it started", 1, 1),
    # throttling and HERD
    Row("reads-throttled", "throttling", "the first calls of SSM, CodeDeploy and CloudFormation are throttled",
        "succeeds (reads are retried with backoff)", 1, 1),
    Row("herd-503-at-switch", "herd", "HERD answers 503 around the switch", "succeeds", 1, 1),
    Row("herd-refused-at-switch", "herd", "HERD's port refuses TCP connections for 2 s from the switch",
        "succeeds; the zero-downtime report counts them as `refused` failures, with the outage (about 2 s)", 1, 1),
    Row("herd-throttled-first-requests", "herd",
        "HERD answers the first 3 buildInfo requests 429, 503, 429 with `Retry-After`",
        "succeeds: the first read of the version retries them (4 attempts)", 1, 1),
    Row("herd-throttled-after-switch", "herd",
        "HERD answers the first 3 buildInfo requests after the switch 429, 503, 429 with `Retry-After` "
        "(`herd_upgrade_probe=false`, so that the version check gets them all)",
        "succeeds: the check that HERD serves the new version retries them (4 attempts)", 1, 1),
    Row("herd-401", "herd", "HERD refuses the admin password (401)",
        "fails naming the URL and 401; the password appears nowhere; nothing invoked", 0, 0),
    Row("self-signed", "herd", "HERD's certificate is signed by a CA the controller does not trust",
        "refused by default, naming TLS and `herd_upgrade_ca_path`; nothing invoked", 0, 0),
]
ROWS += [
    Row("fail-at-ApplicationStop", "deployment", "ApplicationStop fails on the replacement instance",
        "ignored, as the upgrade Lambda asks CodeDeploy to (`ignoreApplicationStopFailures`): the upgrade succeeds", 1, 1),
]
ROWS += [
    Row("fail-at-" + event, "deployment", "the deployment fails at {0}".format(event),
        "fails naming {0}, its instance and script; the rollback is followed to its end; the version served is "
        "named".format(event), 1, 1)
    for event in GREEN_EVENTS[1:]
]
ROWS += [
    Row("stopped-by-someone", "deployment", "someone stops the deployment (with rollback) while it runs",
        "fails saying it was stopped; the rollback is followed; the version served is named", 1, 1),
    Row("timeout-stop", "deployment", "the wait times out, `herd_upgrade_on_timeout=stop`",
        "the deployment is stopped; fails saying so", 1, 1),
    Row("timeout-rollback", "deployment", "the wait times out, `herd_upgrade_on_timeout=rollback`",
        "the deployment is stopped and rolled back; fails saying so", 1, 1),
    Row("sigint-rerun", "interruption", "the run gets SIGINT during the wait, then runs again",
        "the re-run joins the deployment and follows it to its end", 1, 1),
    Row("sigterm-rerun", "interruption", "the run gets SIGTERM during the wait, then runs again",
        "the re-run joins the deployment and follows it to its end", 1, 1),
    Row("sigkill-rerun", "interruption", "the whole run is killed (SIGKILL) during the wait, then runs again",
        "the re-run joins the deployment and follows it to its end", 1, 1),
    Row("stop-waiting-for-lock", "interruption",
        "SIGINT, then SIGTERM, then SIGKILL to the whole process tree of a run waiting for another run's lock",
        "each run's processes are gone within 5 s; the other run's lock is left as it was and nothing is invoked; once "
        "that run released it, a re-run upgrades", 1, 1),
    Row("stop-holding-lock", "interruption",
        "SIGINT, then SIGTERM, then SIGKILL to the whole process tree of a run holding the lock before its Invoke "
        "(a slow SSM read under the lock)",
        "SIGINT and SIGTERM: the lock is released, nothing invoked; SIGKILL: the lock stays, naming this host and the "
        "killed process; the re-run on this host takes it over at once (a warning names it) and upgrades", 1, 1),
    Row("stop-during-invoke", "interruption",
        "SIGINT to the whole process tree during the Invoke of 0.176.0 (a slow Lambda), then SIGTERM during the Invoke "
        "of 0.177.0",
        "the lock stays, saying which version's Invoke was interrupted and when; a run for another version is refused "
        "at once, naming it; a re-run for that version joins the deployment as soon as it appears (not after "
        "`herd_upgrade_lock_wait`), removes the lock and succeeds", 2, 2),
    Row("sigkill-during-invoke", "interruption",
        "SIGKILL to the whole process tree during the Invoke (a slow Lambda)",
        "the lock stays in phase `invoking`, naming this host and the killed process; on this host, a run for another "
        "version is refused at once, naming it; a re-run for that version joins the deployment as soon as it appears",
        1, 1),
    Row("cancel-during-wait", "interruption",
        "AWX or ansible-runner cancels the job during the wait (SIGKILL to ansible-playbook's process group; its "
        "workers, in sessions of their own, live on), then it runs again",
        "every process of the run ends within 5 s (the module notices its controller is gone); CodeDeploy is no "
        "longer read; the re-run joins the deployment and follows it to its end", 1, 1),
    Row("cancel-waiting-for-lock", "interruption",
        "the job is cancelled that way while it waits for another run's lock",
        "every process of the run ends within 5 s; nothing invoked; the other run's lock untouched", 0, 0),
    Row("concurrent-same", "concurrency", "two runs at once for the same version",
        "one invokes, the other joins; both succeed", 1, 1),
    Row("concurrent-different", "concurrency", "two runs at once for different versions",
        "one invokes; the other is refused naming both versions; the deployment installs the winner's", 1, 1),
]


def markdown() -> str:
    lines = [
        "# Reliability: the fault matrix",
        "",
        "Each row is a fault an operator can meet, the outcome `ansible-playbook mdl.herd.upgrade_herd` gives, and what",
        "the sandbox saw: the Invoke calls it received for the stack and the deployments started (CodeDeploy's own",
        "rollbacks aside). `make scenarios` runs every row against the sandbox at `-vvv`, with distinctive AWS and HERD",
        "secrets, and searches every output and file of the run for them: a row fails if one shows up, if its counts",
        "differ, or if a deployment is duplicated. This file is generated from `tests/scenarios/matrix.py`",
        "(`make reliability-doc`); a test fails when they differ.",
        "",
        "| row | area | fault | outcome | Invoke calls | deployments |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        lines.append("| `{0}` | {1} | {2} | {3} | {4} | {5} |".format(
            row.id, row.area, row.fault, row.outcome, row.invokes, row.deployments))
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
