# Shared by mlgate's composite actions; sourced by their `run:` steps, never executed on its own.
#
# Every action input reaches this code as an environment variable (INPUT_*) set through the step's `env:`,
# never as `${{ }}` inside a script, and every value becomes exactly one argv element of mlgate: nothing here
# is evaluated, split or globbed, so an input such as `$(touch /tmp/pwned)` or `"; rm -rf ~ #` is only data.
#
# An action's step does:
#   . "$GITHUB_ACTION_PATH/../lib/mlgate.sh"
#   opt --predictions "$INPUT_PREDICTIONS"     # a flag with one value, skipped when the input is empty
#   opt_lines --min "$INPUT_MIN"               # the flag once per non-empty line of the input
#   run_mlgate metrics                         # installs mlgate if asked, runs it, exits with its code
#
# Common inputs, read from the environment: INPUT_INSTALL (true|false), INPUT_POLICY, INPUT_REPORT_DIR,
# INPUT_AUDIT (true|false), INPUT_AUDIT_LOG, INPUT_ARGS (extra arguments, one per line, taken literally),
# INPUT_WORKING_DIRECTORY, INPUT_SETUP_PYTHON (only validated here), MLGATE_PYTHON (set by setup-python),
# MLGATE_EXTRAS (pip extras the action needs, fixed by the action, e.g. "deploy"), MLGATE_KUBECONFIG (the
# private file the action wrote its `kubeconfig` input to; exported as KUBECONFIG for mlgate).

set -uo pipefail

MLGATE_FLAGS=()
MLGATE_SOURCE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"

mlgate_fail() {
  # mlgate_fail MESSAGE [CODE]: a one-line error (annotated in the job), then stop with CODE: mlgate's
  # exit codes, 2 (bad input, the default) or 3 (infrastructure). MESSAGE never contains an input's value.
  local code=${2:-2}
  printf '::error title=mlgate action::%s\n' "$1" >&2
  mlgate_fallback_outputs "$code" "$1"
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

mlgate_install() {
  local python=$1 target="$MLGATE_SOURCE"
  if [ -n "${MLGATE_EXTRAS:-}" ]; then
    target="$target[$MLGATE_EXTRAS]"
  fi
  echo "::group::pip install mlgate from $MLGATE_SOURCE"
  local code=0
  "$python" -m pip install --disable-pip-version-check --progress-bar off "$target" || code=$?
  echo "::endgroup::"
  if [ "$code" != 0 ]; then
    mlgate_fail "pip install of mlgate failed (exit code $code)" 3
  fi
}

run_mlgate() {
  # run_mlgate COMMAND...: mlgate [global options] COMMAND... [the action's flags] [the `args` input].
  local install=${INPUT_INSTALL:-true} audit=${INPUT_AUDIT:-true}
  mlgate_bool install "$install"
  mlgate_bool audit "$audit"
  mlgate_bool setup-python "${INPUT_SETUP_PYTHON:-false}"

  local python=${MLGATE_PYTHON:-}
  if [ -z "$python" ]; then
    python=$(command -v python3 || command -v python) || mlgate_fail "no python3 on PATH: set setup-python: true"
  fi
  if [ "$install" = true ]; then
    mlgate_install "$python"
  fi
  local mlgate
  mlgate="$(dirname -- "$python")/mlgate"
  if [ ! -x "$mlgate" ]; then
    mlgate=$(command -v mlgate) || mlgate_fail "mlgate is not installed: set install: true, or install it before this step"
  fi

  local global=() extra=() line
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
  local code=0
  "$mlgate" ${global[@]+"${global[@]}"} "$@" ${MLGATE_FLAGS[@]+"${MLGATE_FLAGS[@]}"} ${extra[@]+"${extra[@]}"} || code=$?
  if [ -n "$outputs" ]; then
    after=$(wc -c <"$outputs")
  fi
  if [ -n "$outputs" ] && [ "$after" = "$before" ]; then
    if [ "$code" = 0 ]; then
      # Exit 0 without a verdict would be a pass nobody decided: never report it as one.
      echo "::error title=mlgate action::mlgate $1 exited 0 without writing a verdict" >&2
      code=1
    fi
    mlgate_fallback_outputs "$code" "mlgate $1 stopped before running a gate"
  fi
  exit "$code"
}
