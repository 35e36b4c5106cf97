#!/usr/bin/env python3
"""Independent verifier of an audit-sidecar export (NDJSON), written from
docs/chain-format.md with the Python standard library only.

Per chain it checks: the line framing (payload recovered byte for byte), seq
order and gaps (from an export_chain/from_seq start line, or a prefix purged by
a retention_purge record), canonical payloads, prev links, HMAC-SHA256 MACs by
kid, key rotations, and checkpoints: size, origin, head, time, the RFC 6962
root of the payloads and the signed tree state. Checkpoint signatures are NOT
checked. Exit: 0 valid, 1 invalid, 3 unverifiable, 2 usage or I/O error.
"""
import argparse, base64, calendar, hashlib, hmac, json, re, sys, time
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

class Chain:
    def __init__(s, name):
        s.name, s.start, s.last, s.mac, s.kid, s.rotate_to = name, None, None, None, None, None
        s.tree, s.size = None, 0         # tree state: [(height, hash)] largest first; None when unknown
        s.need = s.boundary = None       # purged prefix 1..need awaiting a retention_purge; prev of its first record
        s.first, s.records, s.ckpts, s.nokey = None, 0, 0, set()
        s.epoch, s.sealed = 0, 0         # epoch of the previous record; the epoch its seal closed (0: not a seal)

class Verifier:
    def __init__(v, keys): v.keys, v.chains, v.invalid, v.unverifiable, v.derived = keys, {}, False, False, {}
    def key(v, kid, e):  # the key of kid at epoch e (0: epochs off), derived from K(1)
        if kid not in v.keys or e <= 1: return v.keys.get(kid)
        de, k = v.derived.get(kid, (1, v.keys[kid]))
        if de > e: de, k = 1, v.keys[kid]
        while de < e: de, k = de + 1, ratchet(k, de)
        v.derived[kid] = (de, k)
        return k
    def gap(v, c, lo, hi): v.say(c, lo if lo == hi else "%d-%d" % (lo, hi), "records missing")
    def say(v, c, seq, why, unverifiable=False):
        print("chain %s seq %s: %s" % (c, seq, why))
        if unverifiable: v.unverifiable = True
        else: v.invalid = True

    def record(v, st, f, payload, mac):
        seq, c, say = f["seq"], st.name, lambda why, u=False: v.say(st.name, f["seq"], why, u)
        linked = st.last is not None and seq == st.last + 1
        if st.last is None:                               # the chain's first line in this file
            st.first, start = seq, st.start or 1
            if seq > start and st.start is not None: v.gap(c, start, seq - 1)
            elif seq > 1 and st.start is None: st.need, st.boundary = seq - 1, f["prev"]
            elif seq < start: say("before the export_chain from_seq %d" % start)
            st.tree, st.size = ([], 0) if seq == 1 else (None, 0)
            if seq == 1 and (f["action"] != "chain_start" or f["prev"] != "0" * 64): say("seq 1 is not a chain_start with a zero prev")
        elif seq <= st.last:
            say("out of order or repeated (after seq %d)" % st.last)
        elif not linked:
            v.gap(c, st.last + 1, seq - 1)
            st.tree = None
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
        key = v.key(f["kid"], e)                          # rule 5
        if key is None:
            if f["kid"] not in st.nokey: say("no key for kid %s (this and later records unchecked)" % f["kid"], True)
            st.nokey.add(f["kid"])
        elif not hmac.compare_digest(hmac.new(key, bytes.fromhex(f["prev"]) + payload, hashlib.sha256).digest(), mac):
            say("mac mismatch")
        if linked and f["kid"] != st.kid and f["kid"] != st.rotate_to:
            say("kid changes from %s to %s without a key_rotation" % (st.kid, f["kid"]))
        d = f["detail"]
        if f["action"] == "key_rotation" and d.get("old_kid") != f["kid"]: say("key_rotation not sealed with its old_kid")
        if f["action"] == "retention_purge": v.purge(st, f, say)
        if f["action"] == "checkpoint" and (st.last is None or seq > st.last): v.checkpoint(st, f, say)
        if st.last is not None and seq <= st.last: return  # keep the state of the newer record
        if st.tree is not None:                           # every record is a leaf, seq i = leaf i-1
            st.tree.append((0, lh(payload)))
            while len(st.tree) > 1 and st.tree[-1][0] == st.tree[-2][0]:
                (h, a), (_, b) = st.tree.pop(-2), st.tree.pop()
                st.tree.append((h + 1, nh(a, b)))
        st.last, st.mac, st.kid, st.size, st.records = seq, mac, f["kid"], seq, st.records + 1
        st.rotate_to = d.get("new_kid") if f["action"] == "key_rotation" else None
        st.epoch, st.sealed = e, e if f["action"] == "seal" else 0

    def purge(v, st, f, say):
        d = f["detail"]
        try:
            thr, cut, age = int(d["through_seq"]), d["cutoff"], go_ns(dict(d["policy"])["max_age"])
            if not TIME.match(cut): raise ValueError(cut)
            if thr >= f["seq"]: say("retention_purge through_seq %d >= its own seq" % thr)
            if ns(cut) > ns(f["ingested_at"]) - age: say("retention_purge cutoff is younger than its policy")
        except (KeyError, ValueError, TypeError):
            return say("retention_purge detail malformed")
        if st.need is not None and thr >= st.need:
            if thr == st.need and d.get("through_mac") != st.boundary:
                return say("through_mac does not match the prev of seq %d" % st.first)
            st.need = None                                # the purged prefix is accounted for

    def checkpoint(v, st, f, say):                        # rules 8 and 9
        s, d, st.ckpts = f["seq"], f["detail"], st.ckpts + 1
        text, _, sig = str(d.get("note", "")).partition("\n\n")
        ln = text.split("\n")
        if len(ln) != 5 or not sig.startswith("\u2014 "): return say("checkpoint note malformed")
        if ln[0] != "audit-sidecar/" + st.name: say("checkpoint origin %r does not name the chain" % ln[0])
        if ln[1] != str(s - 1) or not isint(d.get("size")) or int(d["size"]) != s - 1: say("checkpoint size is not seq-1")
        if ln[3] != "head " + f["prev"]: say("checkpoint head is not the record's prev")
        if ln[4] != "time " + f["ingested_at"]: say("checkpoint time is not the record's ingested_at")
        try:
            root = base64.b64decode(ln[2], validate=True)  # standard, padded: must re-encode to itself
            signed = [bytes.fromhex(h) for h in d["tree"] if HEX.match(h)]
            if len(root) != 32 or base64.b64encode(root).decode() != ln[2] or \
                    not len(signed) == len(d["tree"]) == len(heights(s - 1)): raise ValueError
        except (ValueError, KeyError, TypeError):
            return say("checkpoint root or tree state malformed")
        if fold(signed) != root: say("signed tree state does not fold to the note's root")
        if st.tree is not None and st.size == s - 1 and fold([h for _, h in st.tree]) != root:
            lo, why = 0, "merkle root mismatch"           # name the first perfect subtree that differs
            for (h, a), b in zip(st.tree, signed):
                if a != b: why += ": subtree of seqs %d-%d differs" % (lo + 1, lo + (1 << h)); break
                lo += 1 << h
            say(why)
            st.tree = None
        if st.tree is None and fold(signed) == root:      # records before it not hashed here (or mismatched):
            st.tree = list(zip(heights(s - 1), signed))   # take up the signed state, check later ones from it

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export")
    ap.add_argument("--key-file", action="append", default=[], help="HMAC key file; kid derived (hk-...)")
    ap.add_argument("--kid-key", nargs=2, action="append", default=[], metavar=("KID", "FILE"), help="key with an explicit kid")
    a, keys = ap.parse_args(), {}
    try:
        for kid, path in [(None, p) for p in a.key_file] + a.kid_key:
            k = open(path, "rb").read()
            t = k[:-2] if k.endswith(b"\r\n") else k[:-1] if k.endswith(b"\n") else None
            k = t if t is not None and all(0x20 <= c <= 0x7e for c in t) else k
            if len(k) < 32: ap.error("%s: key shorter than 32 bytes" % path)
            keys[kid or "hk-" + hmac.new(k, b"audit-sidecar key id", hashlib.sha256).hexdigest()[:16]] = k
        if not keys: ap.error("at least one --key-file is required")
        v = Verifier(keys)
        with open(a.export, "rb") as fh:
            print("note: checkpoint signatures, witnesses and freshness (rules 7, 10, 11) are not checked")
            for n, line in enumerate(fh, 1):
                line = line[:-1] if line.endswith(b"\n") else line
                if line.startswith(b'{"export_chain":'):  # an export of a time range: chain starts at from_seq
                    try:
                        h = json.loads(line)
                        st = v.chains.setdefault(h["export_chain"], Chain(h["export_chain"]))
                        if st.last is not None: v.say(st.name, "-", "export_chain line after records of its chain")
                        st.start = int(h["from_seq"])
                    except (ValueError, KeyError, TypeError): v.say("?", "line %d" % n, "bad export_chain line")
                    continue
                m = TAIL.search(line)
                if not m: v.say("?", "line %d" % n, "no final mac member"); continue
                f, errs = parse(line[:-74] + b"}")      # the payload, byte for byte
                for e in errs: v.say(f["chain"] if f else "?", f["seq"] if f else "line %d" % n, e)
                if f: v.record(v.chains.setdefault(f["chain"], Chain(f["chain"])), f, line[:-74] + b"}", bytes.fromhex(m.group(1).decode()))
    except OSError as e:
        print("verify_export: %s" % e, file=sys.stderr); sys.exit(2)
    for st in v.chains.values():
        if st.need is not None: v.say(st.name, "1-%d" % st.need, "records missing (no retention_purge accounts for them)")
        print("chain %s: seqs %s-%s, %d records, %d checkpoints" % (st.name, st.first, st.last, st.records, st.ckpts))
    if not v.chains: v.say("-", "-", "no records", True)
    verdict = "invalid" if v.invalid else "unverifiable" if v.unverifiable else "valid"
    print("verdict: " + verdict)
    sys.exit({"valid": 0, "invalid": 1, "unverifiable": 3}[verdict])

if __name__ == "__main__":
    main()
