#!/usr/bin/env bash
# The collection on other ansible-core / amazon.aws pairs than make test's own, each in a venv of its own.
#
#   compat.sh PAIR BUILD_DIR          sanity, units, then the shipped playbook (playbooks/upgrade_herd.yml) against a
#                                     sandbox: an upgrade (rc 0, changed, outcome upgraded), then the same run again
#                                     (the no-op: rc 0, changed=0, outcome already_served). make compat-oldest/-newest.
#   compat.sh --units PAIR BUILD_DIR  units only.
#   compat.sh --all BUILD_DIR         units on every pair below, oldest to newest, one after another (each even when
#                                     an earlier one failed), then a table: pair, versions, result, seconds.
#                                     make compat-all (not part of make test).
#
# The pairs: ansible-core (PyPI's newest patch of each minor) with the amazon.aws that PyPI's `ansible` package of the
# same line carries, extracted from its wheel (ansible 11 itself wants ansible-core 2.18, so for 2.17 only its
# amazon.aws is taken). Each pair is checked against requires_ansible of amazon.aws and of this collection.
#   oldest  ansible-core 2.17.14, amazon.aws 9.5.x  (ansible 11.13.0), Python 3.11
#   2.18    ansible-core 2.18.19, amazon.aws 9.5.x  (ansible 11.13.0), Python 3.11
#   2.19    ansible-core 2.19.14, amazon.aws 10.1.x (ansible 12.3.0),  Python 3.11
#   2.20    ansible-core 2.20.10, amazon.aws 10.3.x (ansible 13.8.0),  Python 3.12 (2.20 needs 3.12)
#   newest  ansible-core 2.21.5,  amazon.aws 11.4.x (ansible 14.5.0),  Python 3.12
#
# The sandbox runs in the checkout's .venv (it extends moto 5.2.5; SANDBOX_PYTHON to use another); ansible-playbook
# and the modules run in the pair's venv, with only the pair's tree (this collection and that amazon.aws).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SELF="$ROOT/tests/utils/compat.sh"
ALL_PAIRS="oldest 2.18 2.19 2.20 newest"
# The sandbox stack the playbook upgrades: a short deployment (the sandbox's default is 20 s).
DEPLOYMENT_SECONDS=6
usage() { echo "usage: compat.sh [--units] oldest|2.18|2.19|2.20|newest BUILD_DIR | compat.sh --all BUILD_DIR" >&2; exit 2; }

pair_spec() {  # sets PY PYVER CORE BUNDLE for a pair
  case "$1" in
    oldest) PYVER=3.11; CORE="ansible-core==2.17.14"; BUNDLE="ansible==11.13.0" ;;
    2.18)   PYVER=3.11; CORE="ansible-core==2.18.19"; BUNDLE="ansible==11.13.0" ;;
    2.19)   PYVER=3.11; CORE="ansible-core==2.19.14"; BUNDLE="ansible==12.3.0" ;;
    2.20)   PYVER=3.12; CORE="ansible-core==2.20.10"; BUNDLE="ansible==13.8.0" ;;
    newest) PYVER=3.12; CORE="ansible-core==2.21.5";  BUNDLE="ansible==14.5.0" ;;
    *) usage ;;
  esac
  PY=python$PYVER
}

# --- compat.sh --all BUILD_DIR: units on every pair, then the table ------------------------------------------------
if [ "${1:-}" = "--all" ]; then
  [ $# -eq 2 ] || usage
  BUILD=$2
  mkdir -p "$BUILD/compat-logs"
  started=$(date +%s); rows=(); failed=()
  for pair in $ALL_PAIRS; do
    echo
    echo "=================== units on $pair ==================="
    rm -f "$BUILD/compat-$pair/versions"
    start=$(date +%s)
    if bash "$SELF" --units "$pair" "$BUILD" 2>&1 | tee "$BUILD/compat-logs/$pair.log"; then result=passed
    else result=FAILED; failed+=("$pair"); fi
    seconds=$(( $(date +%s) - start ))
    # versions: what the run found installed (ansible-core, amazon.aws, Python), or the pins when it stopped before
    if [ -f "$BUILD/compat-$pair/versions" ]; then read -r core aws python < "$BUILD/compat-$pair/versions"
    else pair_spec "$pair"; core="${CORE#*==}?"; aws="($BUNDLE)?"; python=$PYVER; fi
    rows+=("$(printf '%-7s %-13s %-7s %-11s %-7s %5ss' "$pair" "$core" "$python" "$aws" "$result" "$seconds")")
  done
  echo
  echo "=================== make compat-all: units ==================="
  printf '%-7s %-13s %-7s %-11s %-7s %6s\n' pair ansible-core python amazon.aws result time
  printf '%s\n' "${rows[@]}"
  echo "logs: $BUILD/compat-logs/PAIR.log; total $(( $(date +%s) - started ))s"
  [ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
  exit 0
fi

# --- inside the sandbox (with_sandbox.py runs this): the playbook twice ----------------------------------------------
if [ "${1:-}" = "--playbook-runs" ]; then
  PAIR=$2; BUILD=$3
  VENV=$BUILD/venv-$PAIR
  LOGS=$BUILD/compat-$PAIR/playbook
  mkdir -p "$LOGS"
  endpoint() { "$VENV/bin/python" -c "import json, os; print(json.load(open(os.environ['SANDBOX_ENDPOINTS']))['$1'])"; }
  ca=$(endpoint herd_ca_path); maven=$(endpoint maven_repository_url)
  export ANSIBLE_COLLECTIONS_PATH=$BUILD/compat-$PAIR ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
  export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1
  export ANSIBLE_LOCAL_TEMP=$BUILD/compat-$PAIR/ansible-tmp ANSIBLE_HOME=$BUILD/compat-$PAIR/ansible-home
  problems=()
  for run in upgrade no-op; do
    echo
    echo "=== $PAIR, the $run run: ansible-playbook mdl.herd.upgrade_herd -e herd_version=0.176.0 -e mdl_instance_name=mdl -e mdl_environment=DEV ==="
    start=$(date +%s)
    set +e
    "$VENV/bin/ansible-playbook" mdl.herd.upgrade_herd -e herd_version=0.176.0 -e mdl_instance_name=mdl \
      -e mdl_environment=DEV -e herd_upgrade_ca_path="$ca" -e herd_upgrade_artifact_repository="$maven" 2>&1 \
      | tee "$LOGS/$run.log"
    rc=${PIPESTATUS[0]}
    set -e
    recap=$(grep -E '^localhost +: ok=' "$LOGS/$run.log" | tail -1 || true)
    changed=$(sed -n 's/.* changed=\([0-9]*\).*/\1/p' <<< "$recap")
    if [ "$run" = upgrade ]; then want_outcome=upgraded; else want_outcome=already_served; fi
    outcome_ok=no; grep -Eq "\| *$want_outcome\"?,?\$" "$LOGS/$run.log" && outcome_ok=yes
    echo "--- $PAIR, the $run run: rc $rc, changed=${changed:-?}, outcome $want_outcome: $outcome_ok, $(( $(date +%s) - start ))s"
    [ "$rc" -eq 0 ] || problems+=("the $run run ended with rc $rc")
    if [ "$run" = upgrade ]; then [ "${changed:-0}" -ge 1 ] || problems+=("the upgrade run changed nothing (changed=${changed:-?})")
    else [ "${changed:-x}" = 0 ] || problems+=("the no-op run changed something (changed=${changed:-?})"); fi
    [ "$outcome_ok" = yes ] || problems+=("the $run run's table has no outcome $want_outcome")
    [ "$rc" -eq 0 ] || break
  done
  if [ ${#problems[@]} -gt 0 ]; then
    for problem in "${problems[@]}"; do echo "compat $PAIR, playbook: $problem" >&2; done
    exit 1
  fi
  echo "compat $PAIR, playbook: upgrade then no-op on the sandbox: ok"
  exit 0
fi

# --- compat.sh [--units] PAIR BUILD_DIR ---------------------------------------------------------------------------------
UNITS_ONLY=no
if [ "${1:-}" = "--units" ]; then UNITS_ONLY=yes; shift; fi
[ $# -eq 2 ] || usage
PAIR=$1
BUILD=$2
pair_spec "$PAIR"
VENV=$BUILD/venv-$PAIR
TREE=$BUILD/compat-$PAIR/ansible_collections
WHEELS=$BUILD/wheels/${BUNDLE/==/-}
# a venv made for other pins (or by an interrupted run) is made again
SPEC="$CORE $PYVER $(md5sum < "$ROOT/tests/unit/requirements.txt" | cut -c1-8)"
if [ "$(cat "$VENV/.compat-spec" 2>/dev/null)" != "$SPEC" ] || [ ! -x "$VENV/bin/ansible-test" ]; then
  rm -rf "$VENV"
  # pyenv's shims need the version named
  PYENV_VERSION=$(ls "$HOME/.pyenv/versions" 2>/dev/null | grep "^$PYVER\." | tail -1) "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$CORE" -r "$ROOT/tests/unit/requirements.txt" \
    pytest pytest-xdist pytest-mock pyyaml
  echo "$SPEC" > "$VENV/.compat-spec"
fi
# on its own: a build directory left by an interrupted run may hold the venv and not the wheel
if ! compgen -G "$WHEELS/ansible-*.whl" > /dev/null; then
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "$BUNDLE" -d "$WHEELS"
fi
rm -rf "$TREE" && mkdir -p "$TREE/mdl/herd" "$TREE/amazon"
tar -C "$ROOT" -cf - --exclude=./.git --exclude=./.venv --exclude=./.cache --exclude=./.sandbox --exclude=./dist \
  --exclude=./tests/output --exclude=./sandbox --exclude=./benchmarks --exclude=./tests/scenarios --exclude=.pytest_cache \
  --exclude=__pycache__ --exclude=./.ci --exclude=./tests/integration/integration_config.yml . | tar -C "$TREE/mdl/herd" -xf -
"$VENV/bin/python" - "$WHEELS"/ansible-*.whl "$TREE" <<'PY'
import sys, zipfile
wheel, tree = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith("ansible_collections/amazon/aws/"):
            archive.extract(name, tree + "/..")
PY
# the versions found, and whether amazon.aws and this collection claim to support that ansible-core
"$VENV/bin/python" - "$TREE" "$BUILD/compat-$PAIR/versions" <<'PY'
import json, platform, sys, yaml
from packaging.specifiers import SpecifierSet
import ansible.release
tree, versions = sys.argv[1], sys.argv[2]
core = ansible.release.__version__
aws = json.load(open(tree + "/amazon/aws/MANIFEST.json"))["collection_info"]["version"]
print("ansible-core", core, "/ amazon.aws", aws, "/ Python", platform.python_version())
with open(versions, "w") as out:
    out.write("{0} {1} {2}\n".format(core, aws, platform.python_version()))
for name, path in (("amazon.aws " + aws, "/amazon/aws"), ("mdl.herd", "/mdl/herd")):
    wanted = yaml.safe_load(open(tree + path + "/meta/runtime.yml")).get("requires_ansible", "")
    if core not in SpecifierSet(wanted):
        sys.exit("{0} requires_ansible {1!r}: not ansible-core {2}".format(name, wanted, core))
PY
# ansible-test looks for its pip bootstrap script under a name of its own (the download host is not reachable)
PIP_BOOTSTRAP=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$VENV"/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -1)
[ -n "$PIP_BOOTSTRAP" ] || { echo "compat.sh: no pip version found in this ansible-test" >&2; exit 1; }
mkdir -p "$HOME/.ansible/test/cache"
cp "$ROOT/tests/utils/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${PIP_BOOTSTRAP//./_}.py"
export PATH="$VENV/bin:$PATH"
# Every step runs even when an earlier one failed; the pair fails if any did.
results=(); failed=no
step() {  # step NAME COMMAND...
  local name=$1 start; shift
  start=$(date +%s)
  echo; echo "=== compat $PAIR: $name ==="
  if "$@"; then results+=("$name passed $(( $(date +%s) - start ))s;")
  else results+=("$name FAILED $(( $(date +%s) - start ))s;"); failed=yes; fi
}
cd "$TREE/mdl/herd"
if [ "$UNITS_ONLY" = no ]; then
  step sanity ansible-test sanity --venv --python "$PYVER" --color no
fi
step units ansible-test units --venv --python "$PYVER" --color no --requirements
if [ "$UNITS_ONLY" = no ]; then
  # The shipped playbook on this pair: a sandbox with one short stack, the upgrade, then the no-op.
  cat > "$BUILD/compat-$PAIR/fleet.yml" <<EOF
stacks:
  - mdl_instance_name: mdl
    mdl_environment: DEV
    current_version: 0.170.0
    deployment_seconds: $DEPLOYMENT_SECONDS
EOF
  cd "$ROOT"
  step playbook "${SANDBOX_PYTHON:-$ROOT/.venv/bin/python}" tests/utils/with_sandbox.py \
    --workdir "$BUILD/compat-$PAIR/sandbox" --fleet "$BUILD/compat-$PAIR/fleet.yml" -- \
    bash "$SELF" --playbook-runs "$PAIR" "$BUILD"
fi
echo
read -r core aws python < "$BUILD/compat-$PAIR/versions"
echo "compat $PAIR (ansible-core $core, amazon.aws $aws, Python $python): ${results[*]}"
[ "$failed" = no ]
