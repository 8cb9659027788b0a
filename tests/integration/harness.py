"""Integration-test harness: real peers on 127.0.0.1 only.

Starts mxgate (the built binary, $MXGATE_BIN) on a generated config, a scripted
aiosmtpd downstream (or Postfix's smtp-sink), and talks to it with smtplib, swaks or
raw sockets. Every server a test starts is stopped in tearDown/cleanup.
Run with Debian's /usr/bin/python3 (aiosmtpd lives there).
"""
import asyncio
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
MXGATE = os.environ.get("MXGATE_BIN", os.path.join(SOURCE_DIR, "build", "proxy", "mxgate"))
LOOPBACK = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host=LOOPBACK):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")


def yaml_value(v, indent):
    pad = "  " * indent
    if isinstance(v, dict):
        out = ""
        for k, val in v.items():
            if isinstance(val, (dict, list)) and val:
                out += f"\n{pad}{k}:" + yaml_value(val, indent + 1)
            else:
                out += f"\n{pad}{k}: {scalar(val)}"
        return out
    if isinstance(v, list):
        out = ""
        for item in v:
            if isinstance(item, dict) and len(item) > 1:
                out += f"\n{pad}- {json.dumps(item)}"  # a flow mapping (JSON is YAML)
            elif isinstance(item, dict):
                (k, val), = item.items()
                out += f"\n{pad}- {k}:" + yaml_value(val, indent + 2)
            else:
                out += f"\n{pad}- {scalar(item)}"
        return out
    return " " + scalar(v)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list) and not v:
        return "[]"
    if isinstance(v, dict) and not v:
        return "{}"
    return json.dumps(v) if isinstance(v, str) else str(v)


def to_yaml(cfg):
    return yaml_value(cfg, 0).lstrip("\n") + "\n"


NO_DNS = f"{LOOPBACK}:1"


class Mxgate:
    """One mxgate process. `overrides` is merged into a default config (dicts merge
    key by key). The transaction log goes to a file; read it with transactions()."""

    def __init__(self, downstream_port, overrides=None, workdir=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="mxgate-test-")
        self.port = free_port()
        self.txn_log = os.path.join(self.workdir, "transactions.jsonl")
        self.stderr_path = os.path.join(self.workdir, "mxgate.stderr")
        cfg = {
            "listen": [f"{LOOPBACK}:{self.port}"],
            "hostname": "mxgate.test",
            "workers": 2,
            "shutdown_timeout": "10s",
            "smtp": {"command_timeout": "30s", "data_timeout": "30s"},
            "downstream": {"address": f"{LOOPBACK}:{downstream_port}", "tls": "off",
                           "command_timeout": "10s", "data_timeout": "10s",
                           "connect_timeout": "5s"},
            "log": {"level": "debug", "transactions": self.txn_log},
            # No test may ask the system's resolver. By default DNS goes nowhere (a
            # closed loopback port: every lookup fails at once); suites that need
            # answers start a DnsServer and override this.
            "dns": {"nameservers": [NO_DNS], "timeout": "200ms", "attempts": 1},
        }
        merge(cfg, overrides or {})
        self.config = cfg
        self.config_path = os.path.join(self.workdir, "mxgate.yaml")
        self.write_config(cfg)
        self.proc = None

    def write_config(self, cfg=None, text=None):
        with open(self.config_path, "w") as f:
            f.write(text if text is not None else to_yaml(cfg or self.config))

    def start(self, wait=True):
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([MXGATE, "serve", "--config", self.config_path],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        if wait:
            try:
                # Generous: the sanitizer build on a loaded 2-core machine starts slowly.
                wait_port(self.port, timeout=30)
            except RuntimeError:
                self.stop()
                raise RuntimeError("mxgate did not start:\n" + self.log())
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()
            self.stderr = None

    def log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def transactions(self):
        try:
            with open(self.txn_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def wait_transactions(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.transactions()
            if len(t) >= n:
                return t
            time.sleep(0.05)
        return self.transactions()


def merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v


# ---------------------------------------------------------------- downstreams

class Behaviour:
    """What the scripted downstream does. Fields are read at each event."""

    def __init__(self):
        self.reject_rcpts = {}      # address -> "550 5.1.1 <a>: Recipient address rejected: no such user"
        self.mail_reply = None      # e.g. "451 4.3.0 try later"
        self.data_reply = None      # reply after the message, e.g. "451 4.3.0 Error: queue full"
        self.stall = None           # "connect" | "mail" | "rcpt" | "data" | "data_end": sleep there
        self.stall_seconds = 60
        self.drop = None            # "connect" | "mail" | "rcpt" | "data" | "data_end": close there
        self.xforward = True        # offer XFORWARD
        self.xclient = False        # offer XCLIENT
        self.size = None            # SIZE to announce (aiosmtpd's data_size_limit)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []          # dicts: mail_from, rcpts, data (bytes), xforward, tls
        self.mail_count = 0         # MAIL commands seen (a smuggled 2nd transaction shows here)
        self.commands = []          # every command line verb + arg
        self.connections = 0


def _aiosmtpd():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, syntax
    return Controller, SMTP, syntax


class ScriptedDownstream:
    """An aiosmtpd server on 127.0.0.1 that records what it gets and misbehaves on
    request (see Behaviour). Optionally offers STARTTLS with `tls_context`."""

    def __init__(self, tls_context=None, require_starttls=False, line_length_limit=1001):
        """`line_length_limit`: aiosmtpd's (RFC 5321's 1,000 octets and one); raise it
        to behave as Postfix, which takes longer lines."""
        Controller, SMTP, syntax = _aiosmtpd()
        self.behaviour = Behaviour()
        self.rec = Recorder()
        self.port = free_port()
        outer = self

        class Handler:
            async def handle_EHLO(self, server, session, envelope, hostname, responses):
                session.host_name = hostname
                extra = []
                if outer.behaviour.xforward:
                    extra.append("250-XFORWARD NAME ADDR PORT PROTO HELO SOURCE")
                if outer.behaviour.xclient:
                    extra.append("250-XCLIENT NAME ADDR PORT PROTO HELO")
                return responses[:-1] + extra + responses[-1:]

            async def handle_MAIL(self, server, session, envelope, address, options):
                with outer.rec.lock:
                    outer.rec.mail_count += 1
                    outer.rec.commands.append(("MAIL", address))
                if await outer._misbehave("mail", server):
                    return "451 4.3.0 dropped"
                if outer.behaviour.mail_reply:
                    return outer.behaviour.mail_reply
                envelope.mail_from = address
                envelope.mail_options.extend(options)
                return "250 2.1.0 OK"

            async def handle_RCPT(self, server, session, envelope, address, options):
                with outer.rec.lock:
                    outer.rec.commands.append(("RCPT", address))
                if await outer._misbehave("rcpt", server):
                    return "451 4.3.0 dropped"
                r = outer.behaviour.reject_rcpts.get(address)
                if r:
                    return r
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 OK"

            async def handle_DATA(self, server, session, envelope):
                if await outer._misbehave("data_end", server):
                    return "451 4.3.0 dropped"
                with outer.rec.lock:
                    outer.rec.messages.append({
                        "mail_from": envelope.mail_from,
                        "rcpts": list(envelope.rcpt_tos),
                        "data": envelope.original_content,
                        "xforward": dict(getattr(session, "xforward", {})),
                        "tls": session.ssl is not None,
                    })
                if outer.behaviour.data_reply:
                    return outer.behaviour.data_reply
                return "250 2.0.0 Ok: queued"

        max_line = line_length_limit

        class Server(SMTP):
            line_length_limit = max_line

            async def smtp_XFORWARD(self, arg):
                attrs = getattr(self.session, "xforward", {})
                for tok in (arg or "").split():
                    k, _, v = tok.partition("=")
                    attrs[k.upper()] = v
                self.session.xforward = attrs
                with outer.rec.lock:
                    outer.rec.commands.append(("XFORWARD", arg))
                await self.push("250 2.0.0 Ok")

            async def smtp_XCLIENT(self, arg):
                with outer.rec.lock:
                    outer.rec.commands.append(("XCLIENT", arg))
                attrs = {}
                for tok in (arg or "").split():
                    k, _, v = tok.partition("=")
                    attrs[k.upper()] = v
                self.session.xforward = attrs
                self.session.host_name = None
                await self.push("220 downstream.test ESMTP")

            async def smtp_DATA(self, arg):
                if await outer._misbehave("data", self):
                    return
                await super().smtp_DATA(arg)

        class Ctl(Controller):
            def factory(self):
                server = Server(self.handler, tls_context=tls_context,
                                require_starttls=require_starttls,
                                data_size_limit=outer.behaviour.size or 33554432,
                                enable_SMTPUTF8=True, decode_data=False,
                                hostname="downstream.test", ident="downstream.test ESMTP")
                return server

            def _factory_invoker(self):
                with outer.rec.lock:
                    outer.rec.connections += 1
                return super()._factory_invoker()

        self.controller = Ctl(Handler(), hostname=LOOPBACK, port=self.port, ready_timeout=10)

    async def _misbehave(self, stage, server):
        b = self.behaviour
        if b.stall == stage:
            await asyncio.sleep(b.stall_seconds)
        if b.drop == stage:
            server.transport.close()
            return True
        return False

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass


class SmtpSink:
    """Postfix's smtp-sink, dumping each message into a folder (-d)."""

    def __init__(self, extra_args=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="smtp-sink-")
        self.extra = list(extra_args)
        self.proc = None

    def start(self):
        # -u: run as this user (CI runs as root); -d: dump each message into dir/%...
        user = "nobody" if os.geteuid() == 0 else os.environ.get("USER", "root")
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o777)
        args = ["/usr/sbin/smtp-sink", "-u", user, "-d", self.dir + "/%Y%m%d%H/%M.", "-c",
                *self.extra, f"{LOOPBACK}:{self.port}", "100"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def messages(self):
        out = []
        for root, _, files in os.walk(self.dir):
            for f in sorted(files):
                with open(os.path.join(root, f), "rb") as fh:
                    out.append(fh.read())
        return out

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- clients

def stop_process(proc, timeout=5):
    """Terminates a helper process a test started, and reaps it."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


FAKE_DNS = os.path.join(SOURCE_DIR, "tests", "dns", "fake_dns.py")


def free_udp_tcp_port():
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((LOOPBACK, 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind((LOOPBACK, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


class DnsServer:
    """tests/dns/fake_dns.py on 127.0.0.1 (UDP and TCP), logging every query."""

    def __init__(self, zone_lines):
        self.dir = tempfile.mkdtemp(prefix="mxgate-auth-dns-")
        self.zone = os.path.join(self.dir, "auth.zone")
        self.query_log = os.path.join(self.dir, "queries.log")
        with open(self.zone, "w") as f:
            f.write("\n".join(zone_lines) + "\n")
        self.port = free_udp_tcp_port()
        self.proc = None

    def start(self):
        # The port was free when probed, but another test running in parallel can take
        # it before fake_dns.py binds (CI saw exactly that: the server exited at once).
        # A server that exits before "ready" is retried on a fresh port; its stderr
        # goes into the error if every try fails.
        last = b""
        for attempt in range(5):
            if attempt:
                self.port = free_udp_tcp_port()
            err_path = os.path.join(self.dir, "stderr")
            self.stderr = open(err_path, "wb")
            self.proc = subprocess.Popen(["/usr/bin/python3", FAKE_DNS, self.zone, str(self.port), "--tcp",
                                          "--log-queries", self.query_log],
                                         stdout=subprocess.PIPE, stderr=self.stderr)
            ready, _, _ = select.select([self.proc.stdout], [], [], 10)
            line = self.proc.stdout.readline() if ready else b""
            if line.strip() == b"ready":
                return self
            stop_process(self.proc)
            self.proc.stdout.close()
            self.stderr.close()
            self.stderr = None
            with open(err_path, "rb") as f:
                last = line + f.read()[-2000:]
            if b"Address already in use" not in last:
                break
        self.stop()
        raise RuntimeError("fake_dns.py did not start: %r" % last)

    def queries(self):
        """[(name, type)] in arrival order, names lower case without the final dot."""
        try:
            with open(self.query_log) as f:
                return [(n.rstrip("."), t) for n, t in (l.split() for l in f if l.strip())]
        except FileNotFoundError:
            return []

    def stop(self):
        stop_process(self.proc)
        if self.proc:
            self.proc.stdout.close()
        if getattr(self, "stderr", None):
            self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """Debian's redis-server on 127.0.0.1 and a port of its own, nothing saved to disk;
    started and stopped by the test."""

    BINARY = "/usr/bin/redis-server"

    @classmethod
    def available(cls):
        return os.access(cls.BINARY, os.X_OK)

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mxgate-redis-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.BINARY, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
                                      "--appendonly", "no", "--daemonize", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class RawClient:
    """A byte-exact SMTP client for the cases smtplib would not send."""

    def __init__(self, port, host=LOOPBACK, timeout=15, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply; returns (code, [lines])."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; got so far: %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] == " ":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closed the connection (reads EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def make_ca(workdir, names=("localhost", "mx.test", "downstream.test"), ip_san=True):
    """A CA and a server certificate for `names` (and IP 127.0.0.1 unless ip_san is
    false), made with the openssl CLI."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=workdir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mxgate test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={names[0]}",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(workdir, "ext.cnf"), "w") as f:
        f.write("subjectAltName=" + ",".join(f"DNS:{n}" for n in names)
                + (",IP:127.0.0.1" if ip_san else "") + "\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    return {k: os.path.join(workdir, k) for k in ("ca.crt", "server.crt", "server.key")}


class ProxyTestCase(unittest.TestCase):
    """Base class: self.start_downstream(), self.start_mxgate(...) register cleanups."""

    def start_downstream(self, **kw):
        d = ScriptedDownstream(**kw).start()
        self.addCleanup(d.stop)
        return d

    def start_sink(self, *args):
        s = SmtpSink(args).start()
        self.addCleanup(s.stop)
        return s

    def start_mxgate(self, downstream_port, overrides=None, wait=True):
        m = Mxgate(downstream_port, overrides)
        self.addCleanup(lambda: shutil.rmtree(m.workdir, ignore_errors=True))
        self.addCleanup(m.stop)
        m.start(wait=wait)
        return m

    def raw(self, port, **kw):
        c = RawClient(port, **kw)
        self.addCleanup(c.close)
        return c

    def ehlo(self, c, name="client.test"):
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        code, lines = c.cmd("EHLO " + name)
        self.assertEqual(code, 250, lines)
        return lines

    def wait_for(self, pred, timeout=10, msg="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + msg)


MESSAGE = (b"From: Sender <sender@example.net>\r\n"
           b"To: Rcpt <rcpt@example.org>\r\n"
           b"Subject: test\r\n"
           b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <test-1@example.net>\r\n"
           b"\r\n"
           b"Hello.\r\n")
