#!/usr/bin/env bash
# Regenerates the gallery in gallery/ from the shipped scenarios. Every run is deterministic,
# so the numbers and charts come out the same each time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
snapsim=target/release/snapsim

$snapsim compare scenarios/quickstart.json --seeds 3 --out gallery/quickstart
$snapsim compare scenarios/backpressure.json --seeds 3 --out gallery/backpressure
$snapsim compare scenarios/failures.json --seeds 3 --out gallery/failures
$snapsim sweep scenarios/backpressure.json \
  --vary 'dataflow.operators[4].cost=5us,10us,15us,20us,25us,30us' \
  --protocols aligned,unaligned,aligned-timeout,chandy-lamport \
  --seeds 3 --out gallery/backpressure-sweep
$snapsim diagram scenarios/cl-paper.json --out gallery/cl-paper-diagram.svg
