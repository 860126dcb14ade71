"""mdl_sandbox: a local, simulated fleet of MDL stacks for trying and testing mdl.herd without AWS.

    from mdl_sandbox import Sandbox, StackSpec

    with Sandbox(workdir=".sandbox", deployment_seconds=20) as sandbox:
        entry = sandbox.add_stack(StackSpec("mdl", "DEV", current_version="0.170.0"))

Command line: ``PYTHONPATH=sandbox python -m mdl_sandbox --endpoints-file .sandbox/endpoints.json``.
See sandbox/README.md.
"""

from .spec import Faults, SpecError, StackSpec

__all__ = ["Sandbox", "StackSpec", "Faults", "SpecError", "StackExists"]


def __getattr__(name):
    # moto takes a second to import: load it when a Sandbox is asked for, not for a spec check.
    if name in ("Sandbox", "StackExists"):
        from . import sandbox

        return getattr(sandbox, name)
    raise AttributeError("module 'mdl_sandbox' has no attribute {0!r}".format(name))
