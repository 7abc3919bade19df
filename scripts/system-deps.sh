#!/usr/bin/env bash
# Installs the system packages the test suite needs, when they are missing (Debian and Ubuntu,
# with apt-get). Quiet and fast when everything is there, so `make setup` runs it every time.
# Without root it uses sudo when sudo works without a password. When it cannot install, it
# prints what to install and exits 0, or 1 with CI=true (CI must never skip those tests).
#   bash scripts/system-deps.sh           install what is missing
#   bash scripts/system-deps.sh --check   only report; exit 1 if something is missing
set -euo pipefail

# One entry per Debian package: "package|check|what for". The check is a command that succeeds
# when the package is present. Add a line to add a package, e.g. for the browser tests:
#   "chromium|command -v chromium >/dev/null 2>&1|headless Chromium for the browser-marked tests"
PACKAGES=(
  "postgresql|have_postgres|PostgreSQL server binaries (initdb, pg_ctl) for the PostgresStore tests"
  "chromium|command -v chromium >/dev/null 2>&1|headless Chromium for the browser-marked tests"
)

have_postgres() {  # the same places tests/stores/conftest.py looks
  [ -n "${CONVOLAB_TEST_POSTGRES_DSN:-}" ] && return 0  # the tests use that server instead
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

missing_packages() {
  local entry pkg check why
  for entry in "${PACKAGES[@]}"; do
    IFS='|' read -r pkg check why <<<"$entry"
    eval "$check" || echo "$pkg|$why"
  done
}

package_names() { cut -d'|' -f1 <<<"$missing" | paste -sd' ' -; }

ci() { case "${CI:-}" in 1|true|TRUE|True|yes) return 0 ;; *) return 1 ;; esac; }

give_up() {  # $1: why nothing was installed
  echo "system-deps: $1. Install these system packages, then run make setup again:" >&2
  while IFS='|' read -r pkg why; do echo "  $pkg: $why" >&2; done <<<"$missing"
  echo "  (Debian/Ubuntu: sudo apt-get install --no-install-recommends $(package_names);" >&2
  echo "   macOS: brew install postgresql; or set CONVOLAB_TEST_POSTGRES_DSN to a server of yours)" >&2
  if ci; then exit 1; fi
  echo "system-deps: continuing; the tests that need them will be skipped (they fail when CI=true)." >&2
  exit 0
}

missing=$(missing_packages)
[ -z "$missing" ] && exit 0
if [ "${1:-}" = "--check" ]; then
  while IFS='|' read -r pkg why; do echo "missing: $pkg ($why)"; done <<<"$missing"
  exit 1
fi

command -v apt-get >/dev/null 2>&1 || give_up "apt-get is not available on this machine"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    give_up "not root, and sudo needs a password (or is not installed)"
  fi
fi
packages=$(package_names)
echo "system-deps: installing $packages (apt-get)"
# shellcheck disable=SC2086  # $packages is a list of words
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; then
  give_up "apt-get failed"
fi
missing=$(missing_packages)
[ -z "$missing" ] || give_up "still missing after apt-get install"
echo "system-deps: done"
