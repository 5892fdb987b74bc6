#!/usr/bin/env bash
# Installs what the end-to-end test needs, offline-friendly: Debian's Chromium, ripgrep and the
# kerberos headers (code-server builds a native module), then code-server + playwright-core into
# test/e2e/node_modules. Safe to re-run: every step is skipped when already done.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: apt-get install ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# code-server's postinstall installs VS Code's own modules; ripgrep's binary is the last thing it
# puts in place, so its presence means a finished install.
if [ -x node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg ] && [ -d node_modules/playwright-core ]; then
  echo "setup: code-server and playwright-core already installed"
  exit 0
fi

# @vscode/ripgrep downloads rg from GitHub in its postinstall; it first looks for a cached archive
# under $TMPDIR, so an archive of Debian's rg lets the install finish without that download.
tmp="${TMPDIR:-/tmp}"
rg_version=1.15.11  # pinned by code-server 4.100.3's npm-shrinkwrap.json
cache="$tmp/vscode-ripgrep-cache-$rg_version"
archive="$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -f "$archive" ]; then
  mkdir -p "$cache"
  staging="$(mktemp -d)"
  cp "$(command -v rg)" "$staging/rg"
  tar -C "$staging" -czf "$archive" rg
  rm -rf "$staging"
fi

# Native modules must build against the running Node's headers (no header download).
if [ -z "${npm_config_nodedir:-}" ]; then
  node_prefix="$(dirname "$(dirname "$(command -v node)")")"
  [ -d "$node_prefix/include/node" ] && export npm_config_nodedir="$node_prefix"
fi
export npm_config_unsafe_perm=true npm_config_yes=true
# package.json's allowScripts approves exactly code-server's and argon2's install scripts.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
echo "setup: done"
