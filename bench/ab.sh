#!/bin/bash
# A/B of the send path and the API: bench/throughput.py and bench/api.py run in two checkouts
# alternately (A, B, A, B), one JSON line each, so both sides see the same machine load.
#   bench/ab.sh /path/to/checkout-a /path/to/checkout-b [rounds]
set -u
a=${1:?checkout A}; b=${2:?checkout B}; rounds=${3:-2}
for round in $(seq "$rounds"); do
  for side in "$a" "$b"; do
    echo "== throughput $side round $round $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    (cd "$side" && timeout 900 .venv/bin/python bench/throughput.py 2>/dev/null | tail -1)
  done
  for side in "$a" "$b"; do
    echo "== api $side round $round $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    (cd "$side" && timeout 600 .venv/bin/python bench/api.py 2>/dev/null | tail -1)
  done
done
echo done
