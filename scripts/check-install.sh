#!/usr/bin/env bash
# Installs the committed HEAD on every path a user takes, in a temporary folder, and fails on any
# npm warning or a package that does not import:
#
#   fresh clone:  npm ci (builds, through the "dependencies" script), npx kotoba --help
#   consumers:    npm install of the `npm pack` tarball, of a git URL, of the (built) clone folder
#
# Slow (several installs and builds): run by .ci/run, not by npm test.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "check-install: $*" >&2; exit 1; }

# Runs an npm command in a folder; its output must hold no warning.
clean_npm() {
  local dir="$1"; shift
  (cd "$dir" && npm "$@" --no-fund --no-audit) > "$work/npm.log" 2>&1 || { cat "$work/npm.log" >&2; fail "npm $* failed in ${dir#"$work"/}"; }
  if grep -qi 'warn' "$work/npm.log"; then cat "$work/npm.log" >&2; fail "npm $* warned in ${dir#"$work"/}"; fi
}

# A consumer project that installs kotoba from $1, then imports both entry points and runs the CLI.
consumer() {
  local name="$1" spec="$2" dir="$work/$1"
  mkdir -p "$dir" && (cd "$dir" && npm init -y > /dev/null)
  clean_npm "$dir" install "$spec"
  (cd "$dir" && node --input-type=module -e "
    const { splitWords } = await import('kotoba');
    const { readLines } = await import('kotoba/node');
    if (splitWords('a b').length !== 2 || typeof readLines !== 'function') process.exit(1);
  ") || fail "$name: kotoba does not import"
  (cd "$dir" && npx --no-install kotoba --help > /dev/null) || fail "$name: npx kotoba --help failed"
  echo "check-install: $name: clean install, imports, CLI runs"
}

git clone -q "$repo" "$work/clone"
clean_npm "$work/clone" ci
[ -f "$work/clone/dist/src/cli/main.js" ] && [ -f "$work/clone/dist/bin/main.js" ] || fail 'npm ci did not build'
(cd "$work/clone" && npx --no-install kotoba --help > /dev/null) || fail 'fresh clone: npx kotoba --help failed'
echo 'check-install: fresh clone: npm ci is clean and builds'

mkdir "$work/packed"
(cd "$work/clone" && npm pack --pack-destination "$work/packed" > /dev/null 2>&1) || fail 'npm pack failed'
consumer tarball "$(echo "$work"/packed/*.tgz)"
consumer git "git+file://$work/clone"
consumer folder "$work/clone"
