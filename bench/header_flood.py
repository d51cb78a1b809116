"""A request with a huge header, and one with very many, against a real `control-room serve`.

Measures /api/health latency (p50 and max over the flood) while one client sends 64 MB
headers through raw sockets, one request after another for at least `--seconds`, and prints
the status the oversized requests got.

    python bench/header_flood.py [--mb 64] [--seconds 3]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

import httpx2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from http_claims import fresh_serve  # noqa: E402


def status_of(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "(no answer)"


def oversized(port: int, head: bytes, filler: int) -> tuple[str, float]:
    """Send `head`, then `filler` bytes of one header value, then the end of the head; read
    whatever answer comes (while still sending). Returns the status line and seconds taken."""
    started = time.monotonic()
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(30)

        def send() -> None:
            try:
                conn.sendall(head)
                chunk = b"a" * (1 << 20)
                for _ in range(filler // len(chunk)):
                    conn.sendall(chunk)
                conn.sendall(b"\r\n\r\n")
            except OSError:
                pass

        sender = threading.Thread(target=send)
        sender.start()
        try:
            while True:
                got = conn.recv(65536)
                if not got:
                    break
                answer += got
                if b"\r\n\r\n" in answer and not answer.startswith(b"HTTP/1.1 100"):
                    break
        except OSError as error:
            if not answer:
                answer += f"({type(error).__name__})".encode()
    sender.join(timeout=60)
    return status_of(bytes(answer)), time.monotonic() - started


def health_latencies(url: str, stop: threading.Event, into: list[float]) -> None:
    with httpx2.Client(timeout=60) as http:
        while not (stop.is_set() and into):
            started = time.monotonic()
            http.get(f"{url}/api/health")
            into.append(time.monotonic() - started)
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="keep flooding this long")
    args = parser.parse_args()
    with fresh_serve() as (_, url, server):
        port = int(url.rsplit(":", 1)[1])
        quiet: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=health_latencies, args=(url, stop, quiet))
        watcher.start()
        time.sleep(1)
        stop.set()
        watcher.join()
        during: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=health_latencies, args=(url, stop, during))
        watcher.start()
        head = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: ".encode()
        flood_until = time.monotonic() + args.seconds
        attempts = 0
        while True:  # one request after another for at least `seconds`
            status, took = oversized(port, head, args.mb << 20)
            attempts += 1
            if time.monotonic() > flood_until:
                break
        stop.set()
        watcher.join()
        print(f"{attempts} x {args.mb} MB header: {status!r}, the last after {took:.2f} s")
        for name, xs in (("idle", quiet), (f"during the {args.mb} MB header", during)):
            xs.sort()
            print(
                f"health {name}: {len(xs)} requests, p50 {xs[len(xs) // 2] * 1000:.1f} ms, "
                f"max {xs[-1] * 1000:.1f} ms"
            )
        many = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        many += b"".join(b"x-h%d: v\r\n" % i for i in range(2000))
        status, took = oversized(port, many + b"x-last: ", 0)
        print(f"2,000 headers: {status!r}")
        alive = httpx2.get(f"{url}/api/health", timeout=10).status_code
        print(f"health afterwards: {alive}; serve RSS {rss_mb(server.pid):.0f} MB")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
