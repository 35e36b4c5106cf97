#!/usr/bin/env python3
"""Independent verifier of an audit-sidecar export (NDJSON), written from
docs/chain-format.md with the Python standard library only.

Per chain it checks: the line framing (payload recovered byte for byte), seq
order and gaps (from an export_chain/from_seq start line, or a prefix purged by
a retention_purge record: honoured by its MAC without --pubkey, else only once a
checkpoint signed by a trusted key covers it), canonical payloads, prev links,
HMAC-SHA256 MACs by kid, key rotations, and checkpoints: size, origin, head,
time, the RFC 6962 root of the payloads and the signed tree state (after a cut,
the subtrees of it that the records make up wholly; the records before them are
vouched for by nothing without the HMAC key). With --pubkey it checks the
checkpoints' signatures too (Ed25519 and ECDSA P-256, written here from RFC
8032 and FIPS 186), with --witness/--checkpoint the witnessed checkpoints
(rule 10: an export ends where it was taken, so it must match the witnessed
checkpoints it reaches), and with --max-age the freshness bound (rule 11).
An empty export, or one lacking a chain that a witnessed checkpoint names, is
never valid. Exit: 0 valid, 1 invalid, 3 unverifiable, 2 usage or I/O error.
"""
import argparse, base64, calendar, glob, hashlib, hmac, json, os, re, sys, time
from fractions import Fraction

FIELDS = ("v chain seq ts ingested_at action user tenant agent session trace model tool "
          "arguments outcome approver detail redactions source kid epoch prev").split()
REQUIRED = {"v", "chain", "seq", "ts", "ingested_at", "action", "kid", "prev"}
ACTIONS = set(("decision model_call tool_call tool_result approval_requested approval_granted "
               "approval_denied error other chain_start parse_error checkpoint key_rotation "
               "retention_purge sidecar_start sidecar_stop gap seal").split())
TAIL = re.compile(rb',"mac":"([0-9a-f]{64})"\}\Z')  # 74 bytes that end each line
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\Z")
INT, HEX = re.compile(r"(0|-?[1-9][0-9]*)\Z"), re.compile(r"[0-9a-f]{64}\Z")
ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}

class Num(str): pass    # a JSON number, kept as written
class Obj(list): pass   # a JSON object: its (key, value) members in order

def bad(_): raise ValueError("NaN/Infinity")

def enc(v):  # the canonical encoding of a parsed value (strings per "Strings")
    if isinstance(v, Obj): return "{" + ",".join(enc(k) + ":" + enc(x) for k, x in v) + "}"
    if isinstance(v, list): return "[" + ",".join(map(enc, v)) + "]"
    if isinstance(v, Num): return str(v)
    if isinstance(v, str): return '"' + "".join(ESC.get(c) or (c if c >= " " else "\\u%04x" % ord(c)) for c in v) + '"'
    return "null" if v is None else "true" if v is True else "false"

def isint(v): return isinstance(v, Num) and INT.match(v) is not None

GO_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
def esc(c):  # the Go escape (strconv.Quote) of a character that is not printable
    o = ord(c)
    return GO_ESC.get(c) or ("\\x%02x" % o if o < 0x80 else "\\u%04x" % o if o < 0x10000 else "\\U%08x" % o)
def vis(s):  # s with every character that is not printable escaped, as verify's Visible: a store's strings never
    return "".join(c if c.isprintable() else esc(c) for c in s)  # reach the terminal raw (\r, escape sequences, bidi)
def q(s):    # s quoted as Go's %q: what verify prints for a chain id
    return '"' + "".join('\\' + c if c in '"\\' else c if c.isprintable() else esc(c) for c in s) + '"'

# Export framing (docs/chain-format.md, "Export files"): lines that each end in \n, each a record line or a start
# line exactly as export writes it; anything else is a problem of the export (invalid) and is not read.
MAX_LINE, START = 64 << 20, b'{"export_chain":'
def start_line(l):  # (chain, from_seq) of a start line exactly as export writes it (from_seq >= 2), else None
    try:
        o = json.loads(l.decode("utf-8"), object_pairs_hook=Obj, parse_int=Num, parse_float=Num, parse_constant=bad)
        c, n = dict(o)["export_chain"], dict(o)["from_seq"]
        if [k for k, _ in o] == ["export_chain", "from_seq"] and isinstance(c, str) and isint(n) and int(n) >= 2 \
                and enc(o).encode("utf-8") == l: return c, int(n)
    except (ValueError, RecursionError, UnicodeError, TypeError, KeyError): pass
    return None
def framing(l, lf, too_long):  # why a line (without its \n) breaks the framing; None when it does not
    if too_long: return "is longer than %d bytes" % MAX_LINE
    if not lf: return "does not end in a newline (\\n): the file was cut or edited"
    if not l: return "is empty"
    if l.endswith(b"\r"): return "ends in a carriage return (\\r): the lines of an export end in \\n alone"
    if l.startswith(START):
        return None if start_line(l) else 'is a malformed start line (not exactly {"export_chain":<chain>,"from_seq":<n from 2>})'
    if not TAIL.search(l): return 'is not a record line (a payload with a final "mac" member of 64 hex digits)'
    return None
def export_lines(fh):  # (number, line without its \n, ends in \n, longer than MAX_LINE), a long line never held whole
    n = 0
    while True:
        l = fh.readline(MAX_LINE + 2)
        if not l: return
        n, lf = n + 1, l.endswith(b"\n")
        if len(l) - lf > MAX_LINE:
            while not lf:
                l = fh.readline(1 << 20)
                if not l: break
                lf = l.endswith(b"\n")
            yield n, b"", lf, True
            continue
        yield n, l[:-1] if lf else l, lf, False
def ns(t): return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(t[20:29])
def go_ns(d):  # a Go duration ("720h0m0s") in nanoseconds
    parts = re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|h|m|s)", d)
    if not parts or "".join(a + b for a, b in parts) != d: raise ValueError(d)
    return sum(Fraction(a) * UNITS[u] for a, u in parts)

def parse(payload):
    """Rule 3: the payload parses and re-encodes to itself, members in order."""
    try:
        o = json.loads(payload.decode("utf-8"), object_pairs_hook=Obj, parse_int=Num, parse_float=Num, parse_constant=bad)
    except (ValueError, RecursionError):
        return None, ["payload does not parse"]
    if not isinstance(o, Obj): return None, ["payload is not an object"]
    try: errs = [] if enc(o).encode("utf-8") == payload else ["payload is not canonical"]
    except UnicodeError: errs = ["payload is not canonical (lone surrogate)"]
    f, keys = dict(o), [k for k, _ in o]
    unknown = [k for k in keys if k not in FIELDS]
    if unknown: errs.append("undocumented payload member(s) %s" % ",".join(unknown))
    idx = [FIELDS.index(k) for k in keys if k in FIELDS]
    if idx != sorted(set(idx)): errs.append("payload members repeated or out of order")
    if not REQUIRED <= f.keys(): return None, errs + ["payload lacks %s" % ",".join(sorted(REQUIRED - f.keys()))]
    if f["v"] not in ("1", "2"): errs.append("v is neither 1 nor 2")
    if f["v"] == "1" and "epoch" in f: errs.append("a version 1 payload with an epoch")
    if not isint(f["seq"]) or int(f["seq"]) < 1 or not isinstance(f["chain"], str): return None, errs + ["bad chain or seq"]
    if not isinstance(f["prev"], str) or not HEX.match(f["prev"]) or not isinstance(f["kid"], str):
        return None, errs + ["bad prev or kid"]
    for k in ("ts", "ingested_at"):
        if not isinstance(f[k], str) or not TIME.match(f[k]): errs.append("%s is not a time" % k)
    if f["action"] not in ACTIONS: errs.append("unknown action %r" % (f["action"],))
    if "" in [f.get(k) for k in FIELDS[6:16] if k != "arguments"]: errs.append("empty optional string present")
    if "detail" in f and (not isinstance(f["detail"], Obj) or [a for a, _ in f["detail"]] != sorted({a for a, _ in f["detail"]})):
        errs.append("detail is not an object with keys in byte order")
    if "redactions" in f:
        errs += manifest_errors(f["redactions"]) if f["v"] == "2" else \
            [] if isinstance(f["redactions"], Obj) and [a for a, _ in f["redactions"]] == sorted({a for a, _ in f["redactions"]}) \
            and all(isint(n) for _, n in f["redactions"]) else ["v1 redactions are not type -> count in byte order"]
    src = f.get("source", Obj([("file", ""), ("dev", Num(0)), ("ino", Num(0)), ("offset", Num(0))]))
    if [k for k, _ in src][:4] != ["file", "dev", "ino", "offset"] or not all(isint(n) for _, n in src[1:4]) \
            or len(src) > 5 or len(src) == 5 and (src[4][0] != "raw_sha256" or not isinstance(src[4][1], str) or not HEX.match(src[4][1])):
        errs.append("source is not {file,dev,ino,offset[,raw_sha256]}")
    if "epoch" in f and (not isint(f["epoch"]) or int(f["epoch"]) < 1): errs.append("epoch is not a positive integer")
    f["epoch"] = int(f["epoch"]) if isint(f.get("epoch")) else 0
    f["seq"], f["detail"] = int(f["seq"]), dict(f["detail"]) if isinstance(f.get("detail"), Obj) else {}
    return f, errs

def manifest_errors(m):  # version 2 "redactions": {"policy", "rules": [{"rule","type","count","paths"?,"more"?}]}
    if not isinstance(m, Obj) or [k for k, _ in m] != ["policy", "rules"] or not isinstance(dict(m)["policy"], str) \
            or not isinstance(dict(m)["rules"], list) or not dict(m)["rules"]:
        return ["redactions is not {policy, rules}"]
    rules = dict(m)["rules"]
    for r in rules:
        keys, d = [k for k, _ in r] if isinstance(r, Obj) else [], dict(r) if isinstance(r, Obj) else {}
        paths = d.get("paths", [])
        if keys[:3] != ["rule", "type", "count"] or keys[3:] not in ([], ["paths"], ["more"], ["paths", "more"]) \
                or not isint(d["count"]) or int(d["count"]) < 1 or "paths" in d and (not paths or len(paths) > 16
                or paths != sorted(set(paths))) or "more" in d and (not isint(d["more"]) or int(d["more"]) < 1):
            return ["redactions rule malformed"]
    if [dict(r)["rule"] for r in rules] != sorted(dict(r)["rule"] for r in rules): return ["redactions rules not in byte order"]
    return []

def ratchet(k, e):  # K(e+1) = HMAC-SHA256(K(e), "ratchet" || uint64_be(e))
    return hmac.new(k, b"ratchet" + e.to_bytes(8, "big"), hashlib.sha256).digest()

def lh(d): return hashlib.sha256(b"\0" + d).digest()
def nh(l, r): return hashlib.sha256(b"\1" + l + r).digest()
def fold(hs): return hashlib.sha256(b"").digest() if not hs else hs[0] if len(hs) == 1 else nh(hs[0], fold(hs[1:]))
def heights(n): return [h for h in range(n.bit_length() - 1, -1, -1) if n >> h & 1]

# Ed25519 (RFC 8032, section 5.1.7), as Go's crypto/ed25519 verifies: A may be
# any encoding of a point (y is taken mod p), s < L, and [s]B - [k]A must
# encode to R byte for byte.
EP, EL = 2**255 - 19, 2**252 + 27742317777372353535851937790883648493
ED = -121665 * pow(121666, EP - 2, EP) % EP
def ed_x(y, sign):
    x2 = (y * y - 1) * pow(ED * y * y + 1, EP - 2, EP) % EP
    x = pow(x2, (EP + 3) // 8, EP)
    if (x * x - x2) % EP: x = x * pow(2, (EP - 1) // 4, EP) % EP
    if (x * x - x2) % EP: return None
    return EP - x if (x & 1) != sign and x else x
def ed_add(a, b):  # extended coordinates (X, Y, Z, T)
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % EP, (a[1] + a[0]) * (b[1] + b[0]) % EP
    C, D = 2 * a[3] * b[3] * ED % EP, 2 * a[2] * b[2] % EP
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % EP, G * H % EP, F * G % EP, E * H % EP)
def ed_mul(k, p):
    q = (0, 1, 1, 0)
    while k:
        if k & 1: q = ed_add(q, p)
        p, k = ed_add(p, p), k >> 1
    return q
def ed_point(b):
    y = int.from_bytes(b, "little")
    sign, y = y >> 255, (y & (1 << 255) - 1) % EP
    x = ed_x(y, sign)
    return None if x is None else (x, y, 1, x * y % EP)
def ed_bytes(p):
    zi = pow(p[2], EP - 2, EP)
    x, y = p[0] * zi % EP, p[1] * zi % EP
    return (y | (x & 1) << 255).to_bytes(32, "little")
EB = ed_point((4 * pow(5, EP - 2, EP) % EP).to_bytes(32, "little"))
def ed25519_verify(pub, msg, sig):
    A = ed_point(pub) if len(pub) == 32 else None
    if A is None or len(sig) != 64 or int.from_bytes(sig[32:], "little") >= EL: return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % EL
    negA = (EP - A[0], A[1], 1, (EP - A[3]) % EP)
    return ed_bytes(ed_add(ed_mul(int.from_bytes(sig[32:], "little"), EB), ed_mul(k, negA))) == sig[:32]

# ECDSA P-256 (FIPS 186-5) over SHA-256, the signature ASN.1 DER as Go reads it.
CP, CN = 2**256 - 2**224 + 2**192 + 2**96 - 1, 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
CB = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
CG = (0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)
def ec_add(a, b):
    if a is None or b is None: return a or b
    if a[0] == b[0] and (a[1] + b[1]) % CP == 0: return None
    l = (3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, CP) if a == b else (b[1] - a[1]) * pow(b[0] - a[0], -1, CP)
    x = (l * l - a[0] - b[0]) % CP
    return (x, (l * (a[0] - x) - a[1]) % CP)
def ec_mul(k, p):
    q = None
    while k:
        if k & 1: q = ec_add(q, p)
        p, k = ec_add(p, p), k >> 1
    return q
def der_ints(b):  # SEQUENCE { INTEGER r, INTEGER s }, minimal, positive, nothing after
    if len(b) < 2 or b[0] != 0x30 or b[1] != len(b) - 2 or b[1] > 0x7f: return None
    out, i = [], 2
    while i < len(b):
        if b[i] != 2 or i + 1 >= len(b) or b[i + 1] > 0x7f or i + 2 + b[i + 1] > len(b) or b[i + 1] == 0: return None
        v = b[i + 2:i + 2 + b[i + 1]]
        if v[0] & 0x80 or len(v) > 1 and v[0] == 0 and not v[1] & 0x80: return None
        out.append(int.from_bytes(v, "big")); i += 2 + b[i + 1]
    return out if len(out) == 2 else None
def ecdsa_verify(q, msg, sig):
    rs = der_ints(sig)
    if not rs or not (0 < rs[0] < CN and 0 < rs[1] < CN): return False
    w = pow(rs[1], -1, CN)
    p = ec_add(ec_mul(int.from_bytes(hashlib.sha256(msg).digest(), "big") * w % CN, CG), ec_mul(rs[0] * w % CN, q))
    return p is not None and p[0] % CN == rs[0]

ED_SPKI, EC_SPKI = bytes.fromhex("302a300506032b6570032100"), bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200" "04")
def load_pubkey(path, name):
    """A PKIX PEM public key: (name, key hash, verify(msg, sig)). Rule 7."""
    m = re.search(rb"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", open(path, "rb").read(), re.S)
    der = base64.b64decode(b"".join(m.group(1).split()), validate=True) if m else b""
    if len(der) == 44 and der.startswith(ED_SPKI):
        alg, raw, check = 1, der[12:], lambda msg, sig, k=der[12:]: ed25519_verify(k, msg, sig)
    elif len(der) == 91 and der.startswith(EC_SPKI):
        q = (int.from_bytes(der[27:59], "big"), int.from_bytes(der[59:], "big"))
        if (q[1] ** 2 - q[0] ** 3 + 3 * q[0] - CB) % CP or not max(q) < CP: raise ValueError("%s: not a point of P-256" % path)
        alg, raw, check = 2, der, lambda msg, sig, q=q: ecdsa_verify(q, msg, sig)
    else:
        raise ValueError("%s: not a PEM Ed25519 or ECDSA P-256 public key" % path)
    kh = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw).digest()[:4]
    return name, kh, check

def open_note(note, trusted):
    """Rule 7 on a signed note: ("ok"|"unknown"|"bad"|"malformed", checkpoint text lines)."""
    b = note.encode("utf-8", "surrogatepass") if isinstance(note, str) else note
    try: t = b.decode("utf-8")
    except UnicodeError: return "malformed", None
    split = b.rfind(b"\n\n")
    if any(c < " " and c != "\n" for c in t) or split < 0 or not b.endswith(b"\n"):
        return "malformed", None
    text, status = b[:split + 1], "unknown"
    ln = text.decode().split("\n")
    for line in b[split + 2:-1].split(b"\n"):
        if not line.startswith("\u2014 ".encode()): return "malformed", None
        nm, _, b64 = line[4:].decode().partition(" ")
        try: sig = base64.b64decode(b64, validate=True)
        except ValueError: return "malformed", None
        if not nm or not b64 or len(sig) < 5 or any(c in nm for c in " +"): return "malformed", None
        for tn, kh, check in trusted:
            if tn == nm and kh == sig[:4]:
                if not check(text, sig[4:]): return "bad", ln
                status = "ok"
    return status, ln

class Chain:
    def __init__(s, name):
        s.name, s.start, s.last, s.mac, s.kid, s.rotate_to = name, None, None, None, None, None
        s.tree, s.size = None, 0         # tree state: [(height, hash)] largest first; None when unknown
        s.need = s.boundary = None       # purged prefix 1..need awaiting a retention_purge; prev of its first record
        s.first, s.records, s.ckpts, s.nokey = None, 0, 0, set()
        s.epoch, s.sealed = 0, 0         # epoch of the previous record; the epoch its seal closed (0: not a seal)
        s.purged, s.ckpt_time = 0, None  # highest through_seq of an honoured purge; time of the newest checkpoint that checked out
        s.pending = []                   # purges waiting for a signed checkpoint: [(seq, through_seq)], through_seq decreasing
        s.rng_begin, s.rng = 0, []       # while tree is None: the leaves since the cut as maximal subtrees [(start, height, hash)]
        s.vouch_from = 0                 # first leaf of the tree that signed roots vouch for
        s.compared, s.matched = set(), 0 # witnessed sizes compared with the tree; the largest found equal

class Verifier:
    def __init__(v, keys, trusted=(), witnessed=None):
        v.keys, v.chains, v.invalid, v.unverifiable, v.derived = keys, {}, False, False, {}
        v.trusted, v.witnessed = list(trusted), witnessed or {}  # witnessed: chain -> {size: (root, time)}
    def key(v, kid, e):  # the key of kid at epoch e (0: epochs off), derived from K(1)
        if kid not in v.keys or e <= 1: return v.keys.get(kid)
        de, k = v.derived.get(kid, (1, v.keys[kid]))
        if de > e: de, k = 1, v.keys[kid]
        while de < e: de, k = de + 1, ratchet(k, de)
        v.derived[kid] = (de, k)
        return k
    def gap(v, c, lo, hi): v.say(c, lo if lo == hi else "%d-%d" % (lo, hi), "records missing")
    def say(v, c, seq, why, unverifiable=False):   # seq 0: the chain as a whole; no chain: the input
        print(vis("chain %s seq %s: %s" % (q(c), seq, why) if seq != 0 else "chain %s: %s" % (q(c), why) if c else "problem: %s" % why))
        if unverifiable: v.unverifiable = True
        else: v.invalid = True

    def record(v, st, f, payload, mac):
        seq, c, say = f["seq"], st.name, lambda why, u=False: v.say(st.name, f["seq"], why, u)
        linked = st.last is not None and seq == st.last + 1
        if st.last is None:                               # the chain's first line in this file
            st.first, start = seq, st.start or 1
            if seq > start and st.start is not None: v.gap(c, start, seq - 1)
            elif seq > 1 and st.start is None: st.need = seq - 1
            elif seq < start: say("before the export_chain from_seq %d" % start)
            if seq > 1: st.boundary = f["prev"]
            st.tree, st.size = ([], 0) if seq == 1 else (None, 0)
            if seq > 1: v.cut(st, seq)
            if seq == 1 and (f["action"] != "chain_start" or f["prev"] != "0" * 64): say("seq 1 is not a chain_start with a zero prev")
        elif seq <= st.last:
            say("out of order or repeated (after seq %d)" % st.last)
        elif not linked:
            v.gap(c, st.last + 1, seq - 1)
            v.cut(st, seq)
        elif f["prev"] != st.mac.hex(): say("prev does not match the MAC of seq %d" % st.last)
        e = f["epoch"]                                    # rules 12-14
        if linked or seq == 1:
            if seq == 1 or st.epoch == 0:
                if e > 1: say("epochs begin at epoch %d, not 1" % e)
            elif e == 0: say("epochs switched off after epoch %d" % st.epoch)
            elif f["kid"] != st.kid and f["kid"] == st.rotate_to:
                if e != 1: say("the new key of a rotation begins at epoch %d" % e)
            elif st.sealed and e != st.sealed + 1: say("epoch %d follows the seal of epoch %d" % (e, st.sealed))
            elif not st.sealed and e > st.epoch: say("epoch %d begins without a seal of epoch %d" % (e, st.epoch))
            elif not st.sealed and e < st.epoch: say("epoch %d after epoch %d" % (e, st.epoch))
        if f["action"] == "seal" and (e == 0 or f["detail"].get("epoch") != Num(e)): say("seal does not name its own epoch")
        key, authentic = v.key(f["kid"], e), not v.keys   # rule 5
        if not v.keys: pass                               # --pubkey only: checkpoints vouch for the records
        elif key is None:
            if f["kid"] not in st.nokey: say("no key for kid %s (this and later records unchecked)" % f["kid"], True)
            st.nokey.add(f["kid"])
        elif not hmac.compare_digest(hmac.new(key, bytes.fromhex(f["prev"]) + payload, hashlib.sha256).digest(), mac):
            say("mac mismatch")
        else: authentic = True
        if v.keys and linked and f["kid"] != st.kid and f["kid"] != st.rotate_to:
            say("kid changes from %s to %s without a key_rotation" % (st.kid, f["kid"]))
        d = f["detail"]
        if f["action"] == "key_rotation" and d.get("old_kid") != f["kid"]: say("key_rotation not sealed with its old_kid")
        if f["action"] == "retention_purge" and authentic: v.purge(st, f, say)
        if f["action"] == "checkpoint" and (st.last is None or seq > st.last): v.checkpoint(st, f, say)
        if st.last is not None and seq <= st.last: return  # keep the state of the newer record
        if st.tree is not None:                           # every record is a leaf, seq i = leaf i-1
            st.tree.append((0, lh(payload)))
            while len(st.tree) > 1 and st.tree[-1][0] == st.tree[-2][0]:
                (h, a), (_, b) = st.tree.pop(-2), st.tree.pop()
                st.tree.append((h + 1, nh(a, b)))
            v.compare(st, seq)
        else:                                             # after a cut: the leaves as a range of maximal subtrees
            st.rng.append((seq - 1, 0, lh(payload)))
            while len(st.rng) > 1 and st.rng[-1][1] == st.rng[-2][1] and st.rng[-2][0] % (2 << st.rng[-2][1]) == 0:
                (lo, h, a), (_, _, b) = st.rng.pop(-2), st.rng.pop()
                st.rng.append((lo, h + 1, nh(a, b)))
        st.last, st.mac, st.kid, st.size, st.records = seq, mac, f["kid"], seq, st.records + 1
        st.rotate_to = d.get("new_kid") if f["action"] == "key_rotation" else None
        st.epoch, st.sealed = e, e if f["action"] == "seal" else 0

    def cut(v, st, seq):  # record seq does not follow the one before: the tree is lost until a signed tree state
        st.tree, st.rng_begin, st.rng, st.pending = None, seq - 1, [], []

    def vouch(v, st, size):  # a checkpoint signed by a trusted key covers leaves vouch_from..size-1
        for p in [p for p in st.pending if p[0] <= size]:
            if p[0] - 1 >= st.vouch_from: st.purged = max(st.purged, p[1])
        st.pending = [p for p in st.pending if p[0] > size]

    def purge(v, st, f, say):  # a retention_purge that checks out is honoured once authentic: by its MAC without
        d = f["detail"]        # --pubkey, else once a checkpoint signed by a trusted key covers it
        try:
            thr, cut, age = int(d["through_seq"]), d["cutoff"], go_ns(dict(d["policy"])["max_age"])
            if not TIME.match(cut) or thr < 1 or age <= 0: raise ValueError(cut)
        except (KeyError, ValueError, TypeError):
            return say("retention_purge detail malformed")
        if ns(cut) > ns(f["ingested_at"]) - age: return say("retention_purge cutoff is younger than its policy")
        if thr >= f["seq"]: return say("retention_purge through_seq %d >= its own seq" % thr)
        if ns(cut) + age > time.time_ns(): return say("retention_purge cutoff is less than max_age before now")
        ws = v.witnessed.get(st.name, {})                 # witnessed checkpoints whose record (seq size+1) it purged
        late = [w[1] for n in ws if n + 1 <= thr for w in ws[n] if ns(w[1]) >= ns(cut)]
        if late: return say("retention_purge purges a checkpoint witnessed at %s, not older than its cutoff %s" % (max(late), cut))
        if st.first > 1 and thr == st.first - 1 and d.get("through_mac") != st.boundary:
            return say("through_mac does not match the prev of seq %d" % st.first)
        if v.keys and not v.trusted:
            st.purged = max(st.purged, thr)               # its MAC checked out
            return
        while st.pending and st.pending[-1][1] <= thr: st.pending.pop()
        st.pending.append((f["seq"], thr))

    def checkpoint(v, st, f, say):                        # rules 8 and 9
        s, d, st.ckpts = f["seq"], f["detail"], st.ckpts + 1
        text, _, sig = str(d.get("note", "")).partition("\n\n")
        ln = text.split("\n")
        if len(ln) != 5 or not sig.startswith("\u2014 "): return say("checkpoint note malformed")
        status = open_note(d["note"], v.trusted)[0] if v.trusted else "unchecked"   # rule 7
        if status == "unknown": return say("checkpoint is not signed by a trusted key", True)
        if status in ("bad", "malformed"): return say("checkpoint signature does not verify")
        if ln[0] != "audit-sidecar/" + st.name: return say("checkpoint origin %r does not name the chain" % ln[0])
        if ln[1] != str(s - 1) or not isint(d.get("size")) or int(d["size"]) != s - 1: return say("checkpoint size is not seq-1")
        if ln[3] != "head " + f["prev"]: say("checkpoint head is not the record's prev")
        if ln[4] != "time " + f["ingested_at"]: say("checkpoint time is not the record's ingested_at")
        try:
            root = base64.b64decode(ln[2], validate=True)  # standard, padded: must re-encode to itself
            signed = [bytes.fromhex(h) for h in d["tree"] if HEX.match(h)]
            if len(root) != 32 or base64.b64encode(root).decode() != ln[2] or \
                    not len(signed) == len(d["tree"]) == len(heights(s - 1)): raise ValueError
        except (ValueError, KeyError, TypeError):
            return say("checkpoint root or tree state malformed")
        folds, vouches, hashed = fold(signed) == root, status == "ok", st.tree is not None
        if not folds: say("signed tree state does not fold to the note's root")
        state = list(zip(heights(s - 1), signed))
        if st.tree is not None and fold([h for _, h in st.tree]) != root:
            lo, why = 0, "merkle root mismatch"           # name the first perfect subtree that differs
            for (h, a), b in zip(st.tree, signed):
                if a != b: why += ": subtree of seqs %d-%d differs" % (lo + 1, lo + (1 << h)); break
                lo += 1 << h
            say(why)
            v.cut(st, s)
            st.vouch_from = s - 1                         # nothing before it is vouched for
        elif st.tree is None and folds:                   # after a cut: the subtrees of the signed state that the
            lo, first, differ = 0, s - 1, False           # records since the cut make up wholly must match them
            nodes = {(a, h): x for a, h, x in st.rng}
            for h, x in state:
                if lo >= st.rng_begin:
                    first = min(first, lo)
                    if nodes.get((lo, h)) != x:
                        differ = True
                        say("merkle root mismatch: subtree of seqs %d-%d differs from the signed tree state" % (lo + 1, lo + (1 << h)))
                lo += 1 << h
            hashed, st.vouch_from = True, s - 1 if differ else first
            if first > st.rng_begin and vouches and not v.keys:
                v.say(st.name, "%d-%d" % (st.rng_begin + 1, first), "records %d..%d are covered by no signed tree state "
                      "and no HMAC key was given: nothing vouches for them" % (st.rng_begin + 1, first), True)
        if vouches and hashed: v.vouch(st, s - 1)
        if st.tree is None and folds:                     # records before it not hashed here (or mismatched):
            st.tree = state                               # take up the signed state, check later ones from it
            v.compare(st, s - 1)
        if folds:                                         # witnessed checkpoints the records cannot reach: compared
            lo, ws = 0, v.witnessed.get(st.name, {})      # where the signed state holds their subtrees
            for k, (h, _) in enumerate(state):
                lo += 1 << h
                if lo in st.compared or lo not in ws: continue
                st.compared.add(lo)
                for w in ws[lo]:
                    if fold(signed[:k + 1]) != w[0]: v.say(st.name, "1-%d" % lo, "records 1..%d differ from the witnessed checkpoint of %s (rollback or rewrite)" % (lo, w[1]))
                    else: st.matched = max(st.matched, lo)
        st.ckpt_time = ln[4][5:]                          # the newest checkpoint that checked out (rule 11)

    def compare(v, st, size):                             # rule 10: the tree of `size` records against the witness
        ws = v.witnessed.get(st.name, {}).get(size)
        if ws is None or size in st.compared: return
        st.compared.add(size)
        root = fold([h for _, h in st.tree])
        for w in ws:
            if root != w[0]: v.say(st.name, "1-%d" % size, "records 1..%d differ from the witnessed checkpoint of %s (rollback or rewrite)" % (size, w[1]))
            else: st.matched = max(st.matched, size)

    def finish(v, st, max_age):                           # rules 10 and 11, once the export is read
        ws = v.witnessed.get(st.name, {})
        given = st.first > 1 and (st.start == st.first or st.need is not None and st.purged >= st.need)
        left = sorted(n for n in ws if n not in st.compared and n <= st.last and n > st.purged and not (given and n < st.first - 1))
        if left: v.say(st.name, left[0], "%d witnessed checkpoint(s) (sizes %d..%d) could not be compared (gap)" % (len(left), left[0], left[-1]), True)
        if ws:
            n = max(ws)
            if n <= st.last: print(vis("witness: chain %s: reaches the newest witnessed checkpoint (size %d)" % (st.name, n)))
            elif st.compared and st.matched:              # an export ends where it was taken
                print(vis("witness: chain %s: the export ends at seq %d, where it was taken; it matches the witnessed checkpoint of size %d; "
                      "the chain had %d records when witnessed at %s: seq %d..%d were written after the export and are not in it"
                      % (st.name, st.last, st.matched, n, ws[n][0][1], st.last + 1, n)))
            elif not st.compared:
                v.say(st.name, "%d-%d" % (st.last + 1, n), "the export ends at seq %d, before the witnessed checkpoint of %s (%d records), "
                      "and reaches no witnessed checkpoint: it cannot be shown to be part of the witnessed chain" % (st.last, ws[n][0][1], n), True)
        if not v.keys and st.ckpt_time is None:
            v.say(st.name, 0, "no HMAC key was given and no signed checkpoint covers any record", True)
        if max_age is not None and (st.ckpt_time is None or time.time() * 10**9 - ns(st.ckpt_time) > max_age):
            v.say(st.name, 0, "the newest checkpoint is older than the freshness bound, or there is none", True)

def read_witness(a, trusted, v):
    """Rule 10's input: the notes of a witness folder (*.checkpoint) and of a checkpoint
    file (a note, or the sidecar's stdout JSON lines: every checkpoint line counts)."""
    notes = []
    if a.witness:
        paths = sorted(glob.glob(os.path.join(a.witness, "*.checkpoint")))
        if not paths: raise OSError("witness folder %s holds no *.checkpoint file" % a.witness)
        notes += [open(p, "rb").read() for p in paths]
    if a.checkpoint:
        b = open(a.checkpoint, "rb").read()
        if not b.strip().startswith(b"{"): notes.append(b)
        else:
            lines = []
            for l in b.split(b"\n"):
                try: c = json.loads(l).get("checkpoint")
                except (ValueError, AttributeError): continue
                if isinstance(c, str) and c and c.encode() not in lines: lines.append(c.encode())
            if not lines: raise OSError("%s: no checkpoint lines" % a.checkpoint)
            notes += lines
    for note in notes:
        status, ln = open_note(note, trusted)
        try:
            if ln is None or len(ln) != 6 or ln[5] or not ln[0].startswith("audit-sidecar/") or not INT.match(ln[1]) \
                    or not ln[3].startswith("head ") or not ln[4].startswith("time "): raise ValueError
            chain, size, root = ln[0][14:], int(ln[1]), base64.b64decode(ln[2], validate=True)
            if len(root) != 32: raise ValueError
        except ValueError:
            v.say("", 0, "witnessed checkpoint: malformed checkpoint"); continue
        if status == "unknown": v.say(chain, size, "witnessed checkpoint is not signed by a trusted key", True)
        elif status != "ok": v.say(chain, size, "witnessed checkpoint: checkpoint signature is invalid")
        else: v.witnessed.setdefault(chain, {}).setdefault(size, []).append((root, ln[4][5:]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export")
    ap.add_argument("--key-file", action="append", default=[], help="HMAC key file; kid derived (hk-...)")
    ap.add_argument("--kid-key", nargs=2, action="append", default=[], metavar=("KID", "FILE"), help="key with an explicit kid")
    ap.add_argument("--pubkey", action="append", default=[], help="checkpoint public key, PKIX PEM (Ed25519 or ECDSA P-256)")
    ap.add_argument("--signer-name", default="audit-sidecar", help="key name in checkpoint signatures")
    ap.add_argument("--witness", help="folder of witnessed checkpoints (chain.witness_dir)")
    ap.add_argument("--checkpoint", help="a witnessed checkpoint file: a signed note, or the sidecar's stdout JSON lines")
    ap.add_argument("--max-age", help="freshness bound (a Go duration): each chain's newest checkpoint must be younger")
    a, keys = ap.parse_args(), {}
    try:
        max_age = go_ns(a.max_age) if a.max_age else None
    except ValueError: ap.error("--max-age: not a duration")
    try:
        for kid, path in [(None, p) for p in a.key_file] + a.kid_key:
            k = open(path, "rb").read()
            t = k[:-2] if k.endswith(b"\r\n") else k[:-1] if k.endswith(b"\n") else None
            k = t if t is not None and all(0x20 <= c <= 0x7e for c in t) else k
            if len(k) < 32: ap.error("%s: key shorter than 32 bytes" % path)
            keys[kid or "hk-" + hmac.new(k, b"audit-sidecar key id", hashlib.sha256).hexdigest()[:16]] = k
        try: trusted = [load_pubkey(p, a.signer_name) for p in a.pubkey]
        except ValueError as e: ap.error(str(e))
        if not keys and not trusted: ap.error("give --key-file (MAC check) or --pubkey (signed checkpoints), or both")
        if (a.witness or a.checkpoint) and not trusted: ap.error("--witness and --checkpoint need --pubkey")
        v = Verifier(keys, trusted)
        print("scope: export (a copy that ends where it was taken: it must match the witnessed checkpoints it reaches, not reach the newest)")
        if not trusted: print("note: checkpoint signatures are not checked (no --pubkey)")
        read_witness(a, trusted, v)
        with open(a.export, "rb") as fh:
            begun = set()                                 # chains with a record line read
            for n, line, lf, too_long in export_lines(fh):
                why = framing(line, lf, too_long)
                if why: v.say("", 0, "export line %d %s" % (n, why)); continue
                if line.startswith(START):                # an export of a time range: chain starts at from_seq
                    name, start = start_line(line)
                    st = v.chains.setdefault(name, Chain(name))
                    if name in begun: v.say("", 0, "export line %d: a start line of chain %s after records of that chain" % (n, q(name)))
                    elif st.start is not None: v.say("", 0, "export line %d: a second start line of chain %s" % (n, q(name)))
                    else: st.start = start
                    continue
                m = TAIL.search(line)
                f, errs = parse(line[:-74] + b"}")      # the payload, byte for byte
                for e in errs: v.say(f["chain"] if f else "?", f["seq"] if f else "line %d" % n, e)
                if not f: continue
                st = v.chains.setdefault(f["chain"], Chain(f["chain"]))
                if f["chain"] not in begun:
                    begun.add(f["chain"])
                    if st.start is not None and f["seq"] != st.start:
                        v.say("", 0, "export line %d: chain %s begins at seq %d, not at the from_seq %d of its start line" % (n, q(f["chain"]), f["seq"], st.start))
                v.record(st, f, line[:-74] + b"}", bytes.fromhex(m.group(1).decode()))
    except OSError as e:
        print("verify_export: %s" % e, file=sys.stderr); sys.exit(2)
    for st in v.chains.values():
        if st.need is not None and st.purged < st.need:
            if st.pending and st.pending[0][1] >= st.need:
                v.say(st.name, "1-%d" % st.need, "purged by the retention_purge at seq %d, which no checkpoint signed by a trusted key covers" % st.pending[0][0], True)
            else: v.say(st.name, "1-%d" % st.need, "records missing (no retention_purge accounts for them)")
        if not st.records: v.say(st.name, 1, "chain has no records")
        else: v.finish(st, max_age)
        print("chain %s: seqs %s-%s, %d records, %d checkpoints" % (q(st.name), st.first, st.last, st.records, st.ckpts))
    for name, ws in v.witnessed.items():             # a witnessed chain the export lacks: it was emptied or left out
        if name not in v.chains:
            n = max(ws)
            v.say(name, "1-%d" % n, "the export holds no record of this chain, but a witnessed checkpoint of %s covers %d records" % (ws[n][0][1], n))
    if not v.chains and not v.witnessed: v.say("", 0, "the input holds no records: there is nothing to verify", True)
    verdict = "invalid" if v.invalid else "unverifiable" if v.unverifiable else "valid"
    print("verdict: " + verdict)
    sys.exit({"valid": 0, "invalid": 1, "unverifiable": 3}[verdict])

if __name__ == "__main__":
    main()
