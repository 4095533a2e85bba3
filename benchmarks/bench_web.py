"""The web layer: REST request latency, a Prometheus scrape and the monitoring page's load, next to Orthanc.

Ours: ``dcm-exporter serve`` (uvicorn, one process) on an SQLite queue holding 1,000 export tasks (scheduled for
2099, so nothing runs while we measure). Peer: Orthanc 1.10 (its own embedded HTTP server, C++) holding the 6
instances of a small study — the REST API, Prometheus endpoint and web UI archive operators already use.

Each figure is the median of ``--runs`` (default 5) runs; a REST run is 300 sequential requests on one
keep-alive connection (httpx2), reported as requests/s (higher is better; the ms per request is printed too):

- list: ``GET /dcm4chee-arc/monitor/export?limit=20`` (20 ``exportTask`` objects, ~12 KB) vs Orthanc's
  ``GET /instances?expand&since=0&limit=20`` (6 expanded instances, ~4 KB);
- count: ``GET /dcm4chee-arc/monitor/export/count`` vs ``GET /statistics``;
- scrape: ``GET /metrics`` (the task gauge counts 7 statuses per queue in the store at each scrape) vs Orthanc's
  ``GET /tools/metrics-prometheus``;
- page: headless Chromium loads ``/ui/export`` (100 rows, our CSS and script) vs Orthanc Explorer
  (``/app/explorer.html``, jQuery Mobile); navigation start to the load event, reported as loads/s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import Result  # noqa: E402

REQUESTS = 300
TASKS = 1_000


def _runs(argv: list[str]) -> int:
    for a in argv:
        if a.startswith("--runs="):
            return int(a.split("=", 1)[1])
    return 5


def _rate(client: Any, path: str, runs: int) -> tuple[float, float]:
    """(requests/s, ms/request), medians over runs."""
    client.get(path).raise_for_status()  # warm-up
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(REQUESTS):
            client.get(path).raise_for_status()
        durations.append(time.perf_counter() - started)
    median = statistics.median(durations)
    return REQUESTS / median, 1000 * median / REQUESTS


def _page_load_ms(browser: Any, url: str, runs: int) -> float:
    loads = []
    browser.get(url)  # warm-up (cache, fonts)
    for _ in range(runs * 2):
        browser.get(url)
        ms = browser.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;")
        loads.append(float(ms))
    return statistics.median(loads)


def _serve(folder: Path) -> Any:
    from _web import start_serve
    from dcm_exporter.cli._demo import demo_configuration
    from dcm_exporter.codecs import ldif
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import ExporterDescriptor
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sample import generate_study
    from dcm_exporter.sources import FileSystemSource

    configuration = demo_configuration().put_exporter(
        ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"))
    config = folder / "archive.ldif"
    config.write_text(ldif.dumps(configuration))
    study = generate_study(folder / "archive", series=2, instances_per_series=3, kind="small")
    queue = folder / "queue.sqlite"
    from datetime import UTC, datetime

    later = datetime(2099, 12, 31, tzinfo=UTC)
    with SqliteTaskStore(queue) as store, FileSystemSource(folder / "archive") as source, \
            Exporter(configuration, source, store=store) as exporter:
        for i in range(TASKS):
            exporter.schedule_export("NOOP", study.study_uid, batch_id=f"b{i % 10}", scheduled_time=later)
    served = start_serve(folder, "--config", str(config), "--queue", f"sqlite:{queue}", "--source",
                         str(folder / "archive"), "--refresh", "0")
    return served, study


def main(argv: list[str]) -> list[Result]:
    import httpx2

    from servers.chromium import start_browser
    from servers.orthanc import start_orthanc

    runs = _runs(argv)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        served, study = _serve(folder)
        orthanc = start_orthanc(folder / "orthanc")
        browser = start_browser(folder)
        try:
            with httpx2.Client(base_url=orthanc.url, timeout=30) as peer:
                for instance in study.instances:
                    peer.post("/instances", content=instance.path.read_bytes()).raise_for_status()
                with httpx2.Client(base_url=served.url, timeout=30) as ours:
                    for name, our_path, peer_path in (
                        ("REST list 20 tasks", "/dcm4chee-arc/monitor/export?limit=20",
                         "/instances?expand&since=0&limit=20"),
                        ("REST count", "/dcm4chee-arc/monitor/export/count", "/statistics"),
                        ("Prometheus scrape", "/metrics", "/tools/metrics-prometheus"),
                    ):
                        ours_rate, ours_ms = _rate(ours, our_path, runs)
                        peer_rate, peer_ms = _rate(peer, peer_path, runs)
                        print(f"   {name}: ours {ours_ms:.2f} ms/request, Orthanc {peer_ms:.2f} ms/request")
                        results.append(Result(f"web: {name}", "requests/s", ours_rate, "Orthanc 1.10", peer_rate))
            ours_ms = _page_load_ms(browser, served.url + "/ui/export", runs)
            peer_ms = _page_load_ms(browser, orthanc.url + "/app/explorer.html", runs)
            print(f"   page load: ours /ui/export (100 of {TASKS} tasks) {ours_ms:.0f} ms, "
                  f"Orthanc Explorer {peer_ms:.0f} ms")
            results.append(Result("web: page load (Chromium)", "loads/s", 1000 / ours_ms, "Orthanc Explorer",
                                  1000 / peer_ms))
        finally:
            browser.quit()
            orthanc.process.stop()
            served.stop()
    return results


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
