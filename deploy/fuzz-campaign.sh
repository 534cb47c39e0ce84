#!/bin/sh
# A fuzz campaign: every target in turn (one core at a time) for SECONDS each (default 300),
# from the committed seeds plus the working corpora in fuzz-corpus/ (kept between campaigns,
# not committed). Crash inputs land in fuzz-corpus/artifacts/. Prints one summary line per
# target: executions, libFuzzer cov/ft, and the exit status (non-zero: a finding).
# Usage: sh deploy/fuzz-campaign.sh [SECONDS] [TARGET...]   (see rust/fuzz/README.md)
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-300}
[ $# -gt 0 ] && shift
TARGETS=${*:-"zlib_inflate list_encode object_json object_cbor token_jwt token_cwt sdk commands"}
PY=${PY:-python3}
cargo fuzz build --fuzz-dir rust/fuzz --release --sanitizer none -a || exit 1
BIN=rust/fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release
mkdir -p fuzz-corpus/artifacts
status=0
for t in $TARGETS; do
    mkdir -p "fuzz-corpus/$t"
    log="fuzz-corpus/$t.log"
    case $t in
        sdk | commands)
            PYTHONPATH="python:.${PYTHONPATH:+:$PYTHONPATH}" "$PY" "tests/fuzz/fuzz_$t.py" \
                "-max_total_time=$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
                "-artifact_prefix=fuzz-corpus/artifacts/$t-" "fuzz-corpus/$t" \
                "tests/fuzz/seeds/$t" >"$log" 2>&1
            ;;
        *)
            "$BIN/$t" "-max_total_time=$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
                "-artifact_prefix=fuzz-corpus/artifacts/$t-" "fuzz-corpus/$t" \
                "rust/fuzz/seeds/$t" >"$log" 2>&1
            ;;
    esac
    rc=$?
    [ $rc -ne 0 ] && status=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+')
    echo "$t: ${execs:-?} executions in ${SECONDS_EACH}s, ${last:-no stats}, exit $rc (log $log)"
done
exit $status
