#!/bin/bash
# bin/stave with its event loop alone on the first CPU it may use and every other thread of it on the
# others, for benchmarks (`--stave-bin bench/pinned-event-loop.sh`): how much of a push's tail is the
# event loop waiting for a core behind the process's own threads (bench/results/metrics-generator.md,
# twelfth session). Needs util-linux's taskset; with one CPU it pins nothing. Threads are pinned as they
# appear, polled every 200 ms; the process keeps this script's PID (exec), so signals reach Stave itself.
here=$(cd "$(dirname "$0")/.." && pwd)
pid=$$
# The CPUs this process may use ("0-3,6" → 0 1 2 3 6).
cpus=()
IFS=, read -ra ranges <<<"$(taskset -pc $$ | sed 's/.*: //')"
for r in "${ranges[@]}"; do
  for ((i = ${r%-*}; i <= ${r#*-}; i++)); do cpus+=("$i"); done
done
if [ "${#cpus[@]}" -ge 2 ]; then
  first=${cpus[0]}
  rest=$(IFS=,; echo "${cpus[*]:1}")
  (
    declare -A seen
    while kill -0 "$pid" 2>/dev/null; do
      for t in /proc/"$pid"/task/*; do
        tid=${t##*/}
        [ -n "${seen[$tid]}" ] && continue
        seen[$tid]=1
        if [ "$tid" = "$pid" ]; then taskset -pc "$first" "$tid"; else taskset -pc "$rest" "$tid"; fi
      done >/dev/null 2>&1
      sleep 0.2
    done
  ) &
fi
exec "$here/bin/stave" "$@"
