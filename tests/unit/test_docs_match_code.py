# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation says what the code is: the modules it counts and names, the versions it gives."""

from __future__ import annotations

import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def modules():
    return sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                  if name.endswith(".py") and name != "__init__.py")


def release(version):
    return tuple(int(part) for part in version.split("."))


def test_the_readme_and_contributing_count_and_name_every_module():
    for name in ("README.md", "CONTRIBUTING.md"):
        text = read(name)
        counts = [NUMBERS.get(word.lower(), word) for word in re.findall(r"\b(\w+) modules\b", text)
                  if word.lower() in NUMBERS or word.isdigit()]
        assert counts, "{0} does not say how many modules there are".format(name)
        assert all(int(count) == len(modules()) for count in counts), (name, counts, modules())
    readme = read("README.md")
    assert [m for m in modules() if m not in readme] == [], "README.md names every module"


def test_every_version_added_is_at_most_the_collections_version():
    version = yaml.safe_load(read("galaxy.yml"))["version"]
    later = []
    for folder, _dirs, names in os.walk(os.path.join(ROOT, "plugins")):
        for name in names:
            if name.endswith(".py"):
                text = read(folder, name)
                later.extend("{0}: {1}".format(name, v) for v in re.findall(r"version_added:\s*['\"]?([\d.]+)", text)
                             if release(v) > release(version))
    assert later == [], "version_added later than galaxy.yml's version {0}: {1}".format(version, later)


def test_the_execution_environment_installs_the_tarball_of_this_version():
    version = yaml.safe_load(read("galaxy.yml"))["version"]
    tarballs = set(re.findall(r"mdl-herd-([\d.]+)\.tar\.gz", read("execution-environment.yml")))
    assert tarballs == {version}, tarballs


def test_the_readme_stays_short():
    lines = read("README.md").count("\n")
    assert lines < 250, "README.md has {0} lines: keep it under 250, the rest in docs/".format(lines)
