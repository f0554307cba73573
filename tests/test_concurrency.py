"""Concurrent use of one run folder and one checkpoint: the run lock across real processes (a
second round refuses naming the holder, or waits; a killed holder's lock is taken over and said
so), and published checkpoint folders that readers see whole or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli

from mycelium.data.errors import MyceliumError
from mycelium.data.io import VERSIONS_DIR, published_directory, resolved_directory
from mycelium.data.loaders import bundled_sample_path
from mycelium.rounds.lock import LOCK_FILE, run_lock

HOLD = """
import sys, time
from mycelium.rounds.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def start_holder(run_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_holder_refuses_naming_the_first_then_waits_for_it(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(MyceliumError, match=f"pid {holder.pid} ") as refused:
            with run_lock(tmp_path):
                pass
        assert "--if-locked wait" in str(refused.value)
        with pytest.raises(MyceliumError, match=f"pid {holder.pid} "):  # waits, then gives up
            with run_lock(tmp_path, if_locked="wait", timeout=1.0):
                pass
        said: list[str] = []
        releaser = threading.Timer(1.5, holder.terminate)  # a clean exit releases the lock
        releaser.start()
        started = time.monotonic()
        with run_lock(tmp_path, if_locked="wait", log=said.append) as record:
            assert record["pid"] == os.getpid()
            assert time.monotonic() - started >= 1.0
        assert any(f"held by pid {holder.pid} " in line for line in said)
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holders_lock_is_taken_over_and_said_so(tmp_path):
    holder = start_holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    said: list[str] = []
    with run_lock(tmp_path, log=said.append):
        pass
    assert len(said) == 1 and f"from pid {holder.pid} " in said[0] and "killed" in said[0]
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released cleanly: nothing to take over
    said.clear()
    with run_lock(tmp_path, log=said.append):
        pass
    assert said == []


TINY = """\
name: tiny
train_file: {train}
dev_fraction: 0.2
students: {{epochs: 1, max_steps: 1, batch_size: 4, use_cpu: true, threads: 1}}
"""


def round_command(config: Path, home: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mycelium.flows.cli", "round", "--config", str(config),
            "--home", str(home), "--until", "validate", *extra]


def test_two_rounds_on_one_run_folder(tmp_path):
    """The first round (the Prefect flow) holds the folder; a second refuses with one line
    naming it; a third waits, then finds every stage done and skips it."""
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.format(train=bundled_sample_path()))
    home = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    first = subprocess.Popen(round_command(config, home), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lock = home / "tiny" / LOCK_FILE
    deadline = time.monotonic() + 300
    while not (lock.is_file() and lock.read_text().strip()):
        assert first.poll() is None, first.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the first round never took the lock"
        time.sleep(0.2)
    second = subprocess.run(round_command(config, home, "--executor", "local"), env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 2  # a user error: the CLI exits 2 with one line
    message = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and f"pid {first.pid} " in message[0], second.stderr
    third = subprocess.run(round_command(config, home, "--executor", "local", "--if-locked",
                                         "wait"), env=env, capture_output=True, text=True,
                           timeout=600)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"held by pid {first.pid} " in third.stderr
    for stage in ("split", "labels[0]", "validate"):
        assert f"{stage}: already done" in third.stderr, third.stderr[-3000:]


def test_bad_if_locked_value_is_refused(tmp_path):
    result = run_cli("round", "--config", "configs/local.yaml", "--if-locked", "sometimes",
                     cwd=Path(__file__).resolve().parents[1])
    assert result.returncode != 0
    assert "--if-locked sometimes" in result.stderr


def test_readers_of_a_published_folder_never_see_two_versions_mixed(tmp_path):
    target = tmp_path / "ckpt"
    stop = threading.Event()
    mixed: list[tuple[str, str]] = []
    reads = 0

    def write() -> None:
        for version in range(40):
            with published_directory(target) as staging:
                (staging / "weights.txt").write_text(str(version))
                time.sleep(0.002)  # a reader on the link meanwhile must not see this half
                (staging / "mycelium.json").write_text(str(version))
        stop.set()

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            if not target.exists():
                continue
            version = resolved_directory(target)
            try:
                first = (version / "weights.txt").read_text()
                time.sleep(0.001)
                second = (version / "mycelium.json").read_text()
            except FileNotFoundError:  # pruned two versions later: gone, never half
                continue
            reads += 1
            if first != second:
                mixed.append((first, second))

    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads > 0 and mixed == []
    assert (target / "mycelium.json").read_text() == "39"
    assert len([entry for entry in (tmp_path / VERSIONS_DIR).iterdir()]) == 2  # live + previous


def test_a_failed_write_leaves_the_published_folder_as_it_was(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "mycelium.json").write_text("old layout")  # a real folder from before versions
    with pytest.raises(RuntimeError), published_directory(target) as staging:
        (staging / "mycelium.json").write_text("half")
        raise RuntimeError("killed mid-save")
    assert (target / "mycelium.json").read_text() == "old layout" and not target.is_symlink()
    with published_directory(target) as staging:
        (staging / "mycelium.json").write_text("new")
    assert target.is_symlink() and (target / "mycelium.json").read_text() == "new"
    kept = [entry.name for entry in (tmp_path / VERSIONS_DIR).iterdir()]
    assert len(kept) == 2 and any(name.endswith("-unversioned") for name in kept)
