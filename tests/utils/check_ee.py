"""Check the execution environment's build context: ansible-builder create, then what the context holds.

    check_ee.py CONTEXT_DIR

Run by ``make build-check`` after the tarball is built: the EE file names the tarball of the
version in galaxy.yml, and the context holds it, the Containerfile, amazon.aws among the Galaxy
requirements and the Python libraries the modules import, and the final image compiles the
installed collections' Python once (a job's container, and the bytecode it writes, is thrown away).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _release(version: str) -> tuple:
    return tuple(int(part) for part in version.split(".") if part.isdigit())[:2]


def main(context: Path) -> int:
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    tarball = "mdl-herd-{0}.tar.gz".format(version)
    # AWX's own default execution environment may carry an older ansible-core: this one starts at the collection's floor
    floor = re.match(r"^>=\s*([0-9.]+)", yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])
    pinned = re.search(r">=\s*([0-9.]+)", definition["dependencies"]["ansible_core"]["package_pip"])
    assert floor and pinned and _release(pinned.group(1)) >= _release(floor.group(1)), (
        "execution-environment.yml installs {0}, below requires_ansible {1} (meta/runtime.yml)".format(
            definition["dependencies"]["ansible_core"]["package_pip"], floor.group(0) if floor else "?"))
    sources = [item["src"] for item in definition["additional_build_files"]]
    assert sources == ["dist/" + tarball], "execution-environment.yml brings {0}, not dist/{1}".format(sources, tarball)
    subprocess.run([sys.executable, "-m", "ansible_builder", "create", "-f", str(ROOT / "execution-environment.yml"),
                    "--context", str(context), "--output-filename", "Containerfile"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    build = context / "_build"
    assert (context / "Containerfile").is_file(), "no Containerfile in the context"
    assert (build / "collections" / tarball).is_file(), "the collection's tarball is not in the context"
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    names = {entry["name"] for entry in galaxy}
    assert "amazon.aws" in names and "/build/collections/" + tarball in names, names
    python = (build / "requirements.txt").read_text()
    for library in ("boto3", "botocore", "requests"):
        assert library in python, "{0} missing from the EE's Python requirements".format(library)
    # Job containers are thrown away: the collections' bytecode is written once, in the image, after they are in it.
    steps = (context / "Containerfile").read_text().splitlines()
    final = steps[max(n for n, text in enumerate(steps) if text.startswith("FROM ")):]
    copied = [n for n, text in enumerate(final) if text.startswith("COPY --from=galaxy /usr/share/ansible ")]
    compiled = [n for n, text in enumerate(final) if "-m compileall" in text and "/usr/share/ansible/collections" in text]
    assert copied and compiled and compiled[0] > copied[0], "the final image does not compile the collections it installs"
    print("execution environment: ansible-core from the collection's floor; the build context holds {0}, amazon.aws and"
          " boto3/botocore/requests;"
          " the image compiles the collections' Python".format(tarball))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
