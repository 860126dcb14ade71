"""Read a fleet file: the stacks a sandbox starts with (``sandbox/fleet.yml``)."""

from __future__ import annotations

from typing import List

import yaml

from .spec import SpecError, StackSpec


def load_fleet(path: str) -> List[StackSpec]:
    """The stack specs of a fleet file: a mapping with a ``stacks`` list of StackSpec mappings."""
    with open(path, "r", encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    stacks = data.get("stacks") if isinstance(data, dict) else None
    if not isinstance(stacks, list):
        raise SpecError("{0}: expected a mapping with a 'stacks' list".format(path))
    specs = []
    for index, item in enumerate(stacks):
        try:
            specs.append(StackSpec.from_dict(item))
        except SpecError as error:
            raise SpecError("{0}: stacks[{1}]: {2}".format(path, index, error))
    return specs
