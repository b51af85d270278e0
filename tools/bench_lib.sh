# bench_lib.sh — shared setup of the side-by-side benchmark scripts (sourced, not run).
#
# bench_setup TORCH_SCRIPT: checks the reference venv ($PYTHON, default ~/mugs-ref/bin/python) and the PyTorch
# benchmark ($TORCH_BENCH, default ../shared/bench/TORCH_SCRIPT), and builds mugs in release unless $MUGS names a
# prebuilt binary ($SCRATCH: the SwiftPM scratch path, default .build-release). Sets python, torch_bench, MUGS.
bench_setup() {
    python="${PYTHON:-$HOME/mugs-ref/bin/python}"
    torch_bench="${TORCH_BENCH:-../shared/bench/$1}"
    [[ -x "$python" ]] || { echo "no reference python at $python (tools/setup_reference_venv.sh creates it)" >&2; exit 1; }
    [[ -f "$torch_bench" ]] || { echo "no $torch_bench (set TORCH_BENCH)" >&2; exit 1; }
    if [[ -z "${MUGS:-}" ]]; then
        swift build -c release --product mugs --scratch-path "${SCRATCH:-.build-release}" >&2
        MUGS="${SCRATCH:-.build-release}/release/mugs"
    fi
}

# Prints the median img/s of the last RESULT line on stdin (both tools print "img/s median X").
median_ips() { sed -n 's/^RESULT.*img\/s median \([0-9.]*\).*/\1/p' | tail -1; }

# Copies stdin to stderr and stdout. (`tee /dev/stderr` reopens stderr, truncating it when it is a file.)
to_stderr_too() { tee >(cat >&2); }
