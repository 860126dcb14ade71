"""mdl_sandbox: a local, simulated fleet of MDL stacks for trying and testing mdl.herd without AWS.

    from mdl_sandbox import Sandbox, StackSpec

    with Sandbox(workdir=".sandbox", deployment_seconds=20) as sandbox:
        entry = sandbox.add_stack(StackSpec("mdl", "DEV", current_version="0.170.0"))

Command line: ``PYTHONPATH=sandbox python -m mdl_sandbox --endpoints-file .sandbox/endpoints.json``.
See sandbox/README.md.
"""

from .sandbox import Sandbox, StackExists
from .spec import Faults, SpecError, StackSpec

__all__ = ["Sandbox", "StackSpec", "Faults", "SpecError", "StackExists"]
