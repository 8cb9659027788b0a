"""Many sessions at once: 300 concurrent clients each deliver one message through
mxgate to the downstream; every one gets 250 and the downstream has each body once."""
import threading
import time

from harness import ProxyTestCase, RawClient, ScriptedDownstream

N = 300


def body(i):
    return (b"From: Sender %d <sender-%d@example.net>\r\n"
            b"To: rcpt-%d@example.org\r\n"
            b"Subject: concurrent message %d\r\n"
            b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <concurrent-%d@example.net>\r\n"
            b"\r\n"
            b"This is message number %d of %d.\r\n"
            b"%s\r\n") % (i, i, i, i, i, i, N, (b"%05d " % i) * 20)


def deep_backlog_downstream():
    """A ScriptedDownstream whose listening socket has a backlog of 1024 instead of
    asyncio's default 100: 300 simultaneous connects from mxgate would otherwise
    overflow the kernel's accept queue of the *test* server (a real MX listens with a
    deep backlog), and the overflowed ones wait out SYN-ACK retransmits."""
    d = ScriptedDownstream()
    ctl = d.controller

    def create_server():
        return ctl.loop.create_server(ctl._factory_invoker, host=ctl.hostname, port=ctl.port,
                                      ssl=ctl.ssl_context, backlog=1024)
    ctl._create_server = create_server
    return d


class Concurrency(ProxyTestCase):
    def run_clients(self, port, n, barrier_timeout=40):
        results = [None] * n
        # Every session is open (greeted, EHLO done) before any transaction starts,
        # so all n are really concurrent at mxgate and at the downstream.
        barrier = threading.Barrier(n, timeout=barrier_timeout)

        def client(i):
            c = None
            try:
                c = RawClient(port, timeout=40)
                steps = [c.reply()]
                steps.append(c.cmd("EHLO client%d.test" % i))
                barrier.wait()
                steps.append(c.cmd("MAIL FROM:<sender-%d@example.net>" % i))
                steps.append(c.cmd("RCPT TO:<rcpt-%d@example.org>" % i))
                steps.append(c.cmd("DATA"))
                c.send(body(i) + b".\r\n")
                steps.append(c.reply())
                steps.append(c.cmd("QUIT"))
                results[i] = [code for code, _ in steps], steps
            except Exception as e:  # recorded and asserted on below
                try:
                    barrier.abort()
                except Exception:
                    pass
                results[i] = "error: %r" % e
            finally:
                if c:
                    c.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(55)
        return results

    def test_300_concurrent_sessions(self):
        down = deep_backlog_downstream().start()
        self.addCleanup(down.stop)
        mx = self.start_mxgate(down.port, {
            "smtp": {"max_connections": 400, "max_connections_per_ip": 400},
            "downstream": {"connect_timeout": "20s", "command_timeout": "20s", "data_timeout": "20s"},
        })
        t0 = time.time()
        results = self.run_clients(mx.port, N)
        elapsed = time.time() - t0
        bad = {i: r for i, r in enumerate(results)
               if not isinstance(r, tuple) or r[0] != [220, 250, 250, 250, 354, 250, 221]}
        self.assertEqual(bad, {}, "%d of %d sessions failed, e.g. %r"
                         % (len(bad), N, list(bad.items())[:3]))
        self.assertLess(elapsed, 60)
        # Every 250 was the downstream's own.
        for codes, steps in results:
            self.assertEqual(steps[5], (250, ["250 2.0.0 Ok: queued"]))

        self.wait_for(lambda: len(down.rec.messages) >= N, timeout=10, msg="%d messages" % N)
        msgs = down.rec.messages
        self.assertEqual(len(msgs), N)
        self.assertEqual(down.rec.mail_count, N)
        by_sender = {}
        for m in msgs:
            self.assertRegex(m["mail_from"], r"^sender-\d+@example\.net$")
            i = int(m["mail_from"][len("sender-"):].split("@")[0])
            self.assertNotIn(i, by_sender, "message %d twice" % i)
            by_sender[i] = m
        self.assertEqual(set(by_sender), set(range(N)))
        for i, m in by_sender.items():
            self.assertEqual(m["rcpts"], ["rcpt-%d@example.org" % i])
            # The body that arrived with this envelope is this client's, byte for byte.
            self.assertEqual(m["data"].replace(b"\r\n", b"\n"), body(i).replace(b"\r\n", b"\n"))
            self.assertEqual(m["xforward"].get("HELO"), "client%d.test" % i)

        t = mx.wait_transactions(N)
        self.assertEqual(len(t), N)
        self.assertEqual({x["verdict"] for x in t}, {"accept"})
        self.assertEqual(len({x["session"] for x in t}), N, "session ids not unique")
        self.assertEqual({x["mail_from"] for x in t}, {"sender-%d@example.net" % i for i in range(N)})

    def test_per_ip_limit_under_concurrency(self):
        # 60 connections from one address with a limit of 50: exactly 10 are refused.
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"smtp": {"max_connections_per_ip": 50,
                                                    "max_connections": 400}})
        clients, replies = [], []
        try:
            for _ in range(60):
                c = RawClient(mx.port, timeout=10)
                clients.append(c)
                replies.append(c.reply())
            codes = [r[0] for r in replies]
            self.assertEqual(codes.count(220), 50, codes)
            self.assertEqual(codes.count(421), 10, codes)
            self.assertEqual(codes[:50], [220] * 50)
            for code, lines in replies[50:]:
                self.assertEqual(lines, ["421 4.7.0 mxgate.test Error: too many connections from 127.0.0.1"])
            for c in clients[50:]:
                self.assertTrue(c.closed())
            # A slot frees when a session ends.
            self.assertEqual(clients[0].cmd("QUIT")[0], 221)
            self.assertTrue(clients[0].closed())

            def admitted():
                c = RawClient(mx.port, timeout=10)
                try:
                    return c.reply()[0] == 220
                finally:
                    c.close()
            self.wait_for(admitted, timeout=5, msg="a freed slot")
        finally:
            for c in clients:
                c.close()


if __name__ == "__main__":
    import unittest
    unittest.main()
