"""Atomic writes: the file is either the old or the new content, and create-once never overwrites."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from policy_reader.fsio import (atomic_copy_file, atomic_create_bytes, atomic_write_bytes, atomic_write_json,
                                create_lock_path, read_json)

ROOT = Path(__file__).resolve().parents[1]


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "job.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "text": "é"})
    assert read_json(target) == {"a": 2, "text": "é"}
    assert os.listdir(target.parent) == ["job.json"]


def test_failed_write_keeps_old_content(tmp_path):
    target = tmp_path / "job.json"
    atomic_write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert read_json(target) == {"ok": True}
    assert os.listdir(tmp_path) == ["job.json"]


def test_create_once(tmp_path):
    target = tmp_path / "results" / "d0001.json"
    assert atomic_create_bytes(target, b"first") is True
    assert atomic_create_bytes(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert os.listdir(target.parent) == ["d0001.json"]  # no temp file, and the lock lives beside the folder
    assert create_lock_path(target) == tmp_path / ".results.create.lock"


def test_copy_large_file(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    atomic_copy_file(source, tmp_path / "inputs" / "copy.bin")
    assert (tmp_path / "inputs" / "copy.bin").read_bytes() == source.read_bytes()


# --------------------------------------------------------------------------- App Service /home: no hard links

_CREATOR = """
import json, sys
from policy_reader.fsio import atomic_create_bytes
folder, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
won = [i for i in range(count)
       if atomic_create_bytes(f"{folder}/d{i:04d}.json", json.dumps({"writer": name, "i": i}).encode() * 50)]
print(json.dumps(won))
"""


def test_create_once_where_link_is_refused_has_exactly_one_winner_per_file(tmp_path, link_refused):
    """Four processes race to create the same 40 checkpoints with link() refused by the OS (as on
    App Service /home): every file is written once, whole, by the one process told it won."""
    folder = tmp_path / "results"
    env = {**os.environ, **link_refused.env, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _CREATOR, str(folder), f"w{n}", "40"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-800:] for _, err in outputs]
    winners: dict[int, list[str]] = {}
    for n, (out, _) in enumerate(outputs):
        for i in json.loads(out):
            winners.setdefault(i, []).append(f"w{n}")
    assert sorted(winners) == list(range(40)) and all(len(w) == 1 for w in winners.values()), winners
    for i, (writer,) in winners.items():
        assert (folder / f"d{i:04d}.json").read_bytes() == json.dumps({"writer": writer, "i": i}).encode() * 50
    assert sorted(p.name for p in folder.iterdir()) == [f"d{i:04d}.json" for i in range(40)]


_KILLED_CREATOR = """
import itertools, sys
from policy_reader.fsio import atomic_create_bytes
folder = sys.argv[1]
for i in itertools.count():  # never runs out of work: every kill lands while files are being created
    atomic_create_bytes(f"{folder}/d{i:06d}.json", (b"%06d" % i) * 20000)
"""


def test_sigkill_while_creating_leaves_whole_files_or_none(tmp_path, link_refused):
    """SIGKILL a process that creates checkpoints (link() refused) at random instants: every file
    under its final name is complete, and a restarted writer can still create the missing ones
    (a dead process leaves no claim behind)."""
    folder = tmp_path / "results"
    env = {**os.environ, **link_refused.env, "PYTHONPATH": str(ROOT)}
    rng = random.Random(15)
    torn_temps = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_CREATOR, str(folder)], env=env,
                                stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for path in folder.glob("d*.json"):
            i = int(path.stem[1:])
            assert path.read_bytes() == (b"%06d" % i) * 20000, f"{path.name} is torn"
        torn_temps = len(list(folder.glob(".d*.tmp")))  # what a kill in mid-write leaves: never read
    done = {int(p.stem[1:]) for p in folder.glob("d*.json")}
    assert done and torn_temps >= 1, "the kills should land while files are being written"
    missing = max(done) + 1
    assert atomic_create_bytes(folder / f"d{missing:06d}.json", b"after the kills") is True
    assert atomic_create_bytes(folder / f"d{missing:06d}.json", b"again") is False


_REWRITER = """
import sys
from policy_reader.fsio import atomic_write_json, read_json
target = sys.argv[1]
try:
    atomic_write_json(target, {"version": 2})
except OSError as exc:
    print("raised", exc.errno)
print(read_json(target)["version"])
"""


@pytest.mark.parametrize(("busy_times", "expected"), [(3, "2"), (50, "raised 16\n1")])
def test_replace_rides_out_a_briefly_busy_target_and_reports_a_stuck_one(tmp_path, link_refused,
                                                                           busy_times, expected):
    """SMB refuses to replace a file another process has open at that instant (EBUSY): a few
    short retries get through; a target that stays busy is an error and the old file stays whole."""
    target = tmp_path / "job.json"
    atomic_write_json(target, {"version": 1})
    env = {**os.environ, **link_refused.env, "PYTHONPATH": str(ROOT), "PR_BUSY_RENAME_TO": "/job.json",
           "PR_BUSY_TIMES": str(busy_times)}
    out = subprocess.run([sys.executable, "-c", _REWRITER, str(target)], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.strip() == expected, out.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
