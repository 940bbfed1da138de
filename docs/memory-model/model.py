# Offline MEMORY USAGE model (validation helper for the notes; our own code).
import math
HDR = {5: 1, 8: 3, 16: 5, 32: 9, 64: 17}
def sds_type_old(l):
    return 5 if l < 32 else 8 if l < 256 else 16 if l < 65536 else 32 if l < 2**32 else 64
def sds_type_new(l):
    return 5 if l < 32 else 8 if l <= 252 else 16 if l <= 65531 else 32 if l <= 2**32-10 else 64
def je(q):
    def f(n):
        if n <= 8: return 8
        if n <= 4*q: return (n + q - 1)//q*q
        lg = (n-1).bit_length()-1; d = 1 << (lg-2)
        return (n + d - 1)//d*d
    return f
def glibc(n):
    if n >= 128*1024:   # mmapped (first use; the threshold is dynamic, see notes)
        return ((max(32, (n+8+15)//16*16) + 8 + 4095)//4096)*4096 - 16
    return max(24, (n+8+15)//16*16 - 8)
def nextpow2(n, mn=4):
    p = mn
    while p < n: p *= 2
    return p
def is_int(b):
    if not b or len(b) > 20: return False
    s = b.decode('latin1')
    if s == '0': return True
    if s[0] == '-': body = s[1:]
    else: body = s
    if not body or not body.isdigit() or body[0] == '0': return False
    v = int(s)
    return -2**63 <= v < 2**63
def rax_nodes(keys):
    """node count of the canonical radix tree Redis' rax builds for these keys"""
    def rec(S):
        if len(S) == 1 and S[0] == b'': return 1
        if b'' in S:   # a key that is a prefix of others: key flag on this node
            S2 = [s for s in S if s]
            return rec_nonempty(S2)  # same node carries the key bit
        return rec_nonempty(S)
    def rec_nonempty(S):
        firsts = {s[0] for s in S}
        if len(firsts) == 1:
            p = 0
            while all(len(s) > p for s in S) and len({s[p] for s in S}) == 1: p += 1
            return 1 + rec([s[p:] for s in S])
        tot = 1
        for b in sorted(firsts):
            tot += rec([s[1:] for s in S if s[0] == b])
        return tot
    if not keys: return 1
    return rec(sorted(set(keys)))
def child_buckets(n, B):
    # expected number of child buckets for Valkey's hashtable (7 slots, chained bucket keeps 6)
    if B == 0: return 0
    lam = n / B; e = 0.0; p = math.exp(-lam); k = 0; cum = 0
    for k in range(0, 200):
        pk = math.exp(-lam + k*math.log(lam) - math.lgamma(k+1)) if lam > 0 else (1 if k == 0 else 0)
        if k > 7: e += pk * math.ceil((k - 7)/6)
    return B * e
def vk_buckets(n):
    if n == 0: return 0
    mb = (n*5 - 1)//32 + 1
    return 1 if mb == 1 else 1 << (mb-1).bit_length()

PL = [(L, 0.75 * 0.25**(L-1)) for L in range(1, 32)] + [(32, 0.25**31)]
def E_level(f, base, per=16):
    return sum(p * f(base + per*L) for L, p in PL)

VERS = {
 'redis-5.0': dict(A=je(8), fam='r5'), 'redis-6.0': dict(A=je(8), fam='r6'), 'redis-6.2': dict(A=glibc, fam='r6'),
 'redis-7.0': dict(A=je(16), fam='r70'), 'redis-stack-7.4': dict(A=je(8), fam='r72'), 'redis-8.0': dict(A=je(16), fam='r72'),
 'redis-8.6': dict(A=glibc, fam='r86'), 'valkey-8.0': dict(A=je(16), fam='v80'), 'valkey-8.1': dict(A=glibc, fam='v81'),
 'valkey-9.1': dict(A=glibc, fam='v91'),
}
def estimate(ver, key, v, expire=False):
    cfg = VERS[ver]; A = cfg['A']; fam = cfg['fam']
    new = fam in ('r86', 'v80', 'v81', 'v91')
    st = sds_type_new if new else sds_type_old
    def sreq(l, t=None):
        t = t or st(l); return HDR[t] + l + 1
    def sds_alloc(l):          # what the server reports for a heap sds of length l built by sdsnewlen
        if fam == 'r5': return sreq(l)
        if fam == 'r86' and st(l) == 5: return sreq(l)     # 8.6 sdsAllocSize: type 5 is not rounded
        return A(sreq(l))
    kl = len(key); t = v['rdbtype']
    # ---- per-key part that is not the value ----
    if fam == 'r5': keypart = sreq(kl) + 24
    elif fam in ('r6', 'r70', 'r72'): keypart = A(sreq(kl)) + 24
    elif fam == 'v80': keypart = A(17 + sreq(kl))
    else: keypart = 0
    def obj_with_key(extra=0):     # r86 / v81 / v91: robj (+expire) + embedded key
        if fam == 'r86':
            n = 16 + (8 if (expire or kl >= 128) else 0) + 1 + sreq(kl) + extra
        elif fam == 'v81':
            n = 16 + (8 if (expire or kl >= 128) else 0) + 1 + sreq(kl) + extra
        else:
            n = 16 + (8 if (expire or kl >= 128) else 0) + 1 + sreq(kl) + extra
        return A(n)
    robj = 16 if keypart else None
    # ---------------- strings ----------------
    if t == 0:
        val = v['value']; vl = len(val)
        if is_int(val):
            return keypart + 16 if keypart else obj_with_key()
        emb = vl <= 44
        if fam == 'v91': emb = 8 + max(8, vl + 4) <= 128
        if fam == 'r5' or fam == 'r6':
            return keypart + (16 + vl + 2 if emb else 16 + sds_alloc(vl))
        if fam in ('r70', 'r72', 'v80'):
            return keypart + (A(16 + 3 + vl + 1) if emb else 16 + sds_alloc(vl))
        if fam == 'r86':
            if emb and 16 + (kl + 3) + 4 + vl <= 64:
                return A(16 + (8 if expire else 0) + 1 + sreq(kl) + 3 + vl + 1)
            return obj_with_key() + sds_alloc(vl)
        if fam == 'v81':
            if emb and 16 + (kl + 3) + (8 if expire else 0) + 4 + vl <= 64:
                return A(16 + (8 if expire else 0) + 1 + sreq(kl) + 3 + vl + 1)
            return obj_with_key() + sds_alloc(vl)
        if fam == 'v91':
            if emb and 8 + (8 if expire else 0) + 1 + sreq(kl) + max(8, vl + 4) <= 128:
                return A(8 + (8 if expire else 0) + 1 + sreq(kl) + max(8, vl + 4))
            return obj_with_key() + sds_alloc(vl)
    base = obj_with_key() if not keypart else keypart + 16
    # ---------------- lists ----------------
    if t in (14, 18):
        nodes = v['nodes']
        if fam in ('r72', 'r86', 'v80', 'v81', 'v91') and len(nodes) == 1 and nodes[0][0] == 2 and len(nodes[0][1]) <= 8192:
            return base + (len(nodes[0][1]) if fam == 'r86' else A(len(nodes[0][1])))
        if fam in ('r5', 'r6'): return base + 40 + sum(32 + len(b) for _, b in nodes)
        if fam == 'r86': return base + A(48) + sum(A(40) + len(b) for _, b in nodes)
        return base + 40 + sum(40 + A(len(b)) for _, b in nodes)
    # ---------------- blobs kept as is ----------------
    if t in (10, 11, 12, 13, 16, 17, 20):
        bl = len(v['blob'])
        if fam in ('r5', 'r6') and t != 11 or fam in ('r5', 'r6') and t == 11: return base + bl
        if fam == 'r86': return base + bl
        return base + A(bl)
    # ---------------- sets (hash table) ----------------
    if t == 2:
        els = v['elems']; n = len(els)
        if fam in ('r5', 'r6', 'r70', 'r72', 'r86', 'v80'):
            B = nextpow2(n); dsz = 96 if fam in ('r5', 'r6') else 56
            if fam == 'r86': return base + dsz + n*24 + 8*B + sum(sds_alloc(len(e)) for e in els)
            if fam == 'v80':
                chained = n - B * (1 - (1 - 1/B)**n)
                return base + dsz + 8*B + 16*chained + sum(sds_alloc(len(e)) for e in els)
            return base + dsz + 8*B + sum(24 + sds_alloc(len(e)) for e in els)
        B = vk_buckets(n); hsz = 72 if fam == 'v81' else 80
        return base + hsz + 64*(B + child_buckets(n, B)) + sum(sds_alloc(len(e)) for e in els)
    # ---------------- zsets (skiplist) ----------------
    if t in (3, 5):
        els = v['elems']; n = len(els)
        if fam in ('r5', 'r6', 'r70', 'r72', 'v80'):
            B = nextpow2(n); dsz = 96 if fam in ('r5', 'r6') else 56
            hdr = A(24 + 16*(64 if fam == 'r5' else 32))
            per = E_level(A, 24)
            return base + 16 + 32 + dsz + 8*B + hdr + sum(sds_alloc(len(m)) + 24 + per for m, _ in els)
        if fam == 'r86':
            B = nextpow2(n)
            return base + 16 + A(40) + A(16 + 16*32) + sum(E_level(A, 16 + sreq(len(m))) for m, _ in els) + 56 + 24*n + 8*B
        B = vk_buckets(n); hsz = 72 if fam == 'v81' else 80
        ht = hsz + 64*(B + child_buckets(n, B))
        if fam == 'v81':
            return base + 16 + 32 + ht + A(24 + 16*32) + sum(sds_alloc(len(m)) + E_level(A, 24) for m, _ in els)
        return base + 16 + (32 + 31*16) + ht + sum(E_level(A, 16 + 1 + sreq(len(m))) for m, _ in els)
    # ---------------- hashes (hash table) ----------------
    if t == 4:
        pr = v['pairs']; n = len(pr)
        if fam in ('r5', 'r6', 'r70', 'r72', 'v80'):
            B = nextpow2(n); dsz = 96 if fam in ('r5', 'r6') else 56
            return base + dsz + 8*B + sum(24 + sds_alloc(len(f)) + sds_alloc(len(x)) for f, x in pr)
        def entry(f, x):
            fl, vl = len(f), len(x); ft = st(fl)
            fs = sreq(fl, ft); vs = sreq(vl, 8)
            if fs + vs <= 128:
                return fs + vs if fam == 'r86' else A(fs + vs)
            fs8 = sreq(fl, max(ft, 8) if ft != 5 else 8)
            if fam == 'r86': return fs8 + 8 + sds_alloc(vl)
            return A(8 + fs8) + sds_alloc(vl)
        if fam == 'r86':
            B = nextpow2(n)
            return base + 56 + 24*n + 8*B + sum(entry(f, x) for f, x in pr)
        B = vk_buckets(n); hsz = 72 if fam == 'v81' else 80
        return base + hsz + 64*(B + child_buckets(n, B)) + sum(entry(f, x) for f, x in pr)
    return None

def estimate_stream(ver, key, s):
    cfg = VERS[ver]; A = cfg['A']; fam = cfg['fam']
    kl = len(key)
    new = fam in ('r86', 'v80', 'v81', 'v91')
    st = sds_type_new if new else sds_type_old
    sreq = lambda l: HDR[st(l)] + l + 1
    if fam == 'r5': keypart = sreq(kl) + 24
    elif fam in ('r6', 'r70', 'r72'): keypart = A(sreq(kl)) + 24
    elif fam == 'v80': keypart = A(17 + sreq(kl))
    else: return None
    ver_s = ver
    def raxmu(keys): return 16*len(keys) + 244*rax_nodes(keys)
    lps = s['lps']
    size = 16
    if ver_s not in ('redis-5.0', 'redis-6.0'):
        size += 40 if fam == 'r6' else 80
    size += raxmu([m for m, _ in lps])
    if ver_s in ('redis-5.0', 'redis-6.0'): size += sum(len(lp) for _, lp in lps)
    else: size += sum(A(len(lp)) for _, lp in lps)
    cg = 32 if fam in ('r5', 'r6') else 40
    cons = 24 if fam in ('r5', 'r6', 'r70') else 32
    for name, pel, consumers in s['groups']:
        size += cg + raxmu(pel) + 24*len(pel)
        for cname, cpel in consumers:
            size += cons + len(cname) + raxmu(cpel)
    return keypart + size

def rax_node_sizes(keys, valued=True):
    """list of byte lengths of the nodes of Redis/Valkey rax for these keys (insert-only, canonical shape)"""
    out = []
    def pad(n): return (8 - ((n + 4) % 8)) % 8
    def node(size, compr, iskey):
        ln = 4 + size + pad(size) + (8 if compr else 8*size) + (8 if (iskey and valued) else 0)
        out.append(ln)
    def rec(S, iskey=False):
        if b'' in S:
            iskey = True; S = [s for s in S if s]
        if not S: node(0, False, iskey); return
        firsts = {s[0] for s in S}
        if len(firsts) == 1:
            p = 0
            while all(len(s) > p for s in S) and len({s[p] for s in S}) == 1: p += 1
            node(p, True, iskey); rec([s[p:] for s in S]); return
        node(len(firsts), False, iskey)
        for b in sorted(firsts): rec([s[1:] for s in S if s[0] == b])
    if not keys: node(0, False, False)
    else: rec(sorted(set(keys)))
    return out
def rax_alloc(keys, A, struct=32, valued=True):
    return A(struct) + sum(A(n) for n in rax_node_sizes(keys, valued))

def estimate_stream_new(ver, key, s):
    cfg = VERS[ver]; A = cfg['A']; fam = cfg['fam']; kl = len(key)
    sreq = lambda l: HDR[sds_type_new(l)] + l + 1
    lps = s['lps']
    if fam in ('v81', 'v91'):
        size = A(16 + 1 + sreq(kl) + (8 if kl >= 128 else 0)) + 80
        size += rax_alloc([m for m, _ in lps], A) + sum(A(len(lp)) for _, lp in lps)
        for name, pel, consumers in s['groups']:
            size += 40 + rax_alloc(pel, A) + 24*len(pel)
            for cname, cpel in consumers:
                size += 32 + len(cname) + rax_alloc(cpel, A)
        return size
    return None

def estimate_stream_r86(key, s, A=glibc):
    kl = len(key)
    sreq = lambda l: HDR[sds_type_new(l)] + l + 1
    size = A(16 + 1 + sreq(kl) + (8 if kl >= 128 else 0))
    alloc = A(160) + rax_alloc([m for m, _ in s['lps']], A) + sum(len(lp) for _, lp in s['lps'])
    if s['groups']:
        alloc += rax_alloc([n for n, _, _ in s['groups']], A)
        refs = set()
        for name, pel, consumers in s['groups']:
            alloc += A(56) + rax_alloc(pel, A) + rax_alloc([c for c, _ in consumers], A) + A(64)*len(pel)
            refs.update(pel)
            for cname, cpel in consumers:
                sl = len(cname)
                alloc += A(32) + (sreq(sl) if sl < 32 else A(sreq(sl))) + rax_alloc(cpel, A)
        if refs: alloc += rax_alloc(sorted(refs), A)
    return size + alloc

def lp_entry_size(b):
    """bytes one element takes in a listpack (encoding + data + backlen)"""
    n = None
    if is_int(b): 
        v = int(b)
        if 0 <= v <= 127: n = 1
        elif -4096 <= v <= 4095: n = 2
        elif -32768 <= v <= 32767: n = 3
        elif -8388608 <= v <= 8388607: n = 4
        elif -2**31 <= v < 2**31: n = 5
        else: n = 9
    else:
        l = len(b)
        n = 1 + l if l <= 63 else 2 + l if l <= 4095 else 5 + l
    bl = 1 if n <= 127 else 2 if n < 16383 else 3 if n < 2097151 else 4 if n < 268435455 else 5
    return n + bl
def lp_bytes(elems):
    return 6 + sum(lp_entry_size(e) for e in elems) + 1
