"""Commands pause the garbage collector for their start-up and leave it as they found it."""

from __future__ import annotations

import gc

from tradeassist_runner.commands.common import StartUp


def test_start_up_pauses_collection_and_restores_it() -> None:
    assert gc.isenabled()
    with StartUp() as start_up:
        assert not gc.isenabled()
        start_up.done()
        assert gc.isenabled() and gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        with StartUp():
            raise ValueError("a failed start-up")
    except ValueError:
        pass
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_start_up_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with StartUp() as start_up:
            start_up.done()
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_batch_job_keeps_collection_paused_until_the_block_is_left() -> None:
    with StartUp() as start_up:
        start_up.done(collect=False)
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0
