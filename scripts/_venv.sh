# Sourced by scripts/run and scripts/test: make .venv current, quietly when it already is.
# Usage: ensure_venv EXTRAS   (e.g. "" or "test": pytest and its plugins, and the pinned
# ruff and mypy that scripts/test runs; all declared in pyproject.toml's test extra)
ensure_venv() {
  local extras="$1"
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local venv="$root/.venv"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "indexer needs Python 3.11 or newer (found: $("$python" --version 2>&1))" >&2
    exit 1
  fi
  # The stamp records what the venv was built from; rebuild only when that changes.
  local want; want="$("$python" --version 2>&1) extras=$extras $(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)"
  local have=""
  [ -f "$venv/.stamp" ] && have="$(cat "$venv/.stamp")"
  if [ "$want" != "$have" ] || [ ! -x "$venv/bin/python" ]; then
    echo "setting up $venv ..." >&2
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    local spec="$root"
    [ -n "$extras" ] && spec="$root[$extras]"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >&2 \
      || { echo "dependency installation failed" >&2; exit 1; }
    echo "$want" > "$venv/.stamp"
  fi
}
