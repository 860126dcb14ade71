# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What HERD serves: buildInfo read as mdl.herd.herd_buildinfo_check reads it, for any module.

The URL comes from the options or from the stack's CloudFormation (``_discovery``), the admin
credentials from the options or from SSM, and the read goes through ``_herd_http`` with retries
through ``_waiter``. ``herd_buildinfo_check`` is this and nothing more; ``herd_upgrade_invoke``
runs it first when given ``buildinfo``, so that deciding whether there is anything to do, and
doing it, takes one module process.

Failures end the module: they call ``module.fail_json`` (or ``fail_json_aws``) with a sentence
that names the stack, the URL or the SSM parameter.
"""

from __future__ import annotations

import os

try:
    import botocore
except ImportError:
    pass  # reported by AnsibleAWSModule

from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._discovery import DiscoveryError, find_herd_stack, read_credentials
from ansible_collections.mdl.herd.plugins.module_utils._herd_http import (
    FORMATS,
    BuildInfoCheck,
    HerdClient,
    HerdError,
    buildinfo_failure_message,
    locate,
)
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter


def read_options():
    """The argument spec of how HERD is read (shared by herd_buildinfo_check and herd_upgrade_invoke's ``buildinfo``)."""
    return dict(
        url=dict(type="str"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        credentials_from_ssm=dict(type="bool", default=False),
        format=dict(type="str", choices=list(FORMATS), default="auto"),
        retries=dict(type="int", default=0),
        delay=dict(type="float", default=5),
        timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )


def check_read_options(options, stack, prefix=""):
    """Fail-fast checks ansible's spec cannot express: ``(location or None, verify)``; raises ValueError.

    ``prefix`` names the options as the user wrote them (``buildinfo.`` for a sub-option).
    """
    if options["retries"] < 0:
        raise ValueError("{0}retries must be 0 or more; got {1}".format(prefix, options["retries"]))
    if options["delay"] < 0 or (options["retries"] > 0 and options["delay"] == 0):
        raise ValueError(
            "{0}delay must be more than 0 seconds when {0}retries is more than 0 (the module asks for at most retries x delay "
            "seconds); got {1}".format(prefix, options["delay"])
        )
    if options["timeout"] <= 0:
        raise ValueError("{0}timeout must be more than 0 seconds; got {1}".format(prefix, options["timeout"]))
    if options["credentials_from_ssm"] and options["username"] is not None:
        raise ValueError("give either {0}username and {0}password, or {0}credentials_from_ssm: true, not both".format(prefix))
    if (options["username"] is None) != (options["password"] is None):
        raise ValueError("{0}username and {0}password go together: give both or neither".format(prefix))
    if (options["url"] is None or options["credentials_from_ssm"]) and stack is None:
        raise ValueError("reading HERD without {0}url, or with {0}credentials_from_ssm, needs mdl_instance_name and "
                         "mdl_environment".format(prefix))
    location = locate(options["url"], options["format"]) if options["url"] is not None else None
    verify = options["validate_certs"]
    if verify and options["ca_path"]:
        if not os.path.isfile(options["ca_path"]):
            raise ValueError("{0}ca_path must be a readable PEM file of CA certificates; {1} is not a file".format(
                prefix, options["ca_path"]))
        verify = options["ca_path"]
    return location, verify


def discover(module, stack, fmt):
    """HERD's location from the stack's nested Herd CloudFormation stack: ``(location, its stack name)``."""
    try:
        herd_stack = find_herd_stack(_aws.client(module, "cloudformation"), stack)
    except DiscoveryError as e:
        module.fail_json(msg="{0} (stack {1}, region {2})".format(e, stack, module.region))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not list the CloudFormation stacks to find HERD of {0} in region {1}".format(
            stack, module.region))
    option = "the output HerdLoadBalancerURL of the CloudFormation stack {0}".format(herd_stack.name)
    try:
        return locate(herd_stack.url, fmt, option=option), herd_stack.name
    except ValueError as e:
        module.fail_json(msg=str(e), cloudformation_stack_name=herd_stack.name)


def credentials(module, stack):
    """The HERD admin credentials from SSM; the password is masked in everything the module prints."""
    try:
        found = read_credentials(_aws.client(module, "ssm"), stack)
    except DiscoveryError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the HERD admin credentials of {0} from SSM".format(stack))
    module.no_log_values.add(found.password)
    return found.username, found.password


def read_served(module, stack, options, location, verify, expected_version=None, compare="equal", wait_for_match=True,
                extra=None):
    """Read buildInfo (discovering the URL and the credentials as ``options`` say): the result as herd_buildinfo_check returns it.

    Fails the module when HERD cannot be read, or when ``expected_version`` is not served after
    the retries and ``wait_for_match``; ``extra`` is added to what a failure returns.
    """
    result = {}
    if location is None:
        location, result["cloudformation_stack_name"] = discover(module, stack, options["format"])
    username, password = options["username"], options["password"]
    if options["credentials_from_ssm"]:
        username, password = credentials(module, stack)

    client = HerdClient(location, options["format"], username, password, timeout=options["timeout"], verify=verify)
    check = BuildInfoCheck(client, expected_version, compare, wait_for_match=wait_for_match)
    waiter = Waiter(timeout=options["retries"] * options["delay"], interval=options["delay"])
    try:
        waited = waiter.wait(check)
    except HerdError as e:
        module.fail_json(msg=str(e), **dict(result, **dict(check.result(waiter.elapsed), **(extra or {}))))
    finally:
        client.close()
    result.update(check.result(waited.elapsed))
    if not waited.ok:
        module.fail_json(msg=buildinfo_failure_message(check, waited.elapsed), **dict(result, **(extra or {})))
    return result


def read_first(module, stack, options, location, verify):
    """herd_upgrade_invoke's first read: ``(what HERD answered, confirm)``.

    With ``credentials_from_ssm`` (and ``format: auto``), the version comes from the open
    displayBuildInfo page of the same HERD, which needs no credentials: a run with nothing to do
    reads no SSM. ``confirm()`` then reads the credentials and buildInfo with them as
    ``read_served`` does (failing the module as it does); the invoke calls it before it changes
    anything, so that credentials the version check after the deployment could not use stop the
    run there. Otherwise this is ``read_served``, and ``confirm`` is None.
    """
    if not options["credentials_from_ssm"] or options["format"] != "auto":
        return read_served(module, stack, options, location, verify), None
    found = {}
    if location is None:
        location, found["cloudformation_stack_name"] = discover(module, stack, options["format"])
    page = locate(location.url, "html")
    served = read_served(module, stack, dict(options, credentials_from_ssm=False, format="html"), page, verify, extra=found)
    served.update(found)

    def confirm():
        read_served(module, stack, options, location, verify, extra=found)

    return served, confirm
