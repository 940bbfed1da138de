"""The tests' independent oracle: reads back everything a server (or a cluster's masters)
holds, with redis-py's own RESP parser, and prints it as one JSON document.

    readback.py HOST:PORT[,HOST:PORT...] [--db0]

Several addresses are the masters of one cluster: each node's keys are read from that node
(db 0 only); functions come from the first. --db0 reads db 0 only (default: every db).

Byte strings are JSON strings with one character per byte (latin-1), so nothing is lost;
replies that are not byte strings: integers as numbers, nil as null, arrays as arrays,
error replies as {"error": "..."}. Replies are taken as the server sent them (no redis-py
response callbacks), so the Rust side compares exactly what the server said.

Output:
  {"caps": {"pexpiretime": bool, "hpexpiretime": bool, "xinfo_full": bool, "functions": bool,
            "digest": bool},
   "dbs": [{"db": N, "keys": [{"key", "type", "pttl", "pexpiretime", "digest", "value", ...}]}],
   "functions": reply or null}

Per key: "value" is the full contents: a string's bytes; a list in order; a set sorted; a
zset as [member, score as the server prints it] in the server's order; a hash as sorted
[field, value] pairs, plus "field_ttls" (HPEXPIRETIME of every field, in that order) where
the server has it; a stream as {"entries": XRANGE, "xinfo": XINFO STREAM, "xinfo_full":
XINFO STREAM FULL COUNT 0 (where the server has it), "groups": XINFO GROUPS, and per group
"consumers" (XINFO CONSUMERS) and "pending" (XPENDING - + 1000000)}; anything else (a module
value) as {"dump": DUMP payload}.
"""

import json
import sys

import redis


def enc(r):
    if isinstance(r, bytes):
        return r.decode("latin-1")
    if isinstance(r, str):
        return r
    if isinstance(r, bool):
        return int(r)
    if isinstance(r, int):
        return r
    if r is None:
        return None
    if isinstance(r, (list, tuple)):
        return [enc(x) for x in r]
    if isinstance(r, redis.exceptions.ResponseError):
        return {"error": str(r)}
    raise TypeError("unexpected reply %r" % (r,))


class Node:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.c = redis.Connection(host=host, port=int(port), protocol=2, socket_timeout=120)
        self.c.connect()

    def many(self, cmds):
        """Sends the commands pipelined; returns their replies (errors as exceptions)."""
        out = []
        for i in range(0, len(cmds), 200):
            part = cmds[i : i + 200]
            self.c.send_packed_command(self.c.pack_commands(part))
            for _ in part:
                try:
                    out.append(self.c.read_response(disable_decoding=True))
                except redis.exceptions.ResponseError as e:
                    out.append(e)
        return out

    def one(self, *args):
        return self.many([args])[0]

    def ok(self, *args):
        r = self.one(*args)
        if isinstance(r, Exception):
            raise SystemExit("%s failed: %s" % (args, r))
        return r


def has_command(n, name):
    r = n.one("COMMAND", "INFO", name)
    return isinstance(r, list) and len(r) > 0 and r[0] is not None


def flat_get(reply, field):
    if not isinstance(reply, list):
        return None
    for i in range(0, len(reply) - 1, 2):
        if reply[i] == field:
            return reply[i + 1]
    return None


def read_key(n, caps, k, t):
    rec = {"key": enc(k), "type": t}
    head = [("PTTL", k)]
    if caps["pexpiretime"]:
        head.append(("PEXPIRETIME", k))
    if caps["digest"]:
        head.append(("DEBUG", "DIGEST-VALUE", k))
    r = n.many(head)
    rec["pttl"] = enc(r[0])
    rec["pexpiretime"] = enc(r[1]) if caps["pexpiretime"] else None
    rec["digest"] = enc(r[-1]) if caps["digest"] else None
    if t == "string":
        rec["value"] = enc(n.ok("GET", k))
    elif t == "list":
        rec["value"] = enc(n.ok("LRANGE", k, 0, -1))
    elif t == "set":
        rec["value"] = enc(sorted(n.ok("SMEMBERS", k)))
    elif t == "zset":
        a = n.ok("ZRANGE", k, 0, -1, "WITHSCORES")
        rec["value"] = [[enc(a[i]), enc(a[i + 1])] for i in range(0, len(a), 2)]
    elif t == "hash":
        a = n.ok("HGETALL", k)
        pairs = sorted((a[i], a[i + 1]) for i in range(0, len(a), 2))
        rec["value"] = [[enc(f), enc(v)] for f, v in pairs]
        if caps["hpexpiretime"] and pairs:
            fields = [f for f, _ in pairs]
            rec["field_ttls"] = enc(n.ok("HPEXPIRETIME", k, "FIELDS", len(fields), *fields))
    elif t == "stream":
        v = {"entries": enc(n.ok("XRANGE", k, "-", "+")), "xinfo": enc(n.ok("XINFO", "STREAM", k))}
        if caps["xinfo_full"]:
            v["xinfo_full"] = enc(n.ok("XINFO", "STREAM", k, "FULL", "COUNT", 0))
        groups = n.ok("XINFO", "GROUPS", k)
        v["groups"] = enc(groups)
        per = []
        for g in groups:
            name = flat_get(g, b"name")
            per.append(
                {
                    "name": enc(name),
                    "consumers": enc(n.ok("XINFO", "CONSUMERS", k, name)),
                    "pending": enc(n.ok("XPENDING", k, name, "-", "+", 1000000)),
                }
            )
        v["per_group"] = per
        rec["value"] = v
    else:
        rec["value"] = {"dump": enc(n.ok("DUMP", k))}
    return rec


def scan_all(n):
    keys, cursor = [], b"0"
    while True:
        cursor, part = n.ok("SCAN", cursor, "COUNT", 1000)
        keys.extend(part)
        if cursor in (b"0", 0, "0"):
            return keys


def main():
    addrs = sys.argv[1].split(",")
    db0 = "--db0" in sys.argv[2:] or len(addrs) > 1
    nodes = [Node(a) for a in addrs]
    first = nodes[0]
    caps = {
        "pexpiretime": has_command(first, "pexpiretime"),
        "hpexpiretime": has_command(first, "hpexpiretime"),
        "functions": has_command(first, "function"),
        # DEBUG DIGEST-VALUE of no key: an empty array where DEBUG is allowed
        "digest": not isinstance(first.one("DEBUG", "DIGEST-VALUE"), Exception),
    }
    # XINFO STREAM ... FULL is 6.0's (every Valkey says redis_version 7.2.x)
    info = first.ok("INFO", "server").decode("latin-1")
    ver = [l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("redis_version:")][0]
    caps["xinfo_full"] = tuple(int(x) for x in ver.split(".")[:2]) >= (6, 0)
    if db0:
        ndb = 1
    else:
        d = first.ok("CONFIG", "GET", "databases")
        ndb = int(d[1]) if len(d) > 1 else 16
    dbs = []
    for db in range(ndb):
        keys = []
        for n in nodes:
            if not db0:
                n.ok("SELECT", db)
            names = sorted(scan_all(n))
            types = n.many([("TYPE", k) for k in names])
            for k, t in zip(names, types):
                keys.append(read_key(n, caps, k, t.decode() if isinstance(t, bytes) else str(t)))
        if keys:
            keys.sort(key=lambda r: r["key"])
            dbs.append({"db": db, "keys": keys})
    if not db0:
        first.ok("SELECT", 0)
    funcs = enc(first.one("FUNCTION", "LIST", "WITHCODE")) if caps["functions"] else None
    json.dump({"caps": caps, "dbs": dbs, "functions": funcs}, sys.stdout, ensure_ascii=True)


main()
