"""Fixtures for the reliability tests. ``fault_server`` is a second app process (loopback only) with:

- HF_TOKEN set to a recognisable fake value (it must never leak anywhere),
- WORKBENCH_MAX_UPLOAD=4kb (uploads over it are refused by the server),
- GRADIO_TEMP_DIR in the test's temp folder (so the tests can see what the server keeps),
- WORKBENCH_STEP_DELAY_S=0.3 (tiny-model runs last long enough to kill or stop them mid-run),
- WORKBENCH_FAULTS: the run named ``oom-run`` raises torch.OutOfMemoryError at step 2, ``disk-run`` raises
  OSError(ENOSPC) while saving its step-2 checkpoint.

The step delay and the faults are read by the test-only callback tests/support/faults.py, which every training
worker started from these tests loads (WORKBENCH_EXTRA_CALLBACKS, set below for this process and its children).
"""
from __future__ import annotations

import os

import pytest

from relhelpers import FAKE_TOKEN, launch_server
from tests.support.faults import HOOK

os.environ.setdefault("WORKBENCH_EXTRA_CALLBACKS", HOOK)

FAULT_ENV = {
    "HF_TOKEN": FAKE_TOKEN,
    "WORKBENCH_MAX_UPLOAD": "4kb",
    "WORKBENCH_STEP_DELAY_S": "0.3",
    "WORKBENCH_FAULTS": "oom-run=oom@2,disk-run=enospc@2",
    "WORKBENCH_STOP_GRACE_S": "30",
}


@pytest.fixture(scope="session")
def rel_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def fault_server(rel_tmp, embedded_dir):
    env = dict(FAULT_ENV, GRADIO_TEMP_DIR=str(rel_tmp / "fault" / "gradio-cache"))
    srv = launch_server(rel_tmp / "fault" / "runs", env, log_name="server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fault_client(fault_server):
    from gradio_client import Client
    return Client(fault_server.url, verbose=False)
