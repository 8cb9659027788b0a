"""Signs a message with dkimpy (Debian's python3-dkim), an implementation independent
of libopendkim, for filters/dkim/dkim_filter_test.cpp; or prints the DNS key record
of a key. Keys are PEM files made by openssl (RSA in PKCS#1 or PKCS#8, Ed25519 in
PKCS#8); the openssl command converts them to what dkimpy takes.

Usage:
  dkim_sign.py sign --key PEM --selector S --domain D [--alg rsa-sha256|rsa-sha1|ed25519-sha256]
               [--canon relaxed/simple] [--length] [--identity I] [--headers from,to,subject]
               [--time T] [--expire-at X] MESSAGE_FILE
      prints DKIM-Signature + the message, CRLF line ends
  dkim_sign.py record --key PEM [--pkcs1]
      prints the TXT record: v=DKIM1; k=rsa|ed25519; p=... (RSA p= as SPKI, or PKCS#1)
Run it with /usr/bin/python3: that is where Debian installs dkim (python3-dkim).
"""
import argparse
import base64
import subprocess
import sys
import time

import dkim


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


def is_ed25519(path):
    return b"ED25519" in openssl("pkey", "-in", path, "-noout", "-text").split(b"\n", 1)[0].upper()


def record(args):
    if is_ed25519(args.key):
        der = openssl("pkey", "-in", args.key, "-pubout", "-outform", "DER")
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:]).decode()  # SPKI ends in the raw key
    fmt = "-RSAPublicKey_out" if args.pkcs1 else "-pubout"
    der = openssl("rsa", "-in", args.key, fmt, "-outform", "DER")
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


class ExtraTagsDKIM(dkim.DKIM):
    """dkimpy has no x= option: add extra tags just before b= (they are signed)."""

    extra = []

    def gen_header(self, fields, *rest, **kw):
        idx = [i for i, f in enumerate(fields) if f[0] == b"b"][0]
        fields[idx:idx] = self.extra
        return super().gen_header(fields, *rest, **kw)


def sign(args):
    alg = args.alg.encode()
    if is_ed25519(args.key):
        der = openssl("pkey", "-in", args.key, "-outform", "DER")
        privkey = base64.b64encode(der[-32:])  # PKCS#8 ends in the 32-byte seed dkimpy takes
    else:
        privkey = openssl("rsa", "-in", args.key, "-traditional")  # PKCS#1 PEM
    with open(args.message, "rb") as f:
        message = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if args.time is not None:
        fixed = float(args.time)
        time.time = lambda: fixed  # dkimpy reads t= from time.time()
    d = ExtraTagsDKIM(message, signature_algorithm=alg)
    if args.expire_at is not None:
        d.extra = [(b"x", str(args.expire_at).encode())]
    headers = [h.encode() for h in args.headers.split(",")] if args.headers else None
    sig = d.sign(args.selector.encode(), args.domain.encode(), privkey,
                 identity=args.identity.encode() if args.identity else None,
                 canonicalize=tuple(c.encode() for c in args.canon.split("/")),
                 include_headers=headers, length=args.length)
    return sig + message


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--key", required=True)
    r.add_argument("--pkcs1", action="store_true")
    s = sub.add_parser("sign")
    s.add_argument("--key", required=True)
    s.add_argument("--selector", required=True)
    s.add_argument("--domain", required=True)
    s.add_argument("--alg", default="rsa-sha256")
    s.add_argument("--canon", default="relaxed/simple")
    s.add_argument("--length", action="store_true")
    s.add_argument("--identity")
    s.add_argument("--headers")
    s.add_argument("--time", type=int)
    s.add_argument("--expire-at", type=int)
    s.add_argument("message")
    args = p.parse_args()
    if args.cmd == "record":
        print(record(args))
    else:
        sys.stdout.buffer.write(sign(args))


if __name__ == "__main__":
    main()
