# Shared by mlgate's composite actions; sourced by their `run:` steps, never executed on its own.
#
# Every action input reaches this code as an environment variable (INPUT_*) set through the step's `env:`,
# never as `${{ }}` inside a script, and every value becomes exactly one argv element of mlgate: nothing here
# is evaluated, split or globbed, so an input such as `$(touch /tmp/pwned)` or `"; rm -rf ~ #` is only data.
#
# An action runs these steps (actions/setup runs the first five and stops):
#   python       actions/setup-python, when setup-python is true
#   prepare      . mlgate.sh; mlgate_prepare      -> outputs python, cache-key, cache-dir
#   cache        actions/cache/restore of cache-dir under cache-key (pip's download cache of the locked wheels)
#   install      . mlgate.sh; mlgate_install      -> pip install --require-hashes -r requirements/actions-EXTRA.lock,
#                                                    then mlgate itself from this checkout with --no-deps
#   cache-save   actions/cache/save, after a successful install that missed the cache
#   gate         . mlgate.sh; opt ...; run_mlgate COMMAND
#
# The install lives in a step of every action, not in one action the others call: a composite action can
# only call another action as owner/repo/path@ref (it cannot name its own commit) or ./path (resolved against
# the caller's workspace, not the action's folder), so a sibling action cannot be used at the same commit.
# What is shared is this script; tests/test_actions_schema.py checks the steps are the same in every action.
#
# In the gate step:
#   opt --predictions "$INPUT_PREDICTIONS"     # a flag with one value, skipped when the input is empty
#   opt_lines --min "$INPUT_MIN"               # the flag once per non-empty line of the input
#   run_mlgate metrics                         # runs mlgate, exits with its code
#
# Common inputs, read from the environment: INPUT_INSTALL (true|false), INPUT_POLICY, INPUT_REPORT_DIR,
# INPUT_AUDIT (true|false), INPUT_AUDIT_LOG, INPUT_ARGS (extra arguments, one per line, taken literally),
# INPUT_FAIL_ON (never|error|fail; gate actions only), INPUT_WORKING_DIRECTORY, INPUT_SETUP_PYTHON (only validated here),
# MLGATE_PYTHON (the interpreter: setup-python's, else the prepare step's), MLGATE_INSTALL_OUTCOME (the install
# step's outcome), MLGATE_PIP_CACHE (pip's cache folder, restored and saved by actions/cache), MLGATE_KUBECONFIG
# (the private file the action wrote its `kubeconfig` input to; exported as KUBECONFIG for mlgate).

set -uo pipefail

MLGATE_FLAGS=()
MLGATE_SOURCE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"
mlgate_extra() {
  # Which family of gates this action runs, from its folder: each action installs only that extra's locked
  # dependencies (the tests action needs no numpy, the security action no pandas). The root action (every
  # gate) and actions/setup take them all.
  case "$(basename -- "${GITHUB_ACTION_PATH:-}")" in
    tests) echo core ;;
    model-metrics | bias | data-drift) echo model ;;
    security) echo security ;;
    deploy | canary | validate-deployment) echo deploy ;;
    registry) echo registry ;;
    *) echo all ;;
  esac
}
MLGATE_EXTRA="${MLGATE_EXTRA:-$(mlgate_extra)}"
MLGATE_LOCK="$MLGATE_SOURCE/requirements/actions-$MLGATE_EXTRA.lock"
MLGATE_FAIL_ON=fail

mlgate_fail() {
  # mlgate_fail MESSAGE [CODE]: a one-line error (annotated in the job), the fallback outputs, then stop with
  # CODE: mlgate's exit codes, 2 (bad input, the default) or 3 (infrastructure); 0 with `fail-on: never`
  # (report only: the outputs still say error). MESSAGE never contains an input's value.
  local code=${2:-2}
  printf '::error title=mlgate action::%s\n' "$1" >&2
  mlgate_fallback_outputs "$code" "$1"
  if [ "$MLGATE_FAIL_ON" = never ]; then
    exit 0
  fi
  exit "$code"
}

mlgate_fallback_outputs() {
  # mlgate writes its own step outputs; when it stops before running any gate (a missing policy, an
  # unknown flag) or never starts, write the few that callers rely on, so `status` is never empty.
  local code=$1 why=$2
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'status=error\nexit-code=%s\n' "$code" >>"$GITHUB_OUTPUT"
  fi
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '## ❌ mlgate: error\n\n%s (exit code %s). The step log has the details.\n' \
      "${why//$'\n'/ }" "$code" >>"$GITHUB_STEP_SUMMARY"
  fi
}

mlgate_bool() {
  # mlgate_bool NAME VALUE: accept only true/false, so a typo never silently changes behaviour.
  case "$2" in
    true | false) ;;
    *) mlgate_fail "input '$1' must be true or false" ;;
  esac
}

opt() {
  # opt FLAG VALUE: add `FLAG VALUE` when VALUE is not empty.
  if [ -n "$2" ]; then
    MLGATE_FLAGS+=("$1" "$2")
  fi
}

opt_lines() {
  # opt_lines FLAG VALUES: add `FLAG LINE` for every non-empty line of VALUES.
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    if [ -n "$line" ]; then
      MLGATE_FLAGS+=("$1" "$line")
    fi
  done <<<"$2"
}

opt_bool() {
  # opt_bool NAME VALUE ON_FLAG [OFF_FLAG]: empty VALUE leaves the policy's setting alone; true adds ON_FLAG,
  # false adds OFF_FLAG (when the command has one); anything else is an error.
  if [ -z "$2" ]; then
    return
  fi
  mlgate_bool "$1" "$2"
  if [ "$2" = true ]; then
    MLGATE_FLAGS+=("$3")
  elif [ -n "${4:-}" ]; then
    MLGATE_FLAGS+=("$4")
  fi
}

mlgate_python() {
  # The interpreter mlgate is installed into and run by: setup-python's (MLGATE_PYTHON), else python3 (or
  # python, on Windows) on PATH. Prints nothing and returns 1 when there is none.
  if [ -n "${MLGATE_PYTHON:-}" ]; then
    printf '%s\n' "$MLGATE_PYTHON"
    return 0
  fi
  command -v python3 || command -v python
}

mlgate_prepare() {
  # The prepare step: which Python, and the cache key of pip's downloads for it. The key names the runner's
  # OS and architecture, the Python version and the SHA-256 of requirements/actions-EXTRA.lock, so a changed lock
  # (a reviewed commit) is a new cache and nothing else is. A step, not setup-python's `cache: pip`: that
  # hashes only files under GITHUB_WORKSPACE, and this action's checkout is outside it.
  local python version digest
  python=$(mlgate_python) || return 0 # the gate step says what is missing
  printf 'python=%s\n' "$python" >>"$GITHUB_OUTPUT"
  if [ "${INPUT_INSTALL:-true}" != true ] || [ ! -f "$MLGATE_LOCK" ]; then
    return 0
  fi
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || return 0
  digest=$("$python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$MLGATE_LOCK") || return 0
  printf 'cache-key=mlgate-pip-%s-%s-py%s-%s\ncache-dir=%s\n' "${RUNNER_OS:-$(uname -s)}" \
    "${RUNNER_ARCH:-$(uname -m)}" "$version" "$digest" "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mlgate-pip-cache" \
    >>"$GITHUB_OUTPUT"
}

mlgate_install() {
  # The install step: mlgate's dependencies exactly as locked (pip's hash-checking mode: every package pinned
  # to one version and checked against its SHA-256), then mlgate itself from this checkout without
  # dependencies and without build isolation (setuptools and wheel are in the lock too). A failure is
  # annotated here and reported by the gate step, which turns it into status error, exit code 3.
  local python code=0
  python=$(mlgate_python) || {
    echo "::error title=mlgate action::no python3 on PATH: set setup-python: true" >&2
    return 3
  }
  if [ ! -f "$MLGATE_LOCK" ]; then
    echo "::error title=mlgate action::requirements/actions-$MLGATE_EXTRA.lock is missing from mlgate's checkout" >&2
    return 3
  fi
  if [ -n "${MLGATE_PIP_CACHE:-}" ]; then
    mkdir -p -- "$MLGATE_PIP_CACHE"
    export PIP_CACHE_DIR="$MLGATE_PIP_CACHE"
  fi
  local pip=("$python" -m pip install --disable-pip-version-check --progress-bar off)
  echo "::group::pip install mlgate's dependencies from requirements/actions-$MLGATE_EXTRA.lock (hash-checked)"
  "${pip[@]}" --require-hashes -r "$MLGATE_LOCK" || code=$?
  echo "::endgroup::"
  if [ "$code" = 0 ]; then
    echo "::group::pip install mlgate from $MLGATE_SOURCE"
    "${pip[@]}" --no-deps --no-build-isolation "$MLGATE_SOURCE" || code=$?
    echo "::endgroup::"
  fi
  if [ "$code" != 0 ]; then
    echo "::error title=mlgate action::pip install of mlgate failed (exit code $code)" >&2
    return 3
  fi
}

mlgate_check() {
  # actions/setup's last step: the installed mlgate runs; its path and version become outputs.
  mlgate_bool setup-python "${INPUT_SETUP_PYTHON:-true}"
  local python mlgate version
  python=$(mlgate_python) || mlgate_fail "no python3 on PATH: set setup-python: true" 3
  mlgate="$(dirname -- "$python")/mlgate"
  if [ ! -x "$mlgate" ]; then
    mlgate=$(command -v mlgate) || mlgate_fail "mlgate was installed into $python but is not on PATH" 3
  fi
  version=$("$mlgate" --version) || mlgate_fail "the installed mlgate does not run" 3
  echo "$version ($mlgate)"
  printf 'mlgate-path=%s\nversion=%s\n' "$mlgate" "${version##* }" >>"$GITHUB_OUTPUT"
}

run_mlgate() {
  # run_mlgate COMMAND...: mlgate [global options] COMMAND... [the action's flags] [the `args` input].
  local install=${INPUT_INSTALL:-true} audit=${INPUT_AUDIT:-true} fail_on=${INPUT_FAIL_ON:-}
  # fail-on: only the gate actions have it. mlgate never relaxes its delivery commands (deploy, canary,
  # validate-deployment): a failed rollout must fail the job, so their actions have no such input.
  case "$fail_on" in
    never | error | fail) MLGATE_FAIL_ON=$fail_on ;;
    '') ;;
    *) mlgate_fail "input 'fail-on' must be never, error or fail" ;;
  esac
  mlgate_bool install "$install"
  mlgate_bool audit "$audit"
  mlgate_bool setup-python "${INPUT_SETUP_PYTHON:-false}"

  local python
  python=$(mlgate_python) || mlgate_fail "no python3 on PATH: set setup-python: true"
  if [ "$install" = true ] && [ "${MLGATE_INSTALL_OUTCOME:-}" != success ]; then
    mlgate_fail "installing mlgate failed (see the step before; outcome: ${MLGATE_INSTALL_OUTCOME:-not run})" 3
  fi
  local mlgate
  mlgate="$(dirname -- "$python")/mlgate"
  if [ ! -x "$mlgate" ]; then
    mlgate=$(command -v mlgate) || mlgate_fail "mlgate is not installed: set install: true, or install it before this step"
  fi

  local global=() extra=() line
  if [ -n "$fail_on" ]; then
    global+=(--fail-on "$fail_on")
  fi
  if [ -n "${INPUT_POLICY:-}" ]; then
    global+=(--policy "$INPUT_POLICY")
  fi
  if [ -n "${INPUT_REPORT_DIR:-}" ]; then
    global+=(--report-dir "$INPUT_REPORT_DIR")
  fi
  if [ -n "${INPUT_AUDIT_LOG:-}" ]; then
    global+=(--audit-log "$INPUT_AUDIT_LOG")
  fi
  if [ "$audit" = false ]; then
    global+=(--no-audit)
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    if [ -n "$line" ]; then
      extra+=("$line")
    fi
  done <<<"${INPUT_ARGS:-}"

  if [ -n "${MLGATE_KUBECONFIG:-}" ]; then
    export KUBECONFIG="$MLGATE_KUBECONFIG"
  fi
  if [ -n "${INPUT_WORKING_DIRECTORY:-}" ]; then
    cd -- "$INPUT_WORKING_DIRECTORY" || mlgate_fail "working-directory: no such directory"
  fi

  local before=0 after=0 outputs=${GITHUB_OUTPUT:-}
  if [ -n "$outputs" ]; then
    touch -- "$outputs"
    before=$(wc -c <"$outputs")
  fi
  # ${a[@]+"${a[@]}"}: an empty array expands to nothing, also under `set -u` in the bash 3.2 of macOS.
  # `|| code=$?`: the runner's bash has -e, which would otherwise end the step before the outputs are checked.
  # mlgate applies --fail-on to its own exit code; the outputs keep the real verdict.
  local code=0
  "$mlgate" ${global[@]+"${global[@]}"} "$@" ${MLGATE_FLAGS[@]+"${MLGATE_FLAGS[@]}"} ${extra[@]+"${extra[@]}"} || code=$?
  if [ -n "$outputs" ]; then
    after=$(wc -c <"$outputs")
  fi
  if [ -n "$outputs" ] && [ "$after" = "$before" ]; then
    if [ "$code" = 0 ]; then
      # Exit 0 without a verdict would be a pass nobody decided: never report it as one.
      mlgate_fail "mlgate $1 exited 0 without writing a verdict" 3
    fi
    mlgate_fallback_outputs "$code" "mlgate $1 stopped before running a gate"
  fi
  if [ "$code" != 0 ] && [ "$MLGATE_FAIL_ON" = never ]; then
    # Report only: mlgate exits 0 itself; this also covers a stop before its options were read.
    echo "mlgate $1 exited with $code; fail-on: never keeps the step green (the outputs say what happened)"
    code=0
  fi
  exit "$code"
}
