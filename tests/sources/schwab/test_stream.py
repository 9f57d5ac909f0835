"""schwab-py's real StreamClient + our feed against a fake Schwab on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.config.models import Instrument, SchwabSource
from tradeassist_runner.errors import SourceError
from tradeassist_runner.sources.schwab.stream import SchwabFeed

from ...waiting import until
from .conftest import INSTRUMENTS
from .fake_schwab import FakeSchwab, data_frame, item, write_token

T0 = 1_767_623_400_000
FUT, EQ = "LEVELONE_FUTURES", "LEVELONE_EQUITIES"


def at_t0() -> datetime:
    """The feed's wall clock in these tests: the session of the fake's trade times."""
    return datetime.fromtimestamp(T0 / 1000, timezone.utc)


def feed_for(fake: FakeSchwab, source: SchwabSource, token: Path, instruments: list[Instrument] | None = None) -> SchwabFeed:
    return SchwabFeed(instruments or INSTRUMENTS, source, token_path=token, transport=fake.transport(), clock=at_t0)


async def next_frame(it: Any, timeout: float = 60.0) -> pl.DataFrame:
    """The feed's next frame; ``timeout`` only stops a hang (a loaded machine can take
    seconds for the reconnects some scenarios go through before their frame or error)."""
    return await asyncio.wait_for(anext(it), timeout)


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    # a guard against a hang only, looser than the waits inside (60 s each): a loaded machine
    # (CI's 2 cores under parallel workers) can take more than 20 s for a few reconnects
    asyncio.run(asyncio.wait_for(coro_fn(), 180))


def test_snapshot_then_partial_updates_produce_ticks(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            fake.on_subscribe.append(data_frame(FUT, item(
                "/ES", BID_PRICE=6000.0, ASK_PRICE=6000.25, LAST_PRICE=6000.25, BID_SIZE=10, ASK_SIZE=7,
                TOTAL_VOLUME=1000, LAST_SIZE=2, QUOTE_TIME_MILLIS=T0 + 1, TRADE_TIME_MILLIS=T0)))
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            first = await next_frame(it)
            assert first.select("symbol", "price", "volume", "bid", "ask").rows() == [
                ("/ES", 6000.25, 2, 6000.0, 6000.25)]
            await fake.send(data_frame(FUT, item("/ES", BID_PRICE=6000.25)))  # quote only: no tick
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=6000.5, TOTAL_VOLUME=1005,
                                                  TRADE_TIME_MILLIS=T0 + 250)))
            second = await next_frame(it)
            assert second.select("price", "volume", "bid").rows() == [(6000.5, 5, 6000.25)]
            assert second["ts"].dt.epoch("ms").to_list() == [T0 + 250]
            # only the needed fields were requested, on the right services
            subs = {r["service"]: r for r in fake.requests if r["command"] == "SUBS"}
            assert subs[FUT]["parameters"]["keys"] == "/ES,/NQ"
            assert subs[EQ]["parameters"]["keys"] == "$SPX,$TICK"
            assert subs[FUT]["parameters"]["fields"] == "0,1,2,3,4,5,8,9,10,11,34"  # 34: the active contract
            assert subs[EQ]["parameters"]["fields"] == "0,1,2,3,4,5,8,9,34,35"
            await it.aclose()
    run(main)


def test_several_symbols_in_one_frame_none_dropped(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)  # every subscription acknowledged
            await fake.send(data_frame(EQ,
                item("$TICK", EQ, LAST_PRICE=-612.0, TRADE_TIME_MILLIS=T0),
                item("$SPX", EQ, LAST_PRICE=6001.5, TOTAL_VOLUME=10, TRADE_TIME_MILLIS=T0 + 1),
                item("$TICK", EQ, LAST_PRICE=-580.0, TRADE_TIME_MILLIS=T0 + 2)))
            frame = await pending
            assert frame.select("symbol", "price").rows() == [("$TICK", -612.0), ("$SPX", 6001.5), ("$TICK", -580.0)]
            await it.aclose()
    run(main)


def test_closed_socket_reconnects_resubscribes_and_records_the_gap(
    fast_source: SchwabSource, token: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            fake.on_subscribe.append(data_frame(FUT, item("/ES", LAST_PRICE=6000.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0)))
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            await next_frame(it)
            assert feed.status.connected and not feed.status.gaps
            await fake.drop()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 2)  # reconnected and subscribed again
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=6001.0, LAST_SIZE=3, TRADE_TIME_MILLIS=T0 + 5000)))
            frame = await pending
            assert frame.select("price", "volume").rows() == [(6001.0, 3)]
            assert fake.logins == 2
            assert fake.subs[FUT] == {"/ES", "/NQ"} and fake.subs[EQ] == {"$SPX", "$TICK"}
            status = feed.status.snapshot()
            assert status["connected"] and status["reconnects"] == 1
            [gap] = status["gaps"]
            assert gap["seconds"] > 0 and gap["start"] < gap["end"]
            await it.aclose()

    caplog.set_level(logging.INFO, logger="tradeassist")
    monkeypatch.setattr(logging.getLogger("tradeassist"), "propagate", True)
    run(main)
    assert any("resumed after a gap" in r.getMessage() for r in caplog.records)


def test_login_denied_is_a_clear_error_after_retries(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab(deny_login=True) as fake:
            feed = feed_for(fake, fast_source, token)
            with pytest.raises(SourceError) as err:
                await next_frame(feed.stream())
            assert fake.logins == 3
            text = str(err.value)
            assert "denied the streamer login" in text and "code 3" in text
            assert "tradeassist schwab login" in text and "Accounts and Trading Production" in text
            # after the first denial every retry logs in with a freshly refreshed access token
            assert len(fake.token_requests) >= 1
    run(main)


def test_denied_streamer_login_retries_once_with_a_refreshed_access_token(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab(streamer_denies={"access-1"}) as fake:  # REST takes it, the streamer not
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            assert fake.logins == 2 and [r["grant_type"] for r in fake.token_requests] == ["refresh_token"]
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await pending
            await it.aclose()
    run(main)


def test_unparsable_frame_is_counted_and_skipped(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send("{not json")
            await fake.send(json.dumps({"data": "garbage"}))
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=21000.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0)))
            frame = await pending
            assert frame["symbol"].to_list() == ["/NQ"]
            assert feed.status.unparsable_frames == 2
            assert feed.status.connects == 1  # the connection survived
            await it.aclose()
    run(main)


def test_expired_access_token_is_refreshed_through_the_token_endpoint(fast_source: SchwabSource, tmp_path: Path) -> None:
    token = tmp_path / "tok.json"
    write_token(token, access="stale", access_expired=True)

    async def main() -> None:
        async with FakeSchwab(access_token="never-used") as fake:
            fake.on_subscribe.append(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            await next_frame(it)
            assert [r["grant_type"] for r in fake.token_requests] == ["refresh_token"]
            await it.aclose()
            return fake.access_token

    run(main)
    saved = json.loads(token.read_text())
    assert saved["token"]["access_token"] == "access-2"  # written back by schwab-py's update hook
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600


def test_rejected_refresh_token_is_a_clear_error(fast_source: SchwabSource, tmp_path: Path) -> None:
    token = tmp_path / "tok.json"
    write_token(token, access="stale", access_expired=True)
    data = json.loads(token.read_text())
    data["token"]["refresh_token"] = "revoked"
    token.write_text(json.dumps(data))

    async def main() -> None:
        async with FakeSchwab() as fake:
            with pytest.raises(SourceError, match="rejected the refresh token.*tradeassist schwab login"):
                await next_frame(feed_for(fake, fast_source, token).stream())
    run(main)


def test_rejected_access_token_on_rest_is_a_clear_error(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab(reject_every_token=True) as fake:
            with pytest.raises(SourceError, match=r"rejected the token .*HTTP 401") as err:
                await next_frame(feed_for(fake, fast_source, token).stream())
            # one forced refresh, then both likely causes are named
            assert [r["grant_type"] for r in fake.token_requests] == ["refresh_token"]
            text = str(err.value)
            assert "even after refreshing" in text and "login expired" in text
            assert "Accounts and Trading Production" in text and "tradeassist schwab login" in text
    run(main)


def test_revoked_access_token_gets_one_forced_refresh_then_streams(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab(access_token="revoked-early") as fake:  # the file's token is not expired
            fake.on_subscribe.append(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            await next_frame(it)
            assert [r["grant_type"] for r in fake.token_requests] == ["refresh_token"]
            assert fake.logins == 1
            await it.aclose()
    run(main)


@pytest.mark.parametrize("age_days, message", [(8, "expired"), (None, "no Schwab token")])
def test_missing_or_expired_token_fails_before_connecting(
    fast_source: SchwabSource, tmp_path: Path, age_days: float | None, message: str
) -> None:
    token = tmp_path / "tok.json"
    if age_days is not None:
        write_token(token, age_s=age_days * 86400)

    async def main() -> None:
        async with FakeSchwab() as fake:
            with pytest.raises(SourceError, match=message):
                await next_frame(feed_for(fake, fast_source, token).stream())
            assert fake.logins == 0
    run(main)


def test_unknown_symbol_is_reported_and_skipped_rest_keep_streaming(fast_source: SchwabSource, token: Path) -> None:
    instruments = [*INSTRUMENTS, Instrument(symbol="/XYZ", type="future"), Instrument(symbol="EUR/USD", type="forex")]

    async def main() -> None:
        async with FakeSchwab(unknown_symbols={"/XYZ"}) as fake:
            feed = feed_for(fake, fast_source, token, instruments)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)  # /XYZ refused, the rest subscribed
            assert fake.subs[FUT] == {"/ES", "/NQ"}
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            assert (await pending)["symbol"].to_list() == ["/ES"]
            skipped = feed.status.skipped_symbols
            assert set(skipped) == {"/XYZ", "EUR/USD"}
            assert "code 22" in skipped["/XYZ"] and "Invalid symbols: /XYZ" in skipped["/XYZ"]
            await it.aclose()
    run(main)


def test_update_symbols_subscribes_and_unsubscribes_without_reconnect(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token, INSTRUMENTS[:1])
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await feed.update_symbols([Instrument(symbol="/NQ", type="future"), Instrument(symbol="$ADD", type="internal")])
            assert fake.subs[FUT] == {"/NQ"} and fake.subs[EQ] == {"$ADD"}
            assert fake.logins == 1
            commands = [(r["service"], r["command"], r["parameters"].get("keys")) for r in fake.requests]
            assert (FUT, "UNSUBS", "/ES") in commands and (EQ, "SUBS", "$ADD") in commands
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0),
                                       item("/NQ", LAST_PRICE=2.0, TRADE_TIME_MILLIS=T0)))
            assert (await pending)["symbol"].to_list() == ["/NQ"]  # late /ES data is not a tick any more
            await it.aclose()
    run(main)


@pytest.mark.parametrize("code, words", [(30, "stopped streaming"), (20, "no longer knows")])
def test_server_codes_stop_streaming_and_unknown_connection_reconnect(
    fast_source: SchwabSource, token: Path, code: int, words: str
) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send({"notify": [{"service": "ADMIN", "timestamp": T0, "content": {"code": code, "msg": "bye"}}]})
            await until(lambda: feed.status.connects == 2)  # dropped, logged in and subscribed again
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            await pending
            assert fake.logins == 2
            [gap] = feed.status.gaps
            assert words in gap.reason and f"code {code}" in gap.reason
            await it.aclose()
    run(main)


def test_token_close_to_expiry_is_warned_about(
    fast_source: SchwabSource, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "tok.json"
    write_token(token, age_s=6 * 86400)
    monkeypatch.setattr(logging.getLogger("tradeassist"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="tradeassist")

    async def main() -> None:
        async with FakeSchwab() as fake:
            fake.on_subscribe.append(data_frame(FUT, item("/ES", LAST_PRICE=1.0, TRADE_TIME_MILLIS=T0)))
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            await next_frame(it)
            assert feed.status.token_expires is not None
            await it.aclose()
    run(main)
    # once per connection: a loaded machine may see the fake's stream reconnect in between
    warnings = [r.getMessage() for r in caplog.records if "refresh token expires in" in r.getMessage()]
    assert warnings and all("23h" in w and "tradeassist schwab login" in w for w in warnings)


def test_over_escaped_frame_is_repaired_by_schwab_py_decoder_not_dropped(fast_source: SchwabSource, token: Path) -> None:
    async def main() -> None:
        async with FakeSchwab() as fake:
            feed = feed_for(fake, fast_source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            frame = data_frame(FUT, item("/ES", LAST_PRICE=6001.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0))
            frame["data"][0]["content"][0]["16"] = "S&P 500 E-MINI"  # DESCRIPTION, escaped as below
            raw = json.dumps(frame).replace("S&P 500 E-MINI", "S&P 500 \\\\\\'E-MINI")  # \\\' is not JSON
            with pytest.raises(ValueError):
                json.loads(raw)
            await fake.send(raw)
            assert (await pending).select("symbol", "price").rows() == [("/ES", 6001.0)]
            assert feed.status.unparsable_frames == 0 and feed.status.repaired_frames == 1
            await it.aclose()
    run(main)


def test_hot_reload_is_applied_at_once_not_at_the_next_frame(fast_source: SchwabSource, token: Path) -> None:
    """schwab-py holds its socket lock while waiting for a frame; Schwab's heartbeat is ~10 s apart."""
    async def main() -> None:
        async with FakeSchwab(heartbeat_every=None) as fake:  # nothing arrives unless the test sends it
            feed = feed_for(fake, fast_source, token, INSTRUMENTS[:1])
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it, timeout=60))
            await until(lambda: feed.status.connects == 1)
            # a hang guard, not a timing bound: before the fix this waited for a frame that never comes
            await asyncio.wait_for(feed.update_symbols([Instrument(symbol="/NQ", type="future")]), 10)
            assert fake.subs[FUT] == {"/NQ"} and fake.logins == 1
            # the interrupted read lost nothing: the next frame is read and becomes a tick
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=2.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0)))
            assert (await pending)["symbol"].to_list() == ["/NQ"]
            await it.aclose()
    run(main)


def test_hot_reload_while_the_consumer_is_busy_does_not_deadlock(fast_source: SchwabSource, token: Path) -> None:
    """The run loop may reload between two frames, while the feed sits at its yield."""
    async def main() -> None:
        async with FakeSchwab(heartbeat_every=None) as fake:
            feed = feed_for(fake, fast_source, token, INSTRUMENTS[:1])
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 1)
            await fake.send(data_frame(FUT, item("/ES", LAST_PRICE=1.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0)))
            await pending  # the generator is suspended at its yield now
            await asyncio.wait_for(feed.update_symbols(INSTRUMENTS[:2]), 10)
            assert fake.subs[FUT] == {"/ES", "/NQ"}
            await fake.send(data_frame(FUT, item("/NQ", LAST_PRICE=2.0, LAST_SIZE=1, TRADE_TIME_MILLIS=T0)))
            assert (await next_frame(it))["symbol"].to_list() == ["/NQ"]
            await it.aclose()
    run(main)


def test_no_message_within_heartbeat_timeout_reconnects(fast_source: SchwabSource, token: Path) -> None:
    source = fast_source.model_copy(update={"heartbeat_timeout": timedelta(milliseconds=200)})

    async def main() -> None:
        async with FakeSchwab(heartbeat_every=None) as fake:  # a stalled streamer
            feed = feed_for(fake, source, token)
            it = feed.stream()
            pending = asyncio.ensure_future(next_frame(it))
            await until(lambda: feed.status.connects == 2)
            assert "no message (not even a heartbeat) for 0.2s" in feed.status.gaps[0].reason
            pending.cancel()
    run(main)
