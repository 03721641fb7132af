"""Times the instance list, its filters, deep pages, the bulk preview counts and the rendered pages.

Run against a server on a seeded database (see README, "The console"):
    python3 scripts/measure_instances.py http://127.0.0.1:3400
Each figure is the median and the worst of five requests (200 consecutive pages for the deep walk).
"""
import json, statistics, sys, time, urllib.parse, urllib.request
base = sys.argv[1]
def timed(method, path, body=None, n=5):
    times = []
    for _ in range(n):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            out = r.read()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), out
def show(label, method, path, body=None):
    med, worst, out = timed(method, path, body)
    print(f"{label:58s} median {med:7.1f} ms  max {worst:7.1f} ms")
    return out
first = json.loads(show("first page, 50, no filter", "GET", "/api/instances?limit=50"))
cursor = first["next_cursor"]
times = []
for _ in range(200):
    t = time.perf_counter()
    page = json.loads(urllib.request.urlopen(base + f"/api/instances?limit=50&cursor={cursor}").read())
    times.append((time.perf_counter() - t) * 1000)
    cursor = page["next_cursor"]
print(f"{'200 pages in a row (10,000 instances deep)':58s} median {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms")
show("workflow=call-lifecycle & status=failed", "GET", "/api/instances?workflow=call-lifecycle&status=failed&limit=50")
show("status=compensated (rarer)", "GET", "/api/instances?status=compensated&limit=50")
item = first["items"][0]
detail = json.loads(urllib.request.urlopen(base + f"/api/instances/{item['id']}").read())
key = next(iter(detail["business_keys"].values()), None)
if key:
    show(f"key={key}", "GET", f"/api/instances?key={urllib.parse.quote(key)}&limit=50")
show("error contains 'declined'", "GET", "/api/instances?error=declined&limit=50")
show("created in one hour (from/to)", "GET", "/api/instances?from=2026-11-20T10:00:00Z&to=2026-11-20T11:00:00Z&limit=50")
show("bulk preview: retry, status=failed (counts)", "POST", "/api/instances/bulk",
     {"action": "retry", "reason": "measure", "filter": {"status": "failed"}, "preview": True})
show("bulk preview: retry, no filter (counts all)", "POST", "/api/instances/bulk",
     {"action": "retry", "reason": "measure", "filter": {}, "preview": True})
show("rendered page /instances?status=failed (SSR)", "GET", "/instances?status=failed")
show("rendered page /instances/{id} (SSR)", "GET", f"/instances/{item['id']}")
