"""How the feed meets Schwab's failure modes: a second client, refused services, nothing
subscribable, delayed data, silent symbols, hung replies. schwab-py's real StreamClient
against the fake Schwab streamer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from tradeassist_runner.config.models import Instrument, SchwabSource
from tradeassist_runner.errors import SourceError
from tradeassist_runner.sources.schwab.stream import SchwabFeed

from ...waiting import until
from .conftest import INSTRUMENTS
from .fake_schwab import FakeSchwab, data_frame, item
from .test_stream import EQ, FUT, T0, feed_for, next_frame, run


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(logging.getLogger("tradeassist"), "propagate", True)
    caplog.set_level(logging.INFO, logger="tradeassist")
    return caplog


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


# ---------------------------------------------------------------- code 12: replaced


def test_second_client_on_the_account_stops_the_first_with_a_clear_error(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            first = feed_for(fake, fast_source, token)
            it = first.stream()
            failed = asyncio.ensure_future(next_frame(it))
            await until(lambda: first.status.connects == 1)
            second = feed_for(fake, fast_source, token)
            it2 = second.stream()
            pending = asyncio.ensure_future(next_frame(it2))
            with pytest.raises(SourceError) as err:
                await failed
            text = str(err.value)
            assert "another client" in text and "tradeassist record" in text
            assert "tradeassist run" in text and "on_replaced: wait" in text
            # the second client keeps the stream: the first did not come back to kick it off
            await until(lambda: second.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            assert (await pending)["symbol"].to_list() == ["/ES"]
            assert fake.logins == 2
            await it2.aclose()
    run(main)


def test_replaced_with_on_replaced_wait_waits_instead_of_fighting(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    source = fast_source.model_copy(update={"on_replaced": "wait", "replaced_wait": timedelta(hours=1)})

    async def main() -> None:
        async with FakeSchwab() as fake:
            first = feed_for(fake, source, token)
            task = asyncio.ensure_future(next_frame(first.stream()))
            await until(lambda: first.status.connects == 1)
            second = feed_for(fake, source, token)
            it2 = second.stream()
            pending = asyncio.ensure_future(next_frame(it2))
            await until(lambda: any("taken by another client; waiting" in m for m in messages(logs)))
            assert not first.status.connected and "another client" in (first.status.last_error or "")
            await until(lambda: second.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await pending
            assert fake.logins == 2 and not task.done()
            task.cancel()
            await it2.aclose()
    run(main)
    [line] = [r for r in logs.records if "waiting" in r.getMessage()]
    assert "3600s" in str(line.__dict__)


def attempts(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(re.search(r"'attempt': (\d+)", str(r.__dict__)).group(1))  # type: ignore[union-attr]
            for r in caplog.records if r.getMessage() == "schwab stream lost; reconnecting"]


@pytest.mark.parametrize("healthy_after, expected", [("1h", [1, 2, 3]), ("0s", [1, 1, 1])])
def test_backoff_is_not_reset_by_a_subscribe_only_by_a_healthy_stream(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture, healthy_after: str, expected: list[int]
) -> None:
    source = SchwabSource.model_validate({**fast_source.model_dump(), "healthy_after": healthy_after})

    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            for n in range(1, 4):  # dropped right after each successful subscribe
                await until(lambda n=n: feed.status.connects == n)  # type: ignore[misc]
                await until(lambda: fake.conn is not None and fake.subs[EQ] != set())
                await fake.drop()
            await until(lambda: feed.status.connects == 4)
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending  # stopped before the fake goes away (that would be one more drop)
    run(main)
    assert attempts(logs) == expected


# ---------------------------------------------------------------- code 11 / code 30


def test_refused_service_leaves_the_other_streaming_and_is_reported(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with FakeSchwab(refused_services={FUT: 11}) as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(EQ, item("$TICK", EQ, LAST_PRICE=-600.0, TRADE_TIME_MILLIS=T0)))
            assert (await pending)["symbol"].to_list() == ["$TICK"]
            assert fake.logins == 1 and fake.subs[EQ] == {"$SPX", "$TICK"}
            snap = feed.status.snapshot()
            assert "code 11" in snap["refused_services"][FUT] and "/ES, /NQ" in snap["refused_services"][FUT]
            assert {"/ES", "/NQ"} <= set(snap["skipped_symbols"])
            [problem] = feed.status.problems()
            assert FUT in problem and "/ES, /NQ" in problem
            await it.aclose()
    run(main)
    [record] = [r for r in logs.records if r.getMessage() == "schwab service refused"]
    assert record.levelno == logging.ERROR and "/ES,/NQ" in str(record.__dict__)


@pytest.mark.parametrize("fake_kwargs", [
    {"unknown_symbols": {"/ES", "/NQ", "$SPX", "$TICK"}, "stop_when_empty": True},
    {"refused_services": {FUT: 11, EQ: 11}, "stop_when_empty": True},
])
def test_nothing_subscribable_stops_with_a_clear_error(
    fast_source: SchwabSource, token: Path, fake_kwargs: dict[str, object]
) -> None:
    async def main() -> None:
        async with FakeSchwab(**fake_kwargs) as fake:  # type: ignore[arg-type]
            with pytest.raises(SourceError, match="none of the configured symbols") as err:
                await next_frame(feed_for(fake, fast_source, token).stream())
            for symbol in ("/ES", "/NQ", "$SPX", "$TICK"):
                assert symbol in str(err.value)
    run(main)


# ---------------------------------------------------------------- delayed data


@pytest.mark.parametrize("allow", [False, True])
def test_delayed_data_is_recorded_reported_and_refused_by_default(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture, allow: bool
) -> None:
    source = fast_source.model_copy(update={"allow_delayed": allow})

    async def main() -> None:
        async with FakeSchwab(delayed_symbols={"/ES"}) as fake:  # no real-time entitlement for /ES
            feed = feed_for(fake, source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.publish(FUT, {"/ES": {"LAST_PRICE": 1.0, "TRADE_TIME_MILLIS": T0}})
            await fake.publish(FUT, {"/NQ": {"LAST_PRICE": 2.0, "TRADE_TIME_MILLIS": T0}})
            frame = await pending
            assert frame["symbol"].to_list() == (["/ES"] if allow else ["/NQ"])
            snap = feed.status.snapshot()
            assert snap["delayed_symbols"] == ["/ES"]
            assert snap["delayed_ticks_refused"] == (0 if allow else 1)
            # refused delayed data fails readiness; delayed data used for alerting is a warning
            [problem] = feed.status.notices() if allow else feed.status.problems()
            assert "delayed for /ES" in problem
            assert ("used for alerting" if allow else "allow_delayed: false") in problem
            assert (feed.status.problems() if allow else feed.status.notices()) == []
            await it.aclose()
    run(main)
    assert "schwab data is delayed" in messages(logs)


def test_delayed_is_off_by_default() -> None:
    assert SchwabSource(type="schwab").allow_delayed is False


# ---------------------------------------------------------------- silent symbols


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def test_a_silent_symbol_is_reported_once_and_cleared_when_it_updates(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    source = fast_source.model_copy(update={"silence_after": timedelta(minutes=5)})
    clock = Clock()
    instruments = [Instrument(symbol="/ES", type="future"), Instrument(symbol="/NQ", type="future")]

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=0.02) as fake:  # silence is checked on every message
            feed = SchwabFeed(instruments, source, token_path=token, transport=fake.transport(), clock=clock)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            clock.now += timedelta(minutes=4)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await pending
            assert feed.status.silent == {}
            pending = asyncio.ensure_future(next_frame(it))  # the feed runs while it is read
            clock.now += timedelta(minutes=2)  # /NQ: 6 minutes without an update, /ES: 2
            await until(lambda: "/NQ" in feed.status.silent)  # checked on every message (heartbeats too)
            assert set(feed.status.silent) == {"/NQ"}
            # one silent symbol among live ones: a warning, not a readiness failure (/ES alerts)
            assert feed.status.problems() == []
            assert feed.status.notices() == [
                "schwab symbol /NQ silent since 2026-01-05T14:30:00+00:00: no update while /ES kept updating"]
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=2.0, TRADE_TIME_MILLIS=T0)))
            await pending
            assert feed.status.silent == {} and feed.status.notices() == []
            await it.aclose()
    run(main)
    assert messages(logs).count("schwab symbol silent") == 1
    assert "schwab symbol updating again" in messages(logs)


# ---------------------------------------------------------------- resources


#: Short enough to keep these tests quick, long enough for an answered login or subscribe to
#: come back in time on a loaded machine (a whole connect took most of a second at load 40:
#: with 50 ms, no login was ever sent before the timeout). The waits below do not rely on it
#: either: they wait for what the scenario must eventually produce.
REPLY_TIMEOUT = timedelta(seconds=1)


def test_login_without_reply_times_out_and_every_session_is_closed(fast_source: SchwabSource, token: Path) -> None:
    source = fast_source.model_copy(update={"reply_timeout": REPLY_TIMEOUT})

    async def main() -> None:
        async with FakeSchwab(silent_login=True) as fake:
            feed = feed_for(fake, source, token)
            task = asyncio.ensure_future(next_frame(feed.stream()))
            await until(lambda: fake.logins >= 3)
            assert "no reply to the streamer login within 1s" in (feed.status.last_error or "")
            await until(lambda: fake.sessions_closed >= fake.logins - 1)
            task.cancel()
    run(main)


def test_subscribe_without_reply_times_out_and_reconnects(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    source = fast_source.model_copy(update={"reply_timeout": REPLY_TIMEOUT})

    def dropped_for(reason: str) -> bool:
        return any(r.getMessage() == "schwab stream lost; reconnecting" and reason in str(r.__dict__)
                   for r in logs.records)

    async def main() -> None:
        async with FakeSchwab(unanswered={"SUBS"}) as fake:  # logs in, then never acknowledges a SUBS
            feed = feed_for(fake, source, token)
            task = asyncio.ensure_future(next_frame(feed.stream()))
            # a login answered late on a loaded machine times out first: wait for the SUBS one
            await until(lambda: dropped_for("no reply to LEVELONE_FUTURES SUBS within 1s"))
            logins = fake.logins
            await until(lambda: fake.logins > logins)  # and then it connects again
            task.cancel()
    run(main)


def test_each_reconnect_closes_the_previous_http_session(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            for n in (1, 2, 3):
                await until(lambda n=n: feed.status.connects == n)  # type: ignore[misc]
                assert fake.sessions_closed == n - 1
                await fake.drop()
            await until(lambda: feed.status.connects == 4)
            assert fake.sessions_closed == 3
            pending.cancel()
    run(main)


def test_status_problems_reach_readyz_reasons(fast_source: SchwabSource, token: Path) -> None:
    from tradeassist_runner.service.observe import Observer

    feed = feed_for(FakeSchwab(), fast_source, token, INSTRUMENTS)
    feed.status.connected = True
    feed.status.refused_services[FUT] = "code 11; not streaming /ES, /NQ"
    observer = Observer()
    observer.feed = feed
    reasons = observer.not_ready()
    assert any("LEVELONE_FUTURES refused" in r and "/ES, /NQ" in r for r in reasons)


def test_two_feeds_on_one_token_file_are_warned_about(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            first = feed_for(fake, fast_source, token)
            it = first.stream()
            failed = asyncio.ensure_future(next_frame(it))
            await until(lambda: first.status.connects == 1)
            assert f"pid {os.getpid()}" in (token.parent / (token.name + ".streaming")).read_text()
            it2 = feed_for(fake, fast_source, token).stream()
            pending = asyncio.ensure_future(next_frame(it2))
            with pytest.raises(SourceError):
                await failed  # replaced by the second
            pending.cancel()
    run(main)
    [warning] = [m for m in messages(logs) if "same Schwab token file" in m]
    assert f"pid {os.getpid()}" in warning and str(token) in warning and "tradeassist record" in warning


def test_one_feed_at_a_time_on_a_token_file_is_not_warned_about(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            for _ in range(2):  # one after the other: the first released the file
                feed = feed_for(fake, fast_source, token)
                it = feed.stream()
                pending = asyncio.ensure_future(next_frame(it))
                await until(lambda: feed.status.connects == 1)  # noqa: B023
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending  # cancelled inside the feed: its finally releases the file
                await it.aclose()
    run(main)
    assert not [m for m in messages(logs) if "same Schwab token file" in m]


# ---------------------------------------------------------------- stale and bogus times


def test_subscription_snapshot_seeds_the_quote_and_is_not_a_fresh_trade(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab(snapshots={"/ES": {"LAST_PRICE": 5990.0, "BID_PRICE": 5989.75, "LAST_SIZE": 4,
                                                 "TRADE_TIME_MILLIS": T0 - 20 * 60_000}}) as fake:  # the last print, 20 min ago
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_SIZE=2, TRADE_TIME_MILLIS=T0)))
            frame = await pending  # the first tick is the first real trade, on the snapshot's price and bid
            assert frame.select("symbol", "price", "volume", "bid").rows() == [("/ES", 5990.0, 2, 5989.75)]
            assert frame["ts"].dt.epoch("ms").to_list() == [T0]
            assert feed.status.snapshot()["snapshots_seeded"] == 4
            await it.aclose()
    run(main)


def test_trade_time_far_from_the_clock_is_refused_and_logged(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0 - 40 * 86_400_000)))
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=2.0, TRADE_TIME_MILLIS=0)))  # placeholder time
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=3.0, TRADE_TIME_MILLIS=T0 + 1)))
            rows = (await pending).select("symbol", "price", pl.col("ts").dt.epoch("ms")).rows()
            while ("/NQ", 3.0, T0 + 1) not in rows:  # the two /NQ ticks may come in one frame or two
                rows += (await next_frame(it)).select("symbol", "price", pl.col("ts").dt.epoch("ms")).rows()
            # /ES refused; /NQ's 0 is no time: the tick gets the message's server time, not 1970
            assert rows == [("/NQ", 2.0, T0), ("/NQ", 3.0, T0 + 1)]
            assert feed.status.snapshot()["implausible_ticks"] == 1
            await it.aclose()
    run(main)
    [record] = [r for r in logs.records if r.getMessage() == "schwab tick refused"]
    assert "/ES" in str(record.__dict__) and "implausible trade time" in str(record.__dict__)


def test_changed_price_without_a_new_trade_time_is_restamped_and_logged(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await pending
            pending = asyncio.ensure_future(next_frame(it))
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.25), ts=T0 + 800))
            frame = await pending
            assert frame["ts"].dt.epoch("ms").to_list() == [T0 + 800]
            assert feed.status.snapshot()["restamped_ticks"] == 1
            await it.aclose()
    run(main)
    assert "schwab trade without a new trade time: stamped with the message time" in messages(logs)


def test_a_removed_symbol_is_no_longer_reported_silent_or_delayed(fast_source: SchwabSource, token: Path) -> None:
    source = fast_source.model_copy(update={"silence_after": timedelta(minutes=5)})
    clock = Clock()
    es, nq, ym = (Instrument(symbol=s, type="future") for s in ("/ES", "/NQ", "/YM"))

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=0.02) as fake:
            feed = SchwabFeed([es, nq, ym], source, token_path=token, transport=fake.transport(), clock=clock)
            it = feed.stream()

            async def consume() -> None:  # as a runner does: the feed is read (and checked) only while consumed
                async for _ in it:
                    pass

            pending = asyncio.ensure_future(consume())
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", delayed=True, LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await until(lambda: feed.status.delayed.get("/ES") is True)  # seen at 14:30, before the clock moves
            clock.now += timedelta(minutes=6)
            await fake.send(data_frame(FUT, item("/YM", LAST_PRICE=3.0, TRADE_TIME_MILLIS=T0)))
            ym_sent_at = clock.now
            await until(lambda: feed.status.last_update.get("/YM") == ym_sent_at)
            # silence is checked at most once a second of the feed's clock: a heartbeat may have
            # had the check just before /YM's update arrived
            clock.now += timedelta(seconds=2)
            await until(lambda: set(feed.status.silent) == {"/ES", "/NQ"})
            assert len(feed.status.problems() + feed.status.notices()) == 3  # /ES delayed, /ES and /NQ silent
            await feed.update_symbols([nq, ym])  # hot reload drops /ES
            assert [p for p in feed.status.problems() + feed.status.notices() if "/ES" in p] == []
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    run(main)


def test_a_quiet_market_is_not_silence(fast_source: SchwabSource, token: Path) -> None:
    """Every symbol quiet (a weekend, the equities close): none is reported, readiness holds."""
    source = fast_source.model_copy(update={"silence_after": timedelta(minutes=5)})
    clock = Clock()

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=0.02) as fake:
            feed = SchwabFeed(INSTRUMENTS, source, token_path=token, transport=fake.transport(), clock=clock)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)  # every symbol sent its snapshot
            clock.now += timedelta(hours=40)
            beats = feed.status.frames
            await until(lambda: feed.status.frames >= beats + 3)  # heartbeats went by: silence was checked
            assert feed.status.silent == {} and feed.status.problems() == [] and feed.status.notices() == []
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    run(main)


@pytest.mark.parametrize("mode", ["all", "any"])
def test_a_symbol_schwab_never_sends_data_for_is_silent_and_readiness_follows_the_config(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    source = fast_source.model_copy(update={"silence_after": timedelta(minutes=5), "silent_not_ready": mode})
    clock = Clock()
    instruments = [Instrument(symbol="/ES", type="future"), Instrument(symbol="$SPX.X", type="index")]

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=0.02, silent_symbols={"$SPX.X"}) as fake:  # acked, then nothing
            feed = SchwabFeed(instruments, source, token_path=token, transport=fake.transport(), clock=clock)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            assert fake.subs[EQ] == {"$SPX.X"}  # Schwab took the subscription
            clock.now += timedelta(minutes=5)
            await until(lambda: "$SPX.X" in feed.status.silent)
            assert set(feed.status.silent) == {"$SPX.X"}  # /ES's snapshot is data, even in a quiet market
            [line] = [p for p in feed.status.problems() + feed.status.notices() if "$SPX.X" in p]
            assert "no data at all since it was subscribed" in line and "not $SPX.X" in line
            if mode == "any":
                assert feed.status.problems() == [line]
            else:  # /ES still produces data: a warning only
                assert feed.status.problems() == [] and feed.status.notices() == [line]
            assert "$SPX.X" in feed.status.snapshot()["silent_reasons"]
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    run(main)
    [record] = [r for r in logs.records if r.getMessage() == "schwab symbol silent"]
    assert "$SPX.X" in str(record.__dict__)


def test_readiness_fails_when_no_subscribed_symbol_produces_data(fast_source: SchwabSource, token: Path) -> None:
    source = fast_source.model_copy(update={"silence_after": timedelta(minutes=5)})
    clock = Clock()
    instruments = [Instrument(symbol="/ESZ20", type="future"), Instrument(symbol="$SPX.X", type="index")]

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=0.02, silent_symbols={"/ESZ20", "$SPX.X"}) as fake:
            feed = SchwabFeed(instruments, source, token_path=token, transport=fake.transport(), clock=clock)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            clock.now += timedelta(minutes=6)
            await until(lambda: len(feed.status.silent) == 2)
            problems = feed.status.problems()
            assert problems[0] == "schwab: no subscribed symbol is producing data"
            assert len(problems) == 3 and feed.status.notices() == []
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    run(main)


# ---------------------------------------------------------------- contract rolls


def test_contract_roll_is_logged_and_does_not_make_a_bogus_volume(
    fast_source: SchwabSource, token: Path, logs: pytest.LogCaptureFixture
) -> None:
    es = Instrument(symbol="/ES", type="future")
    snapshot = {"LAST_PRICE": 6000.0, "TOTAL_VOLUME": 1_200_000, "FUTURE_ACTIVE_SYMBOL": "/ESH26",
                "HIGH_PRICE": 6010.0, "TRADE_TIME_MILLIS": T0 - 1000}

    async def main() -> None:
        async with FakeSchwab(snapshots={"/ES": snapshot}) as fake:
            feed = feed_for(fake, fast_source, token, [es])
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            # the snapshot carried the requested fields only (HIGH_PRICE, field 12, was not asked for)
            [snap] = [f for f in fake.data_sent if f["data"][0]["service"] == FUT]
            assert set(snap["data"][0]["content"][0]) == {"key", "delayed", "3", "8", "10", "11", "34"}
            await fake.publish(FUT, {"/ES": {"LAST_PRICE": 6000.25, "LAST_SIZE": 3, "TOTAL_VOLUME": 1_200_003,
                                             "TRADE_TIME_MILLIS": T0}})
            assert (await pending)["volume"].to_list() == [3]
            # the root symbol now streams the next contract; its day volume is larger than the old one's
            await fake.publish(FUT, {"/ES": {"FUTURE_ACTIVE_SYMBOL": "/ESM26", "LAST_PRICE": 6050.0, "LAST_SIZE": 2,
                                             "TOTAL_VOLUME": 1_500_000, "TRADE_TIME_MILLIS": T0 + 1000}})
            rolled = await next_frame(it)
            assert rolled.select("symbol", "price", "volume").rows() == [("/ES", 6050.0, 2)]  # not 299,997
            await fake.publish(FUT, {"/ES": {"LAST_SIZE": 1, "TOTAL_VOLUME": 1_500_004, "TRADE_TIME_MILLIS": T0 + 2000}})
            assert (await next_frame(it))["volume"].to_list() == [4]
            snap_status = feed.status.snapshot()
            assert snap_status["contracts"] == {"/ES": "/ESM26"}
            [roll] = snap_status["rolls"]
            assert (roll["symbol"], roll["from"], roll["to"]) == ("/ES", "/ESH26", "/ESM26")
            await it.aclose()
    run(main)
    [record] = [r for r in logs.records if r.getMessage() == "schwab contract roll"]
    assert record.levelno == logging.WARNING and "/ESM26" in str(record.__dict__)
