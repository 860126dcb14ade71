#!/usr/bin/env bash
# make demo: upgrade the sandbox's mdl/DEV with the playbook, then run the same command again (nothing to do).
# Run by tests/utils/with_sandbox.py, which exports the sandbox's AWS settings and SANDBOX_ENDPOINTS.
set -euo pipefail
endpoint() { python3 -c 'import json, os, sys; print(json.load(open(os.environ["SANDBOX_ENDPOINTS"]))[sys.argv[1]])' "$1"; }
command=(ansible-playbook mdl.herd.upgrade_herd -e herd_version=0.176.0 -e mdl_instance_name=mdl -e mdl_environment=DEV
         -e "herd_upgrade_ca_path=$(endpoint herd_ca_path)"
         -e "herd_upgrade_artifact_repository=$(endpoint maven_repository_url)")
for run in first second; do
  echo
  echo "=== $run run ==="
  echo "\$ ${command[*]}"
  "${command[@]}"
done
