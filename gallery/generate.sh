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
$snapsim sweep scenarios/backpressure.json \
  --vary 'checkpointing.alignment_timeout=0ms,1ms,2ms,5ms,10ms,20ms,50ms,100ms,200ms' \
  --protocols aligned,unaligned,aligned-timeout \
  --seeds 2 --out gallery/alignment-timeout-sweep
$snapsim sweep scenarios/debloating.json \
  --vary 'network.buffer_debloat.enabled=false,true' \
  --protocols aligned,unaligned \
  --seeds 1 --out gallery/debloating-on-off
$snapsim sweep scenarios/debloating.json \
  --vary 'network.buffer_debloat.target=100ms,300ms,1s,3s' \
  --protocols aligned,unaligned \
  --seeds 1 --out gallery/debloating-target-sweep
$snapsim compare scenarios/incremental.json --protocols aligned,unaligned --seeds 2 --out gallery/incremental
$snapsim sweep scenarios/incremental.json \
  --vary 'checkpointing.state_backend.incremental=false,true' \
  --protocols aligned \
  --seeds 1 --out gallery/incremental-on-off
$snapsim sweep scenarios/recovery-cost.json \
  --vary 'dataflow.operators[1].kind.keyed_count.state_per_key=256B,1KiB,4KiB,16KiB' \
  --vary 'recovery.local_recovery=false,true' \
  --protocols aligned \
  --seeds 2 --out gallery/recovery-cost-sweep
