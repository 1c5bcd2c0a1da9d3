#!/usr/bin/env bash
# Runs a command with jemalloc as its allocator, holding on to freed pages, where Debian's
# libjemalloc2 is installed (as-is otherwise). For PyTorch training on a CPU: glibc hands the large
# activation and attention buffers back to the kernel after every step and faults them in again on
# the next, and on the 2-core VM those page faults cost more than the arithmetic (measured in
# tools/train/run_reader.sh's header).
#   tools/train/with-jemalloc.sh /usr/bin/python3 tools/train/train.py ...
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
if [[ -f $JEMALLOC ]]; then
  export LD_PRELOAD=$JEMALLOC${LD_PRELOAD:+:$LD_PRELOAD} MALLOC_CONF=${MALLOC_CONF:-dirty_decay_ms:-1,muzzy_decay_ms:-1}
fi
exec "$@"
