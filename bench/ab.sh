#!/bin/bash
# A/B of the send path and the API: bench/throughput.py and bench/api.py run in two checkouts
# alternately (A, B, A, B), one JSON line each, so both sides see the same machine load. With a
# PostgreSQL URL each round runs every script on SQLite and then on a fresh database on that server.
#   bench/ab.sh /path/to/checkout-a /path/to/checkout-b [rounds] [postgresql://…]
# THROUGHPUT_ARGS (e.g. "--messages 400 --slow-messages 60 --samples 40") go to every throughput run.
set -u
a=${1:?checkout A}; b=${2:?checkout B}; rounds=${3:-2}; pg=${4:-}
databases=("")
[ -n "$pg" ] && databases+=("$pg")
stamp() { echo "== $1 $2 round $3 $4 $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"; }
for round in $(seq "$rounds"); do
  for database in "${databases[@]}"; do
    where=${database:+postgresql}; where=${where:-sqlite}
    for side in "$a" "$b"; do
      stamp throughput "$side" "$round" "$where"
      # shellcheck disable=SC2086  # THROUGHPUT_ARGS is a list of words
      (cd "$side" && timeout 900 .venv/bin/python bench/throughput.py ${THROUGHPUT_ARGS:-} \
         ${database:+--database "$database"} 2>/dev/null | tail -1)
    done
    for side in "$a" "$b"; do
      stamp api "$side" "$round" "$where"
      (cd "$side" && timeout 600 .venv/bin/python bench/api.py ${database:+--database "$database"} 2>/dev/null | tail -1)
    done
  done
done
echo done
