#!/usr/bin/env bash
# npm run test:pods: machine set-up (scripts/pods/setup.sh), then the pod-level
# tests (jest.pods.config.js). Where podman cannot run pods it prints one line
# saying why and exits 0 (skipped). One run at a time per machine: the runs
# share podman (the proxy's ConfigMap volume is named after the ConfigMap).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"

exec 9>/tmp/traffic-mirroring-pods.lock
flock 9

started=$(date +%s)
why=$(bash scripts/pods/setup.sh 2>&1 >/dev/null)
rc=$?
if [ $rc = 3 ]; then
  echo "pod-level tests skipped: ${why#pods: }"
  exit 0
elif [ $rc != 0 ]; then
  echo "$why" >&2
  exit $rc
fi
[ -n "$why" ] && echo "$why" >&2
node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js -c jest.pods.config.js "$@"
rc=$?
echo "pod-level tests: $(( $(date +%s) - started )) s, set-up included"
exit $rc
