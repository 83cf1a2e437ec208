#!/usr/bin/env python3
"""flood_client.py — connection-flood and probe tools for the control plane's
admission tests (tests/integration/control_flood.sh) and bench/flood.sh.

  flood  --port P [--host H] [--bind ADDR[,ADDR...]] [--silent N] [--drip N]
         [--drip-interval S] [--reopen [--reopen-delay S]] [--status FILE]
         [--seconds S]
      Opens N TCP connections that send nothing, and N TLS connections that
      send one byte of a request header every S seconds (never finishing
      it), from ADDR (several: the connections are spread over them in
      turn). Each is watched until the server closes it (end of stream or
      reset) and, with --reopen, opened again after S seconds (default 0.5:
      a flood that keeps up its pressure). FILE is rewritten every 0.2 s
      with the counts and the lifetimes (seconds from the connect call to
      the server's close: never shorter than the server's own view) of the
      closed connections. Runs S seconds (default: until SIGTERM).

  probe  --port P [--host H] [--bind ADDR] [--path /healthz] [--token T]
         [--count N] [--timeout S]
      N sequential requests, each on a new TLS connection; prints one line
      per request ("<status> <milliseconds>"), "fail <reason>" for a failed
      one, and a summary line "p50=.. p99=.. max=.. ok=N/N".

  raw    --port P [--host H] [--timeout S]
      Sends stdin as-is over one TLS connection and prints what comes back
      until the server closes (the exact bytes of the reply, for checks);
      exit status 2 if it has not closed after S seconds (default 10).

TLS certificates are not verified: these tools test the server's behaviour
towards any peer, not its identity.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import statistics
import sys
import time


_CTX = None


def tls_context():
    """One client context (building one loads the system CA store: slow)."""
    global _CTX
    if _CTX is None:
        _CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _CTX.check_hostname = False
        _CTX.verify_mode = ssl.CERT_NONE
    return _CTX


class Flood:
    def __init__(self, a):
        self.a = a
        self.ctx = tls_context()
        self.open = {"silent": 0, "drip": 0}
        self.opened = {"silent": 0, "drip": 0}
        self.failed = {"silent": 0, "drip": 0}
        self.lifetimes = {"silent": [], "drip": []}
        self.stop = asyncio.Event()

    async def one(self, kind, i):
        binds = [b for b in self.a.bind.split(",") if b]
        while not self.stop.is_set():
            t0 = time.monotonic()
            writer = None
            try:
                local = (binds[i % len(binds)], 0) if binds else None
                if kind == "silent":
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.a.host, self.a.port, local_addr=local), 10)
                else:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.a.host, self.a.port, local_addr=local,
                                                ssl=self.ctx, server_hostname=None), 10)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                self.failed[kind] += 1
                if not self.a.reopen:
                    return
                await asyncio.sleep(self.a.reopen_delay)
                continue
            self.opened[kind] += 1
            self.open[kind] += 1
            try:
                if kind == "silent":
                    await self.wait_eof(reader)
                else:
                    await self.drip(reader, writer)
                if not self.stop.is_set():
                    self.lifetimes[kind].append(time.monotonic() - t0)
            finally:
                self.open[kind] -= 1
                writer.close()
            if not self.a.reopen:
                return
            await asyncio.sleep(self.a.reopen_delay)

    async def wait_eof(self, reader):
        """Until the server closes (or the flood stops)."""
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            while True:
                read = asyncio.ensure_future(reader.read(4096))
                done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    read.cancel()
                    return
                try:
                    if not read.result():
                        return
                except (OSError, ssl.SSLError):
                    return
        finally:
            stop.cancel()

    async def drip(self, reader, writer):
        """One byte of a never-ending request header every drip-interval."""
        head = b"GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Drip: " + b"a" * 100000
        closed = asyncio.ensure_future(self.wait_eof(reader))
        try:
            for i in range(len(head)):
                try:
                    writer.write(head[i:i + 1])
                    await writer.drain()
                except (OSError, ssl.SSLError):
                    break
                try:
                    await asyncio.wait_for(asyncio.shield(closed), self.a.drip_interval)
                    break
                except asyncio.TimeoutError:
                    pass
            await closed
        finally:
            closed.cancel()

    def status(self):
        def summary(v):
            if not v:
                return {"n": 0}
            s = sorted(v)
            return {"n": len(s), "min": round(s[0], 3), "p50": round(s[len(s) // 2], 3),
                    "max": round(s[-1], 3)}
        return {"open": self.open, "opened": self.opened, "failed": self.failed,

                "closed_by_server": {k: summary(v) for k, v in self.lifetimes.items()}}

    async def report(self):
        while not self.stop.is_set():
            self.write_status()
            try:
                await asyncio.wait_for(self.stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    def write_status(self):
        if not self.a.status:
            return
        tmp = self.a.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.status(), f)
        os.replace(tmp, self.a.status)

    async def run(self):
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, self.stop.set)
        tasks = [asyncio.ensure_future(self.one("silent", i)) for i in range(self.a.silent)]
        tasks += [asyncio.ensure_future(self.one("drip", i)) for i in range(self.a.drip)]
        rep = asyncio.ensure_future(self.report())
        if self.a.seconds:
            loop.call_later(self.a.seconds, self.stop.set)
        await self.stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rep
        self.write_status()
        print(json.dumps(self.status()))


def request(a, path, token):
    """One request on a new TLS connection: (status, milliseconds)."""
    t0 = time.monotonic()
    s = socket.create_connection((a.host, a.port), timeout=a.timeout,
                                 source_address=(a.bind, 0) if a.bind else None)
    try:
        t = tls_context().wrap_socket(s)
        t.settimeout(a.timeout)
        auth = "Authorization: Bearer %s\r\n" % token if token else ""
        t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (path, a.host, auth)).encode())
        data = b""
        while True:
            try:
                d = t.recv(65536)
            except ssl.SSLEOFError:
                break
            if not d:
                break
            data += d
        t.close()
    finally:
        s.close()
    ms = (time.monotonic() - t0) * 1000
    line = data.split(b"\r\n", 1)[0].split()
    if len(line) < 2:
        raise OSError("no status line")
    return int(line[1]), ms


def probe(a):
    times, ok = [], 0
    for _ in range(a.count):
        try:
            status, ms = request(a, a.path, a.token)
            print("%d %.1f" % (status, ms), flush=True)
            if status == 200:
                ok += 1
                times.append(ms)
        except (OSError, ssl.SSLError) as e:
            print("fail %s" % e.__class__.__name__, flush=True)
    if times:
        s = sorted(times)
        p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
        print("p50=%.1f p99=%.1f max=%.1f ok=%d/%d" % (statistics.median(s), p99, s[-1], ok, a.count))
    else:
        print("p50=- p99=- max=- ok=0/%d" % a.count)
    return 0 if ok == a.count else 1


def raw(a):
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    t = tls_context().wrap_socket(s)
    t.settimeout(a.timeout)
    t.sendall(sys.stdin.buffer.read())
    out, rc = b"", 0
    while True:
        try:
            d = t.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            break
        except socket.timeout:
            print("raw: the server did not close within %g s" % a.timeout, file=sys.stderr)
            rc = 2
            break
        if not d:
            break
        out += d
    sys.stdout.buffer.write(out)
    return rc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["flood", "probe", "raw"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="")
    p.add_argument("--silent", type=int, default=0)
    p.add_argument("--drip", type=int, default=0)
    p.add_argument("--drip-interval", type=float, default=1.0)
    p.add_argument("--reopen", action="store_true")
    p.add_argument("--reopen-delay", type=float, default=0.5)
    p.add_argument("--status", default="")
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--path", default="/healthz")
    p.add_argument("--token", default="")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    if a.mode == "flood":
        asyncio.run(Flood(a).run())
        return 0
    return probe(a) if a.mode == "probe" else raw(a)


if __name__ == "__main__":
    sys.exit(main())
