#!/usr/bin/env bash
# Sanity and units on another ansible-core / amazon.aws pair than make test's, in a venv of its own.
#   compat.sh oldest BUILD_DIR   ansible-core 2.17.14 with amazon.aws 9.5.2 (from PyPI's ansible 11 wheel, extracted:
#                                ansible 11 itself wants ansible-core 2.18), Python 3.11
#   compat.sh newest BUILD_DIR   ansible-core 2.21.5 with amazon.aws 11.4.0 (PyPI's ansible 14.5.0), Python 3.12
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIR=$1
BUILD=$2
case "$PAIR" in
  oldest) PY=python3.11; PYVER=3.11; CORE="ansible-core==2.17.14"; BUNDLE="ansible==11.13.0"; PIP_BOOTSTRAP=23_1_2 ;;
  newest) PY=python3.12; PYVER=3.12; CORE="ansible-core==2.21.5"; BUNDLE="ansible==14.5.0"; PIP_BOOTSTRAP=25_2 ;;
  *) echo "usage: compat.sh oldest|newest BUILD_DIR" >&2; exit 2 ;;
esac
VENV=$BUILD/venv-$PAIR
TREE=$BUILD/compat-$PAIR/ansible_collections
if [ ! -x "$VENV/bin/ansible-test" ]; then
  # pyenv's shims need the version named
  PYENV_VERSION=$(ls "$HOME/.pyenv/versions" 2>/dev/null | grep "^$PYVER\." | tail -1) "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$CORE" -r "$ROOT/tests/unit/requirements.txt" \
    pytest pytest-xdist pytest-mock pyyaml
fi
# on its own: a build directory left by an interrupted run may hold the venv and not the wheel
if ! compgen -G "$BUILD/wheels-$PAIR/ansible-*.whl" > /dev/null; then
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "$BUNDLE" -d "$BUILD/wheels-$PAIR"
fi
rm -rf "$TREE" && mkdir -p "$TREE/mdl/herd" "$TREE/amazon"
tar -C "$ROOT" -cf - --exclude=./.git --exclude=./.venv --exclude=./.cache --exclude=./.sandbox --exclude=./dist \
  --exclude=./tests/output --exclude=./sandbox --exclude=./benchmarks --exclude=./tests/scenarios --exclude=.pytest_cache \
  --exclude=__pycache__ --exclude=./.ci --exclude=./tests/integration/integration_config.yml . | tar -C "$TREE/mdl/herd" -xf -
"$VENV/bin/python" - "$BUILD/wheels-$PAIR"/ansible-*.whl "$TREE" <<'PY'
import sys, zipfile
wheel, tree = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith("ansible_collections/amazon/aws/"):
            archive.extract(name, tree + "/..")
PY
"$VENV/bin/python" -c "import json, ansible.release as r; print('ansible-core', r.__version__, '/ amazon.aws',
  json.load(open('$TREE/amazon/aws/MANIFEST.json'))['collection_info']['version'])"
# ansible-test looks for its pip bootstrap script under a name of its own (the download host is not reachable)
mkdir -p "$HOME/.ansible/test/cache"
cp "$ROOT/tests/utils/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_$PIP_BOOTSTRAP.py"
cd "$TREE/mdl/herd"
export PATH="$VENV/bin:$PATH"
ansible-test sanity --venv --python "$PYVER" --color no
ansible-test units --venv --python "$PYVER" --color no --requirements
