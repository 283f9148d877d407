#!/bin/bash
# bin/stave with its event loop alone on the first CPU and every other thread of it on the others, for
# benchmarks (`--stave-bin bench/pinned-event-loop.sh`): how much of a push's tail is the event loop waiting
# for a core behind the process's own threads (bench/results/metrics-generator.md, twelfth session). Needs
# util-linux's taskset. Threads are pinned as they appear, polled every 200 ms; the process keeps this
# script's PID (exec), so signals reach Stave itself.
here=$(cd "$(dirname "$0")/.." && pwd)
pid=$$
cpus=$(taskset -pc $$ | sed 's/.*: //')
first=${cpus%%[,-]*}
last=$(($(nproc) - 1))
(
  declare -A seen
  while kill -0 "$pid" 2>/dev/null; do
    for t in /proc/"$pid"/task/*; do
      tid=${t##*/}
      [ -n "${seen[$tid]}" ] && continue
      seen[$tid]=1
      if [ "$tid" = "$pid" ]; then taskset -pc "$first" "$tid"; else taskset -pc "$((first + 1))-$last" "$tid"; fi
    done >/dev/null 2>&1
    sleep 0.2
  done
) &
exec "$here/bin/stave" "$@"
