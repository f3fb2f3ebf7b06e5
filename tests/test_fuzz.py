"""Fuzzing the input checks: malformed and well-formed matrices in every scipy.sparse format,
dense arrays and non-matrices, fed to every public entry point that takes a matrix.

Kernels do not bounds-check, so an input that slips past the checks can crash the
interpreter. Every case therefore runs in a subprocess (many cases per process, see
``_fuzz_worker.py``); a process killed by a signal names the case it was running. Each
case must then behave as its recipe says (``_fuzz_cases.py``): invalid input raises
ValueError or TypeError, valid input works, and nothing raises anything but an ordinary
exception.

The cases are drawn by hypothesis with a fixed derandomized seed, so a run is
reproducible; a failure prints the label of each offending case.
"""

import json
import os
import pickle
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _fuzz_cases import CONTENT_ERRORS, FAMILIES, FORMATS, cases
from hypothesis import HealthCheck, Phase, given, settings

import fastmf

WORKER = Path(__file__).resolve().parent / "_fuzz_worker.py"


def generate(n):
    """About ``n`` cases, reproducibly, spread evenly over the formats and the kinds of
    input (hypothesis draws each stratum's cases; it may find a few duplicates)."""
    strata = [(fmt, family) for fmt in FORMATS for family in FAMILIES if family != "raw"]
    strata.append((None, "raw"))
    per = -(-n // len(strata))
    out = []
    for fmt, family in strata:
        @settings(max_examples=per, derandomize=True, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(cases(fmt, family))
        def collect(case):
            out.append(case)

        collect()
    return out


def _env():
    env = dict(os.environ)
    root = str(Path(fastmf.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return env


def _run(path, first, last=None, timeout=600):
    args = [sys.executable, str(WORKER), str(path), str(first)]
    if last is not None:
        args.append(str(last))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_env(),
                          check=False)
    results, running = {}, None
    for line in proc.stdout.splitlines():
        event = json.loads(line)
        if "start" in event:
            running = event["start"]
        else:
            results[event["done"]] = event
            running = None
    return proc, results, running


def run_cases(case_list, tmp_path):
    """Outcome of every case (index -> event) and the crashes: each names the case that
    killed its process, found from the worker's report or, when the crash came later than
    the case that corrupted memory, by bisecting the batch."""
    path = tmp_path / "cases.pkl"
    with open(path, "wb") as f:
        pickle.dump(case_list, f)
    results, crashes = {}, []
    first = 0
    while first < len(case_list):
        proc, got, running = _run(path, first)
        results.update(got)
        if proc.returncode == 0:
            break
        if proc.returncode > 0 or (running is None and not got):
            raise AssertionError(f"the fuzz worker failed outside any case (exit "
                                 f"{proc.returncode}):\n{proc.stderr[-3000:]}")
        last = running if running is not None else max(got)
        crash = {"returncode": proc.returncode, "stderr": proc.stderr[-1500:]}
        if running is not None and _run(path, running, running + 1)[0].returncode < 0:
            crash.update(case=running, how="also when run alone")
            crashes.append(crash)
        else:
            where = (f"while running case {running}" if running is not None
                     else f"at exit, after case {last}")
            for culprit in _bisect(path, first, last + 1):
                if isinstance(culprit, int):
                    crashes.append(dict(crash, case=culprit, how=f"the batch from case "
                                        f"{first} died {where}; bisected to this case"))
                else:
                    crashes.append(dict(crash, case=culprit[0], how=f"the batch from case "
                                        f"{first} died {where}; cases {culprit[0]}.."
                                        f"{culprit[1] - 1} crash only together"))
        first = last + 1
    for c in crashes:
        c["label"] = case_list[c["case"]]["label"]
    return results, crashes


def _bisect(path, lo, hi):
    """The cases in [lo, hi) that kill a process on their own (or the smallest range that
    does, when only cases together do); [lo, hi) is known to crash."""
    if hi - lo == 1:
        return [lo]
    mid = (lo + hi) // 2
    found = []
    for a, b in ((lo, mid), (mid, hi)):
        if _run(path, a, b)[0].returncode < 0:
            found += _bisect(path, a, b)
    return found or [(lo, hi)]


def check(case_list, tmp_path):
    t0 = time.perf_counter()
    results, crashes = run_cases(case_list, tmp_path)
    seconds = time.perf_counter() - t0
    problems = []
    for c in crashes:
        problems.append(f"case {c['case']} ({c['label']}) killed the process "
                        f"(returncode {c['returncode']}; {c['how']})\n{c['stderr']}")
    crashed = {c["case"] for c in crashes}
    for i, case in enumerate(case_list):
        if i in crashed:
            continue
        r = results.get(i)
        if r is None:
            problems.append(f"case {i} ({case['label']}) has no result")
            continue
        raised = r["outcome"] == "raised"
        what = f"{r.get('type')}: {r.get('message')}" if raised else "no error"
        if raised and not r["ordinary"]:
            problems.append(f"case {i} ({case['label']}) raised {what}")
        elif case["expect"] == "reject" and not (raised and r["refusal"]):
            problems.append(f"case {i} ({case['label']}) must be refused; got {what}")
        elif (case["expect"] == "accept" and raised
              and not any(s in r["message"] for s in CONTENT_ERRORS)):
            problems.append(f"case {i} ({case['label']}) is valid input; got {what}")
    outcomes = Counter(case["expect"] + ":" + (results.get(i, {}).get("type") or "ok")
                       for i, case in enumerate(case_list))
    print(f"\n{len(case_list)} fuzz cases in {seconds:.1f} s: {dict(sorted(outcomes.items()))}")
    assert not problems, f"{len(problems)} of {len(case_list)} cases failed:\n" + \
        "\n".join(problems[:30])


def test_fuzz_inputs(tmp_path):
    case_list = generate(300)
    assert len(case_list) >= 250
    check(case_list, tmp_path)


@pytest.mark.slow
def test_fuzz_inputs_many(tmp_path):
    case_list = generate(2500)
    assert len(case_list) >= 2000
    check(case_list, tmp_path)


def test_a_crash_names_its_case(tmp_path, monkeypatch):
    """The harness itself: a case that kills its process is found and named."""
    import _fuzz_worker
    case_list = generate(5)[:5]
    case_list[2] = dict(case_list[2], target="crash", label="deliberate crash")
    monkeypatch.setattr(sys.modules[__name__], "WORKER",
                        _crashing_worker(tmp_path, _fuzz_worker.__file__))
    results, crashes = run_cases(case_list, tmp_path)
    assert [c["case"] for c in crashes] == [2]
    assert crashes[0]["returncode"] < 0 and crashes[0]["how"] == "also when run alone"
    assert set(results) == {0, 1, 3, 4}


def _crashing_worker(tmp_path, worker):
    """A copy of the worker whose target 'crash' kills the process with SIGSEGV."""
    src = Path(worker).read_text().replace(
        '    else:\n        raise AssertionError(f"unknown target {target}")',
        '    elif target == "crash":\n        import os, signal\n'
        '        os.kill(os.getpid(), signal.SIGSEGV)\n'
        '    else:\n        raise AssertionError(f"unknown target {target}")')
    assert '"crash"' in src
    path = tmp_path / "_crashing_worker.py"
    path.write_text(src.replace("sys.path.insert(0, str(Path(__file__).resolve().parent))",
                                f"sys.path.insert(0, {str(Path(worker).parent)!r})"))
    return path
