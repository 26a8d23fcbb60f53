"""The run directory's lock (filelock's OS lock), within one process; across processes and
SIGKILL it is test_rundir's test_a_second_run_is_refused_while_the_first_holds_the_folder."""

from __future__ import annotations

import os

import pytest

from transencoder.training.rundir import RunDir, RunDirError


def test_the_lock_is_exclusive_in_one_process_too_and_names_its_holder(tmp_path):
    first, second = RunDir(tmp_path / "run"), RunDir(tmp_path / "run")
    first.claim()
    try:
        with pytest.raises(RunDirError, match=rf"in use by .*\"pid\": {os.getpid()}, \"host\""):
            second.claim()
    finally:
        first.release()
    second.claim(overwrite=True)  # the lock's own files are not foreign, and survive overwrite
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {".lock.holder"}
    second.release()
