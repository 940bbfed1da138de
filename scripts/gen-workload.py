#!/usr/bin/env python3
"""Writes a benchmark workload as RESP commands on stdout (for `redis-cli --pipe`).

  strings N [SIZE [PREFIX]]  N string keys, 11-byte names (key:NNNNNNN), ~470-byte
                  random values (or about SIZE bytes; PREFIX instead of "key:")
  tiny N          N string keys, 11-byte names, 3 to 8-byte values (the per-key cost)
  compact N       N each of hashes, sets, integer sets, sorted sets and lists of 10 small
                  elements (listpack and intset encodings), and every 100th of 200 elements
                  (hashtable, skiplist and quicklist encodings)
  bigkeys         a 5M-field hash, a 2M-member zset, a 1M-entry stream with 2 groups
                  and a PEL (scaled by an optional factor: bigkeys 0.1)
Seeded: the same data every run.
"""
import base64, random, sys

out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))

rnd = random.Random(1)
what = sys.argv[1]
if what == "strings":
    n = int(sys.argv[2])
    base = int(sys.argv[3]) if len(sys.argv) > 3 else 470
    prefix = sys.argv[4] if len(sys.argv) > 4 else "key:"
    pool = base64.b64encode(rnd.randbytes(1 << 20))
    for i in range(n):
        size = max(1, base - 30 + rnd.randrange(60))
        off = rnd.randrange(len(pool) - size)
        cmd("SET", "%s%07d" % (prefix, i), pool[off:off + size])
elif what == "tiny":
    n = int(sys.argv[2])
    for i in range(n):
        cmd("SET", "key:%07d" % i, "v%x" % rnd.randrange(1 << (4 * rnd.randrange(2, 8))))
elif what == "compact":
    n = int(sys.argv[2])
    for i in range(n):
        m = 200 if i % 100 == 0 else 10
        w = lambda j: "v%d-%x" % (j, rnd.randrange(1 << 32))
        cmd("HSET", "h:%d" % i, *[a for j in range(m) for a in ("f%d" % j, w(j))])
        cmd("SADD", "s:%d" % i, *[w(j) for j in range(m)])
        cmd("SADD", "i:%d" % i, *[str(rnd.randrange(1 << 40)) for _ in range(m)])
        cmd("ZADD", "z:%d" % i, *[a for j in range(m) for a in (repr(rnd.random()), w(j))])
        cmd("RPUSH", "l:%d" % i, *[w(j) for j in range(m)])
elif what == "bigkeys":
    f = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    step = 1000
    nh, nz, ns = int(5_000_000 * f), int(2_000_000 * f), int(1_000_000 * f)
    for i in range(0, nh, step):
        args = ["HSET", "bighash"]
        for j in range(i, min(i + step, nh)):
            args += ["field:%d" % j, "v%d" % rnd.randrange(1 << 40)]
        cmd(*args)
    for i in range(0, nz, step):
        args = ["ZADD", "bigzset"]
        for j in range(i, min(i + step, nz)):
            args += [repr(rnd.random() * 1e6), "member:%d" % j]
        cmd(*args)
    for i in range(ns):
        cmd("XADD", "bigstream", "%d-1" % (i + 1), "sensor", "s%d" % (i % 100), "value", str(rnd.random()))
    cmd("XGROUP", "CREATE", "bigstream", "g1", "0")
    cmd("XGROUP", "CREATE", "bigstream", "g2", "0")
    cmd("XREADGROUP", "GROUP", "g1", "c1", "COUNT", str(ns // 10), "STREAMS", "bigstream", ">")
    cmd("XREADGROUP", "GROUP", "g2", "c2", "COUNT", str(ns // 100), "STREAMS", "bigstream", ">")
else:
    sys.exit(__doc__)
