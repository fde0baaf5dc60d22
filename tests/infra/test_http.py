"""Transport failures are told in plain words wherever they end up (a dead letter's reason, a parked
receipt, the worker's refusal to start): real sockets on loopback, no exception class names."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from domain.errors import FetchError
from infra.broker import free_port
from infra.http import why_unreachable
from sources.support.fetch import fetch_json

CLASS_NAMES = ("Error", "Exception", "Timeout")


async def _serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)


async def _cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")  # promises 100 bytes, sends 5
    await writer.drain()
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)
    writer.close()


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, str]]:
    cut, silent = await _serve(_cut_off), await _serve(_silent)
    port = lambda s: s.sockets[0].getsockname()[1]  # noqa: E731
    yield {"cut": f"http://127.0.0.1:{port(cut)}/x", "silent": f"http://127.0.0.1:{port(silent)}/x",
           "closed": f"http://127.0.0.1:{free_port()}/x"}
    cut.close()
    silent.close()


async def _failure(url: str) -> httpx.HTTPError:
    async with httpx.AsyncClient(timeout=0.5) as client:
        try:
            await client.get(url)
        except httpx.HTTPError as exc:
            return exc
    raise AssertionError(f"{url} answered")


@pytest.mark.parametrize("which, words", [
    ("closed", "the connection was refused or the host is unknown"),
    ("cut", "the connection broke off mid-answer"),
    ("silent", "it did not answer in time"),
])
async def test_each_real_failure_has_its_own_plain_words(servers: dict[str, str], which: str, words: str) -> None:
    assert why_unreachable(await _failure(servers[which])) == words


async def test_a_platform_fetch_that_fails_says_what_happened_without_class_names(servers: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=0.5) as client:
        with pytest.raises(FetchError) as caught:
            await fetch_json(client, "xero", "GET", servers["closed"] + "?token=s3cr3t")
    reason = str(caught.value)
    assert reason == "xero API GET /x: the connection was refused or the host is unknown"
    assert caught.value.retriable
    assert not any(name in reason for name in CLASS_NAMES) and "s3cr3t" not in reason

