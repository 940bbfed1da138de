#!/usr/bin/env bash
# Side by side, in one run, alternating the contenders round by round, medians of the
# rounds (BENCH_RUNS, default 3), reported as ratios to the peers:
#   - load into a fresh standalone Redis 7.0 (emptied before each run, every key checked):
#     `rdbshift load` (RESTORE), `rdbshift load --mode commands`, librdb's `rdb-cli FILE
#     redis` (scripts/build-rdb-cli.sh), `redis-cli --pipe` of the same data as RESP;
#     beside the wall time, the server's user and sys CPU (/proc/PID/stat) and the
#     zero-window advertisements on loopback (nstat TcpExtTCPToZeroWindowAdv) per load;
#   - convert to a file: `rdbshift convert`, `rdb-cli FILE resp`, `cat FILE > OUT`.
# With BASELINE=/path/to/an/older/rdbshift, that binary runs too (a regression check of a
# change; not a peer).
# Usage: scripts/bench-side.sh DUMP   (e.g. the strings dump scripts/bench.sh builds)
set -euo pipefail
F=${1:?usage: scripts/bench-side.sh DUMP}
RDBCLI=${RDB_CLI:-/opt/rdb-tools/bin/rdb-cli}
[ -x "$RDBCLI" ] || { echo "no $RDBCLI: run scripts/build-rdb-cli.sh" >&2; exit 1; }
F=$(realpath "$F")
. "$(dirname "$0")/bench-lib.sh"
P=$((22000 + RANDOM % 20000))
start_redis $P
"$B" convert "$F" -o "$WORK/data.resp" --target-version 7.0 2>/dev/null
sync
KEYS=$(dump_keys "$F")
cat "$F" > /dev/null

declare -A LOAD=(
  [rdbshift-load]="$B load $F --target redis://127.0.0.1:$P"
  [rdbshift-load-commands]="$B load $F --target redis://127.0.0.1:$P --mode commands"
  [librdb-redis]="$RDBCLI $F -l /dev/null redis -h 127.0.0.1 -p $P"
  [redis-cli-pipe]="sh -c 'redis-cli -p $P --pipe < $WORK/data.resp'"
)
declare -A CONV=(
  [rdbshift-convert]="$B convert $F -o $WORK/out"
  [librdb-resp]="$RDBCLI $F -l /dev/null resp -o $WORK/out"
  [cat]="sh -c 'cat $F > $WORK/out'"
)
LOADS="rdbshift-load librdb-redis redis-cli-pipe rdbshift-load-commands"
CONVS="cat rdbshift-convert librdb-resp"
if [ -n "${BASELINE:-}" ]; then
  LOAD[baseline-load]="$BASELINE load $F --target redis://127.0.0.1:$P"
  CONV[baseline-convert]="$BASELINE convert $F -o $WORK/out"
  LOADS="$LOADS baseline-load"
  CONVS="$CONVS baseline-convert"
fi
# every contender reads the dump (and --pipe its RESP) from the page cache: read again
# before each timed run, as this machine's reclaim (DAMON) evicts files idle for a while
warm() { cat "$F" "$WORK/data.resp" > /dev/null; }
secs() { local s e; warm; s=$(date +%s.%N); eval "$1" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
SPID=$(cat "$WORK/$P/pid")
TICK=$(getconf CLK_TCK)
# the server's CPU (user, sys) in seconds, from /proc/PID/stat
srv_cpu() { awk -v t="$TICK" '{printf "%.2f %.2f\n", $14 / t, $15 / t}' "/proc/$SPID/stat"; }
HAVE_NSTAT=$(command -v nstat >/dev/null && echo 1 || echo 0)
# round r starts with the r-th contender: no one always goes first (the first load of a
# round follows the converts, which freed gigabytes of page cache)
rotate() { local n=$1; shift; local a=("$@") i; for ((i = 0; i < ${#a[@]}; i++)); do
  printf '%s ' "${a[$(((i + n) % ${#a[@]}))]}"; done; }
# an untimed load first: the server's heap grows once, not in the first contender's run
redis-cli -p $P flushall sync >/dev/null
eval "${LOAD[librdb-redis]}" >/dev/null 2>&1
: > "$WORK/times"
for r in $(seq "$RUNS"); do
  # shellcheck disable=SC2086
  for k in $(rotate "$r" $LOADS); do
    redis-cli -p $P flushall sync >/dev/null
    [ "$HAVE_NSTAT" = 1 ] && nstat -n >/dev/null
    read -r u0 s0 < <(srv_cpu)
    t=$(secs "${LOAD[$k]}")
    read -r u1 s1 < <(srv_cpu)
    z=-1
    [ "$HAVE_NSTAT" = 1 ] && z=$(nstat -z TcpExtTCPToZeroWindowAdv | awk '/TCPToZero/ {print $2}')
    n=$(redis-cli -p $P dbsize)
    [ "$n" = "$KEYS" ] || { echo "$k: $n of $KEYS keys arrived" >&2; exit 1; }
    echo "$k $t" >> "$WORK/times"
    echo "$k $(echo "$u1 - $u0" | bc) $(echo "$s1 - $s0" | bc) ${z:-0}" >> "$WORK/server"
  done
  # shellcheck disable=SC2086
  for k in $(rotate "$r" $CONVS); do
    rm -f "$WORK/out"
    # this machine's host takes freed memory back (free page reporting, 8 MiB blocks),
    # and faulting it in again is slow: a file written and deleted just before, each
    # contender writes into memory the guest holds (measured: cat of the same file in
    # 0.3 s, or in 1.2 s after the loads freed their memory). Twice the dump: the RESP is
    # 5% bigger than the dump, and a converter holds buffers besides; a scratch of the
    # dump's size covered cat alone (measured, the first convert after a load: 0.53-0.65 s
    # against 0.40-0.44 s with this one, cat 0.33 s either way)
    cat "$F" "$F" > "$WORK/scratch"
    rm -f "$WORK/scratch"
    sync
    echo "$k $(secs "${CONV[$k]}")" >> "$WORK/times"
    # gone before its dirty pages are written back: a writeback of the last output, 30 s
    # later, would land in another contender's run (measured: cat 0.3 s, or 2.1 s)
    rm -f "$WORK/out"
  done
done
python3 - "$WORK/times" "$KEYS" "$RUNS" "$WORK/server" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    t.setdefault(k, []).append(float(v))
m = {k: statistics.median(v) for k, v in t.items()}
print(f"{sys.argv[2]} keys; medians of {sys.argv[3]} alternating rounds (seconds, then ratios)")
for k in [x for x in ["rdbshift-load", "rdbshift-load-commands", "librdb-redis", "redis-cli-pipe", "baseline-load"] if x in m]:
    print(f"  {k:24} {m[k]:7.2f} s  {m[k] / m['librdb-redis']:.2f}x librdb  {m[k] / m['redis-cli-pipe']:.2f}x redis-cli --pipe")
srv = {}
for line in open(sys.argv[4]):
    k, u, s, z = line.split()
    srv.setdefault(k, []).append((float(u), float(s), int(z)))
med = lambda v: statistics.median(v)
cpu = {k: med([u + s for u, s, _ in v]) for k, v in srv.items()}
print("  the server during each load (medians): CPU user+sys, sys, zero-window advertisements (nstat; -1 without it)")
for k, v in srv.items():
    print(f"  {k:24} {cpu[k]:6.2f} s ({cpu[k] / cpu['librdb-redis']:.2f}x librdb)  sys {med([s for _, s, _ in v]):.2f} s  zero windows {med([z for _, _, z in v]):.0f}")
for k in [x for x in ["rdbshift-convert", "librdb-resp", "cat", "baseline-convert"] if x in m]:
    print(f"  {k:24} {m[k]:7.2f} s  {m[k] / m['cat']:.2f}x cat  {m['librdb-resp'] / m[k]:.2f}x faster than librdb")
# the rounds themselves, to judge the noise: this machine's speed drifts
print("  every round (seconds):")
for k, v in t.items():
    print(f"  {k:24} " + " ".join(f"{x:.2f}" for x in v))
PY
