"""Crash harness for the AOF: acknowledged writes must survive ``kill -9``.

Each round starts valkeyd on one data directory with ``appendonly yes`` and the chosen
``appendfsync``, lets many clients write, kills the server with SIGKILL at a random moment
(sometimes while a BGREWRITEAOF is asked for), restarts it on the same directory, and checks:

* ``ctr:<w>`` (INCR) equals the INCRs acknowledged to writer w, or one more (the one in flight
  when the server died);
* every acknowledged ``SET u:<w>:<i>`` is present with its value;
* ``lst:<w>`` (RPUSH of increasing numbers) is exactly the acknowledged values, plus possibly
  the one in flight at its end: nothing lost, nothing applied twice;
* ``MULTI INCR tx:<w> RPUSH txl:<w> EXEC`` is all-or-nothing: ``LLEN txl:<w> == tx:<w>``.

A lost acknowledged write counts as a loss, with the time between its acknowledgement and the
kill: at ``always`` there must be none; at ``everysec`` the loss window (the largest such time)
must stay within 2 s. Run on its own: ``python tests/crash_harness.py --rounds 50``.

``--engine lmdb`` runs the same rounds on the lmdb engine (no AOF: its LMDB environment is the
dataset, synced per ``appendfsync``); the BGREWRITEAOF moments and the AOF-cutting negative
control are the memory engine's only.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import start_valkeyd  # noqa: E402


class Writer(threading.Thread):
    def __init__(self, w, port, state, rng_seed):
        super().__init__(daemon=True)
        self.w = w
        self.port = port
        self.st = state              # the writer's persistent expectations (across rounds)
        self.rng = random.Random(rng_seed)
        self.inflight = None
        self.acked = 0
        self.ack_times: dict = {}    # op id -> ack time (for the loss window)

    def run(self):
        st, w = self.st, self.w
        try:
            r = redis.Redis(port=self.port, socket_timeout=10)
            while True:
                op = self.rng.random()
                if op < 0.3:
                    self.inflight = ("incr",)
                    r.incr(f"ctr:{w}")
                    st["ctr"] += 1
                elif op < 0.6:
                    i = st["next_set"]
                    self.inflight = ("set", i)
                    r.set(f"u:{w}:{i}", f"v{i}")
                    st["sets"][i] = time.time()
                    st["next_set"] = i + 1
                elif op < 0.9:
                    i = st["next_push"]
                    self.inflight = ("push", i)
                    r.rpush(f"lst:{w}", i)
                    st["pushed"].append(i)
                    st["next_push"] = i + 1
                else:
                    i = st["next_tx"]
                    self.inflight = ("tx", i)
                    p = r.pipeline(transaction=True)
                    p.incr(f"tx:{w}")
                    p.rpush(f"txl:{w}", i)
                    p.execute()
                    st["tx"] += 1
                    st["next_tx"] = i + 1
                self.inflight = None
                self.acked += 1
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError):
            return


def check(r, writers_state, inflight, kill_time, result):
    """Compare the restarted server with what was acknowledged; update the expectations to
    what the server has (the in-flight write may or may not have been applied)."""
    lost = []
    for w, st in writers_state.items():
        fl = inflight.get(w)
        ctr = int(r.get(f"ctr:{w}") or 0)
        extra = 1 if fl and fl[0] == "incr" else 0
        if ctr < st["ctr"]:
            lost.append(("incr", w, st["ctr"] - ctr, None))
        elif ctr > st["ctr"] + extra:
            result["dup"] += 1
            print(f"  DUPLICATE: ctr:{w}={ctr} acked={st['ctr']} inflight={fl}")
        st["ctr"] = ctr
        # SET: every acknowledged key present (checked for the keys acked this round)
        for i, t in list(st["sets"].items()):
            v = r.get(f"u:{w}:{i}")
            if v != f"v{i}".encode():
                lost.append(("set", w, i, t))
        st["sets"].clear()
        if fl and fl[0] == "set" and r.exists(f"u:{w}:{fl[1]}"):
            st["next_set"] = max(st["next_set"], fl[1] + 1)
        # RPUSH: exactly the acknowledged values, plus maybe the in-flight one at the end
        got = [int(x) for x in r.lrange(f"lst:{w}", 0, -1)]
        want = st["pushed"]
        if got[:len(want)] != want:
            if len(got) < len(want) and got == want[:len(got)]:
                lost.append(("push", w, len(want) - len(got), None))
            else:
                result["dup"] += 1
                print(f"  LIST MISMATCH lst:{w}: got tail {got[-5:]} want tail {want[-5:]}")
        elif len(got) > len(want):
            tail = got[len(want):]
            if not (fl and fl[0] == "push" and tail == [fl[1]]):
                result["dup"] += 1
                print(f"  LIST EXTRA lst:{w}: {tail} inflight={fl}")
        st["pushed"] = got
        st["next_push"] = (got[-1] + 1) if got else st["next_push"]
        # MULTI/EXEC: atomic
        tx = int(r.get(f"tx:{w}") or 0)
        txl = r.llen(f"txl:{w}")
        if tx != txl:
            result["dup"] += 1
            print(f"  TRANSACTION SPLIT tx:{w}={tx} llen={txl}")
        extra = 1 if fl and fl[0] == "tx" else 0
        if tx < st["tx"]:
            lost.append(("tx", w, st["tx"] - tx, None))
        elif tx > st["tx"] + extra:
            result["dup"] += 1
            print(f"  DUPLICATE tx:{w}={tx} acked={st['tx']}")
        st["tx"] = tx
        st["next_tx"] = max(st["next_tx"], tx)
    result["lost"] += len(lost)
    for kind, w, n, t in lost:
        if t is not None:   # a SET: its acknowledgement time is known
            result["window"] = max(result["window"], kill_time - t)
    if lost:
        print(f"  LOST acknowledged writes: {lost[:5]} ...")


def _sabotage(workdir, cut):
    """Negative control for the tests: cut ``cut`` bytes off the last incr file, as a
    server that acknowledged before writing would leave it. The check must then see losses."""
    d = Path(workdir) / "appendonlydir"
    incr = sorted(d.glob("*.incr.aof"), key=lambda p: int(p.name.split(".")[-3]))[-1]
    size = incr.stat().st_size
    os.truncate(incr, max(0, size - cut))


def run(rounds=50, clients=8, fsync="always", min_run=0.2, max_run=1.5, seed=None,
        workdir=None, verbose=True, sabotage=0, engine="memory"):
    seed = seed if seed is not None else int(time.time())
    rng = random.Random(seed)
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="valkeyd-crash-")
    states = {w: {"ctr": 0, "sets": {}, "next_set": 0, "pushed": [], "next_push": 0,
                  "tx": 0, "next_tx": 0} for w in range(clients)}
    result = {"rounds": 0, "acked": 0, "lost": 0, "dup": 0, "window": 0.0,
              "rewrites_during": 0, "seed": seed, "fsync": fsync, "engine": engine}
    if engine == "memory":
        args = ("--appendonly", "yes", "--appendfsync", fsync, "--save", "")
    else:
        args = ("--appendfsync", fsync, "--save", "")
    try:
        for rnd in range(rounds):
            srv = start_valkeyd(*args, workdir=workdir, engine=engine)
            try:
                redis.Redis(port=srv.port, socket_timeout=60).ping()   # loaded
                writers = [Writer(w, srv.port, states[w], rng.random()) for w in range(clients)]
                for t in writers:
                    t.start()
                run_for = rng.uniform(min_run, max_run)
                if rng.random() < 0.25 and engine == "memory":   # kill around a rewrite too
                    time.sleep(run_for / 2)
                    try:
                        redis.Redis(port=srv.port, socket_timeout=5).bgrewriteaof()
                        result["rewrites_during"] += 1
                    except redis.RedisError:
                        pass
                    time.sleep(rng.uniform(0, run_for / 2))
                else:
                    time.sleep(run_for)
                kill_time = time.time()
                os.kill(srv.pid, signal.SIGKILL)
                srv.proc.wait()
                for t in writers:
                    t.join(15)
            finally:
                if srv.proc.poll() is None:
                    srv.proc.kill()
                    srv.proc.wait()
            acked = sum(t.acked for t in writers)
            if sabotage:
                _sabotage(workdir, sabotage)
            inflight = {t.w: t.inflight for t in writers}
            srv2 = start_valkeyd(*args, workdir=workdir, engine=engine)
            try:
                r = redis.Redis(port=srv2.port, socket_timeout=60)
                before = result["lost"] + result["dup"]
                check(r, states, inflight, kill_time, result)
                if result["lost"] + result["dup"] != before:
                    print(srv2.log()[-3000:])
            finally:
                srv2.stop()
            result["rounds"] += 1
            result["acked"] += acked
            if verbose:
                print(f"round {rnd + 1}/{rounds}: acked {acked} writes, killed after "
                      f"{run_for:.2f}s; totals: acked={result['acked']} lost={result['lost']} "
                      f"dup={result['dup']}", flush=True)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--fsync", default="always", choices=("always", "everysec", "no"))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-run", type=float, default=1.5)
    ap.add_argument("--engine", default="memory", choices=("memory", "lmdb"))
    a = ap.parse_args(argv)
    t0 = time.time()
    res = run(a.rounds, a.clients, a.fsync, max_run=a.max_run, seed=a.seed, engine=a.engine)
    res["seconds"] = round(time.time() - t0, 1)
    print("RESULT", res)
    ok = res["dup"] == 0 and (res["lost"] == 0 if a.fsync == "always" else res["window"] <= 2.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
