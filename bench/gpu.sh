#!/usr/bin/env bash
# The GPU checks in one command, sized to finish inside 8 minutes on one H100 / H200:
#
#   bash bench/gpu.sh [--smoke] [--env auto|uv|system] [--out-dir DIR] [--budget SECONDS]
#   bash bench/gpu.sh --fetch-wheels     # here, with internet: the wheels an offline GPU needs
#
# Steps, each under its own timeout (what is left of --budget, at most the step's cap), each
# recorded in the GPU part of DIR/RESULTS.md (status and seconds; a step that times out or fails
# is a result, the next one still runs):
#   setup     uv: `uv sync --extra cuda --group bench` (JAX's CUDA wheels); system: the image's
#             python3 and its JAX, plus the wheels in .whl/ pip-installed into a temp dir
#   tests     pytest -m gpu tests/test_gpu.py (sharding, chunk_size=auto from device memory, a
#             masked sweep on the device, the structured NTK there; they skip without a GPU)
#   haar      python -m bench --gpu --only haar       (10^6 states of 12 qubits, 64|64 and 16|256)
#   ntk       ...                  --only ntk         (nt-notebook MLP, 3-layer w=512/2048)
#   ntk-large ...                  --only ntk-large   (structured, width 4096, N = 4096, 16384)
#   sweep     ...                  --only sweep       (20 widths x 8 seeds x 2000 steps per mode)
#   paper     tntk experiment=paper scale=large       (store and Hydra dirs in a temp dir)
# then renders DIR/RESULTS.md (the CPU tables from DIR/results.json, copied from bench/ when DIR
# has none, and the GPU part, device named). DIR defaults to bench/; DIR/gpu.log holds the output.
#
# --smoke: the same steps at toy sizes on whatever JAX backend the project venv has (no CUDA
# install, no neural-tangents rows, NTK rows in-process, paper at scale=tiny without figures,
# the paper run overlapping the others): tests/test_bench.py runs it on CPU.
# --env system is for this workplace's lent GPU machine (JAX with CUDA preinstalled, no
# internet); from the device tool, with .whl/ carried:
#   bash bench/gpu.sh --env system --out-dir "$OUT"    # then copy RESULTS.md, results.json back
set -uo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
SMOKE=0
ENV_MODE=auto
OUT_DIR=bench
BUDGET=""
WHEELS=(hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3)

while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --env) ENV_MODE=$2; shift ;;
        --out-dir) OUT_DIR=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --fetch-wheels)
            # pure-Python wheels (antlr4 4.9.3 is an sdist on PyPI: pip builds its wheel)
            mkdir -p .whl .git/info && grep -qxF '/.whl/' .git/info/exclude 2>/dev/null \
                || echo '/.whl/' >>.git/info/exclude
            exec uv run --no-project --with pip python -m pip wheel --no-deps -w .whl "${WHEELS[@]}"
            ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -z "$BUDGET" ]; then BUDGET=$([ $SMOKE = 1 ] && echo 300 || echo 470); fi
if [ "$ENV_MODE" = auto ]; then
    if [ $SMOKE = 1 ] || { command -v uv >/dev/null && [ ! -d .whl ]; }; then ENV_MODE=uv
    else ENV_MODE=system; fi
fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
if [ "$OUT_DIR" != "$REPO/bench" ] && [ ! -e "$OUT_DIR/results.json" ]; then
    cp bench/results.json bench/RESULTS.md "$OUT_DIR"/ 2>/dev/null
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$OUT_DIR/gpu.log
STEPS=$WORK/steps.jsonl
: >"$LOG"
: >"$STEPS"
export PYTHONUNBUFFERED=1
if [ $SMOKE = 0 ]; then
    export XLA_PYTHON_CLIENT_PREALLOCATE=false  # each benchmark row is its own process
fi
START=$(date +%s)
DEADLINE=$((START + BUDGET))
RESERVE=$([ $SMOKE = 1 ] && echo 5 || echo 20)  # left for the final render

record() {  # record NAME STATUS SECONDS DETAIL
    printf '{"name": "%s", "status": "%s", "seconds": %s, "detail": "%s"}\n' \
        "$1" "${2//\"/\'}" "$3" "${4//\"/\'}" >>"$STEPS"
}

step() {  # step NAME CAP_SECONDS COMMAND...: run under min(CAP, what the budget has left)
    local name=$1 cap=$2 left t0 rc status
    shift 2
    left=$((DEADLINE - RESERVE - $(date +%s)))
    [ "$cap" -lt "$left" ] || cap=$left
    if [ "$cap" -lt 5 ]; then
        record "$name" "skipped: time budget ($BUDGET s) spent" 0 "$*"
        echo "[gpu.sh] $name: skipped (budget spent)"
        return
    fi
    echo "[gpu.sh] $name (timeout ${cap} s): $*" | tee -a "$LOG"
    local log=$WORK/$name.log
    t0=$(date +%s.%N)
    timeout -k 10 "$cap" "$@" >"$log" 2>&1
    rc=$?
    local secs
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0) status=ok ;;
        124 | 137) status="timed out after ${cap} s" ;;
        *) status="failed (exit $rc): $(tail -n 1 "$log" | tr -d '"\\' | cut -c1-160)" ;;
    esac
    if [ "$name" = tests ]; then  # pytest's summary line: "5 passed, 1 skipped in 12.3s"
        local summary
        summary=$(grep -E '^=*.*(passed|failed|skipped|error).* in [0-9.]+s' "$log" | tail -n 1 \
            | tr -d '=' | sed 's/^ *//; s/ *$//')
        [ -n "$summary" ] && status="$status: $summary"
    fi
    { echo "[gpu.sh] --- output of $name ---"; cat "$log"; } >>"$LOG"
    record "$name" "$status" "$secs" "$*"
    echo "[gpu.sh] $name: $status (${secs} s)" | tee -a "$LOG"
}

# -- setup ----------------------------------------------------------------------------------
setup_uv() {
    if [ $SMOKE = 1 ]; then return 0; fi
    uv sync --extra cuda --group bench --group dev
}
setup_system() {
    local wheels=(.whl/*.whl)
    if [ -e "${wheels[0]}" ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$WORK/site" "${wheels[@]}" || return 1
    fi
    python3 -c "import jax, flax, optax, hydra, omegaconf, pandas, pyarrow; print(jax.devices())"
}
export WORK SMOKE
export -f setup_uv setup_system
if [ "$ENV_MODE" = uv ]; then
    PY=("${PYTHON:-$REPO/.venv/bin/python}")
    step setup 240 bash -c setup_uv
else
    PY=(python3)
    export PYTHONPATH="$REPO/src:$REPO:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
    step setup 90 bash -c setup_system
fi
"${PY[@]}" -c "import jax; print('[gpu.sh] jax', jax.__version__, jax.devices())" | tee -a "$LOG"

# -- steps ----------------------------------------------------------------------------------
BENCH=("${PY[@]}" -m bench --gpu --out "$OUT_DIR/RESULTS.md" --repeats 3)
if [ $SMOKE = 1 ]; then
    BENCH+=(--sizes toy --repeats 1 --no-nt)
    SCALE=tiny
    PAPER_EXTRA=(figures=false)  # the figures are tests/test_paper.py's business
    CAPS=(120 60 120 60 120 180)
else
    SCALE=large
    PAPER_EXTRA=()
    CAPS=(75 50 80 40 100 600)  # tests haar ntk ntk-large sweep paper (paper: what is left)
fi
PAPER=("${PY[@]}" -m typicality_ntk experiment=paper "scale=$SCALE" "store.root=$WORK/store"
       "hydra.run.dir=$WORK/run" "${PAPER_EXTRA[@]}")
if [ $SMOKE = 1 ]; then  # CPU: no device to share, so the paper run overlaps the others
    step paper "${CAPS[5]}" "${PAPER[@]}" &
fi
step tests "${CAPS[0]}" "${PY[@]}" -m pytest -n 0 -m gpu -q -p no:cacheprovider \
    -p no:warnings tests/test_gpu.py
step haar "${CAPS[1]}" "${BENCH[@]}" --only haar
step ntk "${CAPS[2]}" "${BENCH[@]}" --only ntk
step ntk-large "${CAPS[3]}" "${BENCH[@]}" --only ntk-large
step sweep "${CAPS[4]}" "${BENCH[@]}" --only sweep
if [ $SMOKE = 1 ]; then wait; else step paper "${CAPS[5]}" "${PAPER[@]}"; fi

# -- render ---------------------------------------------------------------------------------
"${PY[@]}" -m bench --gpu --out "$OUT_DIR/RESULTS.md" --only "" --steps "$STEPS" >/dev/null \
    || { echo "[gpu.sh] rendering RESULTS.md failed (see $LOG)" >&2; exit 1; }
echo "[gpu.sh] done in $(($(date +%s) - START)) s: $OUT_DIR/RESULTS.md, $OUT_DIR/results.json"
if grep -q '"status": "ok"' "$STEPS" && ! grep -v '"status": "ok' "$STEPS" | grep -q .; then
    exit 0
fi
echo "[gpu.sh] some steps did not succeed:" >&2
grep -v '"status": "ok' "$STEPS" >&2
exit 1
