#!/usr/bin/python3
"""Mixed, partly hostile traffic against a running strata server, then the
checks of a soak (scripts/soak starts the server and calls this).

Usage: soak_traffic.py --port P --pid PID [--requests N (2000)] [--minutes M] [--concurrency C]

Request i is, by i: every 10th a hostile body (must get a 4xx, never 5xx);
of the rest, every 3rd a stream dropped after a few events; the others
completions or chat, whole or streamed, read to the end (must be 200 with
exactly max_tokens tokens). Afterwards: nothing running or waiting, no KV
block held, every admitted request counted once as finished or aborted,
and the server's RSS after the first quarter stays within --rss-growth-mib.
Prints a summary; exits 1 when a check fails.
"""
import argparse
import http.client
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HOSTILE = [
    b"{",                                                       # malformed JSON
    b"[]",                                                      # not an object
    b'{"model": "soak", "prompt": 7}',                          # wrong type
    b'{"model": "soak", "prompt": "x", "max_tokens": -1}',
    b'{"model": "soak", "prompt": "x", "n": 100000}',
    b'{"model": "soak", "prompt": [999999999]}',                # token id outside the vocabulary
    b'{"model": "nobody", "prompt": "x"}',                      # unknown model: 404
    b'{"model": "soak", "prompt": "x", "logprobs": 1000}',
    b'{"model": "soak", "prompt": "x", "stop": ' + json.dumps(["s"] * 1000).encode() + b"}",
    b'{"model": "soak", "prompt": "\xff\xfe invalid utf-8"}',
    b'{"model": "soak", "prompt": ' + b"[" * 100000 + b"]" * 100000 + b"}",   # deep nesting
    b'{"model": "soak", "messages": [{"role": "user", "content": 5}]}',
    b'{"model": "soak", "prompt": "x", "max_tokens": 100000000}',            # past the context
    b'{"model": "soak", "prompt": "x", "temperature": "hot"}',
]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, key, failure=None):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if failure:
                self.failures.append(failure)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    values = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_:]+)(\{[^}]*\})? (\S+)$", line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


def metric_sum(values, name):
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


def request(port, i, rng, tally):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        if i % 10 == 0:
            body = HOSTILE[(i // 10) % len(HOSTILE)]
            path = "/v1/chat/completions" if b"messages" in body else "/v1/completions"
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            res = conn.getresponse()
            res.read()
            ok = 400 <= res.status < 500
            tally.add("hostile 4xx" if ok else f"hostile {res.status}",
                      None if ok else f"request {i}: hostile body {body[:60]!r} got {res.status}")
            return
        chat = rng.random() < 0.5
        max_tokens = rng.randint(4, 48)
        body = {"model": "soak", "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.8}
        if chat:
            body["messages"] = [{"role": "user", "content": f"soak request {i}: tell a story"}]
        else:
            body["prompt"] = f"soak request {i}: once upon a time"
        dropped = i % 3 == 0
        streamed = dropped or rng.random() < 0.5
        if streamed:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        conn.request("POST", "/v1/chat/completions" if chat else "/v1/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        res = conn.getresponse()
        if res.status != 200:
            res.read()
            tally.add(f"admitted {res.status}", f"request {i}: status {res.status}")
            return
        if dropped:
            for _ in range(rng.randint(1, 4)):
                res.readline()
            conn.sock.close()  # mid-stream: the server must abort it
            tally.add("streams dropped")
            return
        if not streamed:
            usage = json.loads(res.read())["usage"]
        else:
            usage, done = None, False
            for line in res:
                line = line.strip()
                if line == b"data: [DONE]":
                    done = True
                elif line.startswith(b"data: "):
                    chunk = json.loads(line[6:])
                    if "error" in chunk:
                        tally.add("stream errors", f"request {i}: {chunk['error']}")
                        return
                    usage = chunk.get("usage") or usage
            if not done:
                tally.add("streams cut", f"request {i}: the stream ended without [DONE]")
                return
        if usage["completion_tokens"] != max_tokens:
            tally.add("wrong lengths", f"request {i}: {usage['completion_tokens']} tokens, asked {max_tokens}")
            return
        tally.add("streamed 200" if streamed else "whole 200")
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
        tally.add("client errors", f"request {i}: {type(e).__name__}: {e}")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0, help="stop sending after this long (0: no limit)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rss-growth-mib", type=float, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    seeds = [rng.randrange(1 << 30) for _ in range(args.requests)]
    tally = Tally()
    rss = []
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.wait(0.5):
            rss.append(rss_mib(args.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    sent = 0
    with ThreadPoolExecutor(args.concurrency) as pool:
        for i in range(args.requests):
            if args.minutes and time.monotonic() - start > args.minutes * 60:
                break
            pool.submit(request, args.port, i, random.Random(seeds[i]), tally)
            sent += 1
    seconds = time.monotonic() - start

    # The server notices dropped streams at its next write: let it settle.
    for _ in range(100):
        m = metrics(args.port)
        if (metric_sum(m, "vllm:num_requests_running") == 0 and metric_sum(m, "vllm:num_requests_waiting") == 0
                and metric_sum(m, "vllm:kv_cache_usage_perc") == 0):
            break
        time.sleep(0.1)
    stop_sampling.set()
    sampler.join()
    rss.append(rss_mib(args.pid))

    failures = list(tally.failures)
    running, waiting = metric_sum(m, "vllm:num_requests_running"), metric_sum(m, "vllm:num_requests_waiting")
    kv = metric_sum(m, "vllm:kv_cache_usage_perc")
    if running or waiting or kv:
        failures.append(f"left over: {running:.0f} running, {waiting:.0f} waiting, KV usage {kv}")
    admitted = sum(n for k, n in tally.counts.items() if k in ("streamed 200", "whole 200", "streams dropped",
                                                                "wrong lengths", "streams cut", "stream errors"))
    ended = {r: m.get(f'vllm:request_success_total{{model_name="soak",finished_reason="{r}"}}', 0)
             for r in ("stop", "length", "abort")}
    if sum(ended.values()) != admitted:
        failures.append(f"requests admitted {admitted} != finished + aborted {sum(ended.values()):.0f} ({ended})")
    if ended["abort"] > tally.counts.get("streams dropped", 0):
        failures.append(f"{ended['abort']:.0f} aborted, but only {tally.counts.get('streams dropped', 0)} dropped")
    warm = rss[len(rss) // 4] if rss else 0
    growth = max(rss) - warm if rss else 0
    if growth > args.rss_growth_mib:
        failures.append(f"RSS grew {growth:.1f} MiB after the first quarter (limit {args.rss_growth_mib})")

    print(f"soak: {sent} requests in {seconds:.1f} s, concurrency {args.concurrency}")
    for k in sorted(tally.counts):
        print(f"  {k}: {tally.counts[k]}")
    print(f"  engine: {ended['length']:.0f} length, {ended['stop']:.0f} stop, {ended['abort']:.0f} aborted; "
          f"{metric_sum(m, 'vllm:num_preemptions_total'):.0f} preemptions")
    quarters = ", ".join(f"{rss[min(len(rss) - 1, len(rss) * q // 4)]:.1f}" for q in range(1, 5))
    print(f"  RSS MiB: at each quarter {quarters}; peak {max(rss):.1f}")
    print(f"  left: {running:.0f} running, {waiting:.0f} waiting, KV usage {kv}")
    for f in failures[:20]:
        print(f"FAIL {f}")
    print("soak: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
