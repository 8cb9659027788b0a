"""Connections that hold a slot without using it, against the shipped limits.

Thousands of clients that greet and say nothing, or trickle a command line a byte
at a time, from many loopback addresses (each within smtp.max_connections_per_ip),
must not keep a normal client (smtplib) from being served within a few seconds; at
smtp.max_connections the sessions idle longest make way for new clients.
"""
import resource
import selectors
import smtplib
import socket
import time
import unittest

from harness import LOOPBACK, MESSAGE, ProxyTestCase

SHIPPED = {"smtp": {"command_timeout": "300s", "data_timeout": "300s"}, "log": {"level": "info"}}


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need and hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need


class Crowd:
    """`n` connections from 127.0.1.x addresses, `per_address` each, greeted."""

    def __init__(self, port, n, per_address=50):
        self.socks = []
        self.greeted = 0
        sel = selectors.DefaultSelector()
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.%d.%d" % (1 + i // per_address // 250, 1 + (i // per_address) % 250), 0))
            s.setblocking(False)
            try:
                s.connect((LOOPBACK, port))
            except BlockingIOError:
                pass
            self.socks.append(s)
            sel.register(s, selectors.EVENT_READ)
        deadline = time.time() + 60
        pending = len(self.socks)
        self.first = {}
        while pending and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                self.first[key.fileobj] = data
                if data.startswith(b"220"):
                    self.greeted += 1
                sel.unregister(key.fileobj)
                pending -= 1
        sel.close()

    def trickle(self, count, byte=b"X"):
        """One more byte of a command line that never ends, on `count` of them."""
        sent = 0
        for s in self.socks[:count]:
            try:
                s.send(byte)
                sent += 1
            except OSError:
                pass
        return sent

    def closed_with(self, text):
        """How many were told `text` and closed."""
        n = 0
        for s in self.socks:
            try:
                s.setblocking(False)
                data = s.recv(4096)
            except (BlockingIOError, OSError):
                continue
            if text in data:
                n += 1
        return n

    def close(self):
        for s in self.socks:
            s.close()


class SlowClientsTest(ProxyTestCase):
    def serve_one(self, port, source):
        started = time.time()
        with smtplib.SMTP(LOOPBACK, port, timeout=30, source_address=(source, 0)) as s:
            s.ehlo("normal.client.test")
            s.sendmail("sender@example.net", ["rcpt@example.org"], MESSAGE)
        return time.time() - started

    def test_five_thousand_idle_and_trickling_connections_do_not_stop_a_normal_client(self):
        if not raise_fd_limit(5200):
            self.skipTest("the open-file limit is below 5,200 and cannot be raised")
        down = self.start_downstream()
        m = self.start_mxgate(down.port, SHIPPED)
        crowd = Crowd(m.port, 5000)
        self.addCleanup(crowd.close)
        self.assertEqual(crowd.greeted, 5000, "every one of them is let in: %d" % crowd.greeted)
        for _ in range(3):
            crowd.trickle(1000)
            time.sleep(0.3)
        took = [self.serve_one(m.port, "127.0.200.%d" % i) for i in range(1, 4)]
        self.assertLess(max(took), 5, "normal clients waited %s s" % took)
        self.wait_for(lambda: len(down.rec.messages) == 3, msg="the three messages at the MX")
        self.assertNotIn("too many connections", m.log())

    def test_at_the_limit_the_longest_idle_make_way(self):
        if not raise_fd_limit(1300):
            self.skipTest("the open-file limit is below 1,300 and cannot be raised")
        down = self.start_downstream()
        cfg = dict(SHIPPED)
        cfg["smtp"] = dict(SHIPPED["smtp"], max_connections=1000)
        m = self.start_mxgate(down.port, cfg)
        crowd = Crowd(m.port, 1000)
        self.addCleanup(crowd.close)
        self.assertEqual(crowd.greeted, 1000)
        time.sleep(1.3)  # idle long enough to be asked to leave
        # Three clients at once, each taking a slot an idle one leaves.
        started = time.time()
        clients = []
        for i in range(1, 4):
            s = smtplib.SMTP(LOOPBACK, m.port, timeout=30, source_address=("127.0.200.%d" % i, 0))
            self.addCleanup(s.close)
            s.ehlo("normal.client.test")
            clients.append(s)
        for s in clients:
            s.sendmail("sender@example.net", ["rcpt@example.org"], MESSAGE)
            s.quit()
        self.assertLess(time.time() - started, 5)
        self.wait_for(lambda: len(down.rec.messages) == 3, msg="the three messages at the MX")
        time.sleep(0.3)
        self.assertGreaterEqual(crowd.closed_with(b"421 4.7.0 mxgate.test Error: too many connections, closing idle session"), 3)
        self.assertIn("stress: 800 of 1000 connections open", m.log())


if __name__ == "__main__":
    unittest.main()
