# Minimal DUMP-payload reader: enough to feed the memory model (not a full RDB reader).
import struct
def lzf_decompress(data, out_len):
    out = bytearray(); i = 0
    while i < len(data):
        ctrl = data[i]; i += 1
        if ctrl < 32:
            out += data[i:i+ctrl+1]; i += ctrl+1
        else:
            ln = ctrl >> 5
            ref = len(out) - ((ctrl & 0x1f) << 8) - 1
            if ln == 7: ln += data[i]; i += 1
            ref -= data[i]; i += 1
            for _ in range(ln+2): out.append(out[ref]); ref += 1
    assert len(out) == out_len
    return bytes(out)
class R:
    def __init__(s, b): s.b = b; s.p = 0
    def u8(s): v = s.b[s.p]; s.p += 1; return v
    def take(s, n): v = s.b[s.p:s.p+n]; s.p += n; return v
    def length(s):
        c = s.u8(); t = c >> 6
        if t == 0: return c & 63, False
        if t == 1: return ((c & 63) << 8) | s.u8(), False
        if t == 2:
            if c == 0x80: return struct.unpack('>I', s.take(4))[0], False
            return struct.unpack('>Q', s.take(8))[0], False
        return c & 63, True
    def string(s):
        n, enc = s.length()
        if not enc: return bytes(s.take(n))
        if n == 0: return str(struct.unpack('<b', s.take(1))[0]).encode()
        if n == 1: return str(struct.unpack('<h', s.take(2))[0]).encode()
        if n == 2: return str(struct.unpack('<i', s.take(4))[0]).encode()
        if n == 3:
            clen = s.length()[0]; ulen = s.length()[0]
            return lzf_decompress(s.take(clen), ulen)
        raise ValueError('bad string enc')
def parse(payload):
    r = R(payload); t = r.u8(); v = {'rdbtype': t}
    if t == 0: v['value'] = r.string()
    elif t in (1, 2):
        n = r.length()[0]; v['elems'] = [r.string() for _ in range(n)]
    elif t in (3, 5):
        n = r.length()[0]; els = []
        for _ in range(n):
            m = r.string()
            if t == 5: sc = struct.unpack('<d', r.take(8))[0]
            else: l = r.u8(); sc = float(r.take(l)) if l < 253 else l
            els.append((m, sc))
        v['elems'] = els
    elif t == 4:
        n = r.length()[0]; v['pairs'] = [(r.string(), r.string()) for _ in range(n)]
    elif t in (9, 10, 11, 12, 13, 16, 17, 20):
        v['blob'] = r.string()
    elif t in (14, 18):
        n = r.length()[0]; nodes = []
        for _ in range(n):
            cont = r.length()[0] if t == 18 else 2
            nodes.append((cont, r.string()))
        v['nodes'] = nodes
    else:
        v['unparsed'] = True
    return v

def parse_stream(payload):
    r = R(payload); t = r.u8(); v = {'rdbtype': t}
    n = r.length()[0]; lps = []
    for _ in range(n):
        mid = r.string(); lp = r.string(); lps.append((mid, lp))
    v['lps'] = lps
    v['length'] = r.length()[0]; r.length(); r.length()
    if t >= 19:
        r.length(); r.length(); r.length(); r.length(); r.length()
    ng = r.length()[0]; groups = []
    for _ in range(ng):
        name = r.string(); r.length(); r.length()
        if t >= 19: r.length()
        npel = r.length()[0]; pel = []
        for _ in range(npel):
            rid = bytes(r.take(16)); r.take(8); r.length(); pel.append(rid)
        nc = r.length()[0]; cons = []
        for _ in range(nc):
            cname = r.string(); r.take(8)
            if t >= 21: r.take(8)
            cp = r.length()[0]; cpel = [bytes(r.take(16)) for _ in range(cp)]
            cons.append((cname, cpel))
        groups.append((name, pel, cons))
    v['groups'] = groups
    return v

def ziplist_entries(zl):
    out = []; p = 10
    while zl[p] != 0xFF:
        p += 1 if zl[p] < 254 else 5
        e = zl[p]; top = e >> 6
        if top == 0: n = e & 63; p += 1; out.append(bytes(zl[p:p+n])); p += n
        elif top == 1: n = ((e & 63) << 8) | zl[p+1]; p += 2; out.append(bytes(zl[p:p+n])); p += n
        elif top == 2: n = struct.unpack('>I', zl[p+1:p+5])[0]; p += 5; out.append(bytes(zl[p:p+n])); p += n
        else:
            p += 1
            if e == 0xC0: v = struct.unpack('<h', zl[p:p+2])[0]; p += 2
            elif e == 0xD0: v = struct.unpack('<i', zl[p:p+4])[0]; p += 4
            elif e == 0xE0: v = struct.unpack('<q', zl[p:p+8])[0]; p += 8
            elif e == 0xF0: v = int.from_bytes(zl[p:p+3], 'little', signed=True); p += 3
            elif e == 0xFE: v = struct.unpack('<b', zl[p:p+1])[0]; p += 1
            else: v = (e & 0x0F) - 1
            out.append(str(v).encode())
    return out
