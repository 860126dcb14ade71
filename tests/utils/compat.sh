#!/usr/bin/env bash
# The oldest claimed pair, ansible-core 2.17 with amazon.aws 9.x (from PyPI's ansible 11 wheel, extracted:
# ansible 11 itself wants ansible-core 2.18): sanity and units in a venv of their own.
#   compat.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$1
VENV=$BUILD/venv-core217
TREE=$BUILD/compat217/ansible_collections
if [ ! -x "$VENV/bin/ansible-test" ]; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "ansible-core==2.17.14" -r "$ROOT/tests/unit/requirements.txt" \
    pytest pytest-xdist pytest-mock pyyaml
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "ansible==11.13.0" -d "$BUILD/wheels"
fi
rm -rf "$TREE" && mkdir -p "$TREE/mdl/herd" "$TREE/amazon"
tar -C "$ROOT" -cf - --exclude=./.git --exclude=./.venv --exclude=./.cache --exclude=./.sandbox --exclude=./dist \
  --exclude=./tests/output --exclude=./sandbox --exclude=./benchmarks --exclude=./tests/scenarios --exclude=.pytest_cache \
  --exclude=__pycache__ --exclude=./.ci --exclude=./tests/integration/integration_config.yml . | tar -C "$TREE/mdl/herd" -xf -
"$VENV/bin/python" - "$BUILD/wheels"/ansible-11.13.0-py3-none-any.whl "$TREE" <<'PY'
import sys, zipfile
wheel, tree = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith("ansible_collections/amazon/aws/"):
            archive.extract(name, tree + "/..")
PY
grep -m1 '^version' "$TREE/amazon/aws/MANIFEST.json" 2>/dev/null || python3 -c "import json;print('amazon.aws', json.load(open('$TREE/amazon/aws/MANIFEST.json'))['collection_info']['version'])"
# ansible-test 2.17 looks for its pip bootstrap script under this name (the download host is not reachable)
mkdir -p "$HOME/.ansible/test/cache" && cp "$ROOT/tests/utils/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_23_1_2.py"
cd "$TREE/mdl/herd"
export PATH="$VENV/bin:$PATH"
python -c "import ansible.release as r; print(\"ansible-core\", r.__version__)"
ansible-test sanity --venv --python 3.11 --color no
ansible-test units --venv --python 3.11 --color no --requirements
