#!/usr/bin/env python3
"""Where the service's CPU goes, by part of a fetch (issue 16): reads `perf script` output of a bench phase on stdin.

    dotnet run -c Release --project bench/FetchApi.Bench -- throughput --repeat 2 --perf /tmp/perf \
        --set DOTNET_PerfMapEnabled=1 --set DOTNET_EnableWriteXorExecute=0
    perf script -i /tmp/perf/throughput-2.perf.data | python3 scripts/perf-breakdown.py

A sample belongs to a feature when any frame of its stack does (the JIT and GC threads, the POST, the polls, the result
writer, window refills); otherwise to the first component that matches walking from the leaf up. Native frames of
libc, SQLite and the kernel carry no frame pointers, so some stacks stop there: those are named by what they show.
Multiply a share by the run's service CPU per URL (the bench prints it) for microseconds per URL.
"""
import sys, re, collections

# Walk from the leaf to the root: the first rule that matches a frame names the sample's category.
RULES = [
    ("thread pool: idle workers spinning (LowLevelLifoSemaphore)", lambda f, c: "LowLevelLifoSemaphore" in f),
    ("JIT compiler (tiering)", lambda f, comm: comm.startswith(".NET Tiered") or "libclrjit" in f),
    ("GC", lambda f, comm: comm.startswith(".NET Server GC") or comm.startswith(".NET BGC") or "gc_heap" in f or "GCHeap" in f),
    ("POST /batches (validation, slot inserts)", lambda f, c: any(k in f for k in ("BatchService", "SqliteBatchCommands", "CreateBatchValidator", "UrlRules", "FluentValidation", "BatchesApi+<CreateBatch", "UrlVerdicts"))),
    ("GET polls (summary reads)", lambda f, c: any(k in f for k in ("SqliteBatchQueries", "BatchesApi+<GetBatch", "BatchesApi.GetBatch"))),
    ("result writer (SQLite)", lambda f, c: any(k in f for k in ("SqliteResultSink", "ResultWriter", "SqliteDatabase"))),
    ("window refills (SQLite reads)", lambda f, c: any(k in f for k in ("SqliteWorkSource", "RefillAsync"))),
    ("SHA-256 of the body", lambda f, c: any(k in f for k in ("IncrementalHash", "HashProvider", "EvpHash", "libcrypto", "Sha256", "SHA256"))),
    ("telemetry (metrics, activities, log scopes)", lambda f, c: any(k in f for k in ("FetchMetrics", "System.Diagnostics.Metrics", "OpenTelemetry", "MetricsHandler", "DiagnosticsHandler", "Activity", "LoggerExternalScopeProvider", "BeginScope", "Logger`1", "LoggerFactory"))),
    ("Uri parsing / host keys", lambda f, c: any(k in f for k in ("System.Private.Uri", "RedirectTarget", "Politeness::HostOf", "Fetcher::Target"))),
    ("politeness (rates, robots)", lambda f, c: any(k in f for k in ("Politeness", "HostRates", "RobotsCache"))),
    ("Polly pipeline", lambda f, c: "[Polly.Core]" in f),
    ("scheduler and engine loop", lambda f, c: any(k in f for k in ("Scheduler", "FetchEngine+<ExecuteAsync", "FetchEngine::Start"))),
    ("HttpClient (request, headers, connection pool)", lambda f, c: "[System.Net.Http]" in f or "HttpMessageInvoker" in f),
    ("sockets (syscalls, epoll)", lambda f, c: "[System.Net.Sockets]" in f or c.startswith(".NET Sockets") or "SystemNative_" in f),
    ("channels", lambda f, c: "System.Threading.Channels" in f),
    ("Kestrel (the API's server side)", lambda f, c: "Microsoft.AspNetCore" in f),
    ("fetch bookkeeping (engine, fetcher, cancellation)", lambda f, c: "[FetchApi]" in f or "CancellationTokenSource" in f),
    ("SQLite (Microsoft.Data.Sqlite, SQLitePCL)", lambda f, c: any(k in f for k in ("Microsoft.Data.Sqlite", "System.Data.Common", "SQLitePCL", "libe_sqlite3"))),
    ("async machinery, thread pool", lambda f, c: any(k in f for k in ("] System.Threading.ThreadPool", "AsyncMethodBuilder", "AsyncTaskMethodBuilder", "ExecutionContext", "] System.Threading.Tasks.", "PortableThreadPool", "WorkerThread", "AsyncStateMachineBox"))),
]

FEATURES = {"thread pool: idle workers spinning (LowLevelLifoSemaphore)", "JIT compiler (tiering)", "GC",
            "POST /batches (validation, slot inserts)", "GET polls (summary reads)", "result writer (SQLite)", "window refills (SQLite reads)"}

def main():
    counts = collections.Counter()
    total = 0
    comm = None
    frames = []
    def flush():
        nonlocal total
        if comm is None:
            return
        total += 1
        for name, rule in RULES:
            if name in FEATURES and any(rule(f, comm) for f in frames):
                counts[name] += 1
                return
        for f in frames:
            for name, rule in RULES:
                if name not in FEATURES and rule(f, comm):
                    counts[name] += 1
                    return
        leaf = frames[0] if frames else "?"
        if "libe_sqlite3" in leaf: counts["SQLite native (stack not unwound: writer, polls, POST)"] += 1; return
        if "libcrypto" in leaf: counts["SHA-256 of the body"] += 1; return
        text = " ".join(frames)
        for name, keys in (("kernel: loopback TCP and epoll (stack not unwound)", ("tcp_", "sock", "inet", "ip_", "epoll", "skb", "netif", "loopback")),
                           ("kernel: futex, thread wake and sleep (stack not unwound)", ("futex", "sched_yield", "schedule", "finish_task_switch", "wake_up")),
                           ("kernel: page faults, memory (stack not unwound)", ("page_fault", "exc_page", "mmap", "madvise", "do_anonymous"))):
            if any(k in text for k in keys):
                counts[name] += 1; return
        counts["other: " + (frames[0].split()[-1][:60] if frames else "?")] += 1
    for line in sys.stdin:
        if not line.strip():
            flush(); comm = None; frames = []
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split("  ")[0].strip() if "  " in line else line.split()[0]
            # perf script's first line: "comm pid/tid time: ..."; comm may contain spaces.
            m = re.match(r"^(.*?)\s+\d+(/\d+)?\s+\[?\d*\]?\s*[\d.]+:", line)
            if m: comm = m.group(1).strip()
            frames = []
        else:
            frames.append(line.strip())
    flush()
    others = sum(v for k, v in counts.items() if k.startswith("other"))
    for name, n in counts.most_common():
        if not name.startswith("other") :
            print(f"{100.0*n/total:5.1f}%  {name}")
    print(f"{100.0*others/total:5.1f}%  other (unattributed: {', '.join(k[7:] for k, _ in counts.most_common() if k.startswith('other'))[:300]})")
    print(f"{total} samples")

main()
