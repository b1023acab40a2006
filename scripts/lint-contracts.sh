#!/bin/sh
# Lints the contract documents (docs/openapi.yaml, docs/mocks-openapi.yaml)
# with @redocly/cli under the rules in redocly.yaml; an error fails, a warning
# is printed. The CLI version is pinned in tools/redocly/package-lock.json and
# installed into tools/redocly/node_modules (git-ignored) on the first run only:
# later runs find the stamp and touch no network.
#
# Where node or npm is missing (or too old for the pinned CLI), it says the
# lint was skipped and why, and exits 0; KONFORM_SKIP_CONTRACT_LINT=1 does the
# same on purpose (say, offline before the first install).
set -eu
cd "$(dirname "$0")/.."

tooldir=tools/redocly
stamp=$tooldir/node_modules/.konform-installed
docs="docs/openapi.yaml docs/mocks-openapi.yaml"

skip() {
  echo "lint-contracts: SKIPPED, the contract documents were not linted: $*"
  exit 0
}

[ "${KONFORM_SKIP_CONTRACT_LINT:-0}" = 1 ] && skip "KONFORM_SKIP_CONTRACT_LINT=1"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"

# The pinned CLI's own "engines" range: Node.js 20.19+ (20.x) or 22.12+.
node_ok=$(node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  console.log((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? "yes" : "no");')
[ "$node_ok" = yes ] || skip "node $(node --version) is older than @redocly/cli needs (20.19 or 22.12)"

# Install only when the lock file changed since the last install.
if ! cmp -s "$tooldir/package-lock.json" "$stamp" 2>/dev/null; then
  echo "lint-contracts: installing @redocly/cli from $tooldir/package-lock.json"
  npm ci --prefix "$tooldir" --no-audit --no-fund --ignore-scripts --loglevel=error ||
    { echo "lint-contracts: npm ci failed (offline? KONFORM_SKIP_CONTRACT_LINT=1 skips the lint)" >&2; exit 1; }
  cp "$tooldir/package-lock.json" "$stamp"
fi

# No telemetry and no update check: the lint talks to nobody.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
export REDOCLY_TELEMETRY REDOCLY_SUPPRESS_UPDATE_NOTICE NO_COLOR
log=$(mktemp "${TMPDIR:-/tmp}/lint-contracts.XXXXXX")
trap 'rm -f "$log"' EXIT
rc=0
# shellcheck disable=SC2086
"$tooldir/node_modules/.bin/redocly" lint --config redocly.yaml --format stylish $docs >"$log" 2>&1 || rc=$?
# The findings and the verdict; the CLI's banners (a Node.js 20 notice) stay out.
grep -E '^(docs/|  [0-9]+:[0-9]+ )|Validation failed|Woohoo|valid' "$log" || true
if [ "$rc" -ne 0 ]; then
  echo "lint-contracts: FAILED (redocly lint exited $rc); the full output:" >&2
  cat "$log" >&2
  exit 1
fi
echo "lint-contracts: no errors in $docs"
