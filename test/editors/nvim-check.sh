#!/usr/bin/env bash
# Headless check of the Neovim setup documented in docs/editors.md (Neovim 0.11+): the Lua blocks of
# its "## Neovim" section are extracted as they are written there (the block starting with
# `-- ~/.config/nvim/lsp/diffill.lua` becomes lsp/diffill.lua, the one starting with `-- init.lua`
# becomes init.lua) into a throwaway config, and test/editors/nvim-check.lua then drives Neovim:
# the client attaches to `diffill lsp --stdio` (the shipped models/default), :DiffillFillBlanks,
# :DiffillWriteBefore and :DiffillGuidance change what they should, and the server answers
# textDocument/inlineCompletion (on 0.12+ also: the documented ghost-text setup is enabled).
#
#   test/editors/nvim-check.sh             # nvim on PATH
#   NVIM=/path/to/nvim test/editors/nvim-check.sh
#
# Needs `npm run build` (dist/cli.js). Not part of `npm test`: Neovim is no dependency of the project.
# Prints `N passed, N failed`; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
nvim="${NVIM:-nvim}"
doc="$root/docs/editors.md"

if ! command -v "$nvim" >/dev/null 2>&1; then
  echo "nvim-check: no Neovim at '$nvim' (set NVIM=/path/to/nvim)" >&2
  exit 2
fi
version="$("$nvim" --version | head -n 1)"  # "NVIM v0.11.4"
if ! [[ "$version" =~ ^NVIM\ v([0-9]+)\.([0-9]+) ]]; then
  echo "nvim-check: cannot read the version of $nvim ('$version')" >&2
  exit 2
fi
if (( BASH_REMATCH[1] == 0 && BASH_REMATCH[2] < 11 )); then
  echo "nvim-check: $version is too old: the documented setup needs vim.lsp.config/vim.lsp.enable (Neovim 0.11+)" >&2
  exit 2
fi
if [ ! -f "$root/dist/cli.js" ]; then
  echo "nvim-check: dist/cli.js is missing: run \`npm run build\` first" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The Lua block of the "## Neovim" section whose first line starts with $1.
extract() {
  awk -v want="$1" '
    /^## / { section = ($0 == "## Neovim"); next }
    section && /^```lua$/ { inside = 1; first = 1; hit = 0; text = ""; next }
    section && inside && /^```$/ { inside = 0; if (hit) { printf "%s", text; found = 1; exit } next }
    section && inside { if (first) { hit = (index($0, want) == 1); first = 0 } text = text $0 "\n" }
    END { if (!found) exit 1 }
  ' "$doc"
}

config="$tmp/config/nvim"
mkdir -p "$config/lsp" "$tmp/bin" "$tmp/work"
extract '-- ~/.config/nvim/lsp/diffill.lua' >"$config/lsp/diffill.lua" ||
  { echo "nvim-check: docs/editors.md has no lua block starting with '-- ~/.config/nvim/lsp/diffill.lua'" >&2; exit 2; }
extract '-- init.lua' >"$config/init.lua" ||
  { echo "nvim-check: docs/editors.md has no lua block starting with '-- init.lua'" >&2; exit 2; }

# The documented `cmd` runs `diffill` from PATH, as after `npm install -g` or `npm link`.
ln -s "$root/bin/diffill" "$tmp/bin/diffill"

# Python files with blanks and a line to write above (no .git above them: single-file mode).
printf 'def area(width, height):\n    return width ___ height\n\n\nprint(area(3, ___))\n' >"$tmp/work/blanks.py"
printf 'def greet(name):\n    return "Hello, " + name\n' >"$tmp/work/before.py"

echo "nvim-check: $version ($(command -v "$nvim")), server: $root/bin/diffill lsp --stdio, model: models/default"
cd "$tmp/work"
# A private config, data and state: nothing from the user's own Neovim setup is loaded.
PATH="$tmp/bin:$PATH" \
XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_STATE_HOME="$tmp/state" XDG_CACHE_HOME="$tmp/cache" \
  timeout 600 "$nvim" --headless "$tmp/work/blanks.py" -c "luafile $here/nvim-check.lua"
