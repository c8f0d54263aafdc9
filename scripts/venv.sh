# Sourced by scripts/test and scripts/example: build (or reuse) a virtual environment from one lock file.
#
# make_venv DIR LOCK: DIR gets exactly the hash-checked packages of LOCK plus mlgate itself (editable, no
# dependencies), never anything from the machine's site-packages. DIR is rebuilt whenever LOCK, pyproject.toml
# or the interpreter changes (a stamp file holds their digest), and reused otherwise.
make_venv() {
  local dir=$1 lock=$2 python=${PYTHON:-python3} stamp want
  unset PYTHONPATH PYTHONHOME PIP_USER PIP_TARGET PIP_PREFIX
  stamp="$dir/.mlgate-stamp"
  want=$( { sha256sum "$lock" pyproject.toml; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
    echo "$dir: up to date with $lock"
  else
    rm -rf "$dir"
    "$python" -m venv "$dir" || return 2
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$lock" ||
      return 2
    echo "$want" >"$stamp"
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . ||
    return 2
  "$dir/bin/python" -m pip check >/dev/null || { "$dir/bin/python" -m pip check; return 2; }
  case $dir in /*) ;; *) dir="$PWD/$dir" ;; esac
  export PATH="$dir/bin:$PATH" VIRTUAL_ENV="$dir"
}
