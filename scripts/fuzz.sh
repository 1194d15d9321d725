#!/usr/bin/env bash
# Fuzzes every decoder that reads untrusted bytes (fuzz/fuzz_targets/), with libFuzzer on
# stable Rust: the coverage instrumentation libFuzzer steers by is asked for with -C flags
# (no nightly, no cargo-fuzz). Each target starts from its committed corpus
# (fuzz/corpus/<target>) and runs for a bounded time; a crash, a failed assertion or a hang
# (a run over 10 s) fails the script, leaving the input in fuzz/artifacts/<target>/.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   bash scripts/fuzz.sh 600 json        # one target, 10 minutes
#   FUZZ_RUNS=10000000 bash scripts/fuzz.sh 0 json   # a number of executions instead of a time
#   FUZZ_MERGE=1 bash scripts/fuzz.sh 60 # and merge what it found into the corpus
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json connect metadata_query files interpreter_stream listing_json)

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts and proc macros (they run on the
# host, without libFuzzer to link against).
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --locked --bins --target "$host" >&2
bin="$CARGO_TARGET_DIR/$host/release"

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  work="$(mktemp -d)"
  args=(-timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "-artifact_prefix=artifacts/$t/")
  if [ -n "${FUZZ_RUNS:-}" ]; then args+=("-runs=$FUZZ_RUNS"); else args+=("-max_total_time=$seconds"); fi
  echo "== fuzz $t ($([ -n "${FUZZ_RUNS:-}" ] && echo "$FUZZ_RUNS runs" || echo "$seconds s"))"
  # New inputs go to a scratch directory; the committed corpus only changes on a merge.
  "$bin/$t" "${args[@]}" "$work" "corpus/$t" 2>"$work.log" || {
    tail -40 "$work.log"; echo "fuzz $t FAILED (input in fuzz/artifacts/$t/)"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/  $t /"
  if [ -n "${FUZZ_MERGE:-}" ]; then
    "$bin/$t" -merge=1 "corpus/$t" "$work" 2>/dev/null
  fi
  rm -rf "$work" "$work.log"
done
