"""The references the gateway is measured against, served exactly as `hookgate serve` serves.

- `bare`: a Starlette endpoint that reads the body and answers 200 (the framework ceiling).
- `peer`: what a user would write instead of hookgate: a Starlette endpoint that
  checks the Calendly HMAC, parses the JSON and awaits `send_and_wait` on an aiokafka
  producer with `acks="all"`.

`python -m tests.bench.reference {bare|peer} --port P --workers N` runs one with the
same uvicorn configuration as `hookgate serve` (`gateway.commands.serve.server_config`:
uvloop, httptools, no access log, the same keep-alive). The peer reads
`BENCH_KAFKA_BOOTSTRAP`, `BENCH_TOPIC` and `BENCH_SIGNING_KEY` from the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.commands.serve import _Server, bind, server_config
from gateway.settings import Settings


async def healthz(request: Request) -> Response:
    return Response(b"ok")


def bare_app() -> Starlette:
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/webhooks/{provider}/{source_id}", receive, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def _signature_ok(header: str, body: bytes, key: bytes) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def peer_app() -> Starlette:
    bootstrap = os.environ["BENCH_KAFKA_BOOTSTRAP"]
    topic = os.environ["BENCH_TOPIC"]
    key = os.environ["BENCH_SIGNING_KEY"].encode()
    state: dict[str, AIOKafkaProducer] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        state["producer"] = producer
        try:
            yield
        finally:
            await producer.stop()

    async def receive(request: Request) -> Response:
        body = await request.body()
        if not _signature_ok(request.headers.get("calendly-webhook-signature", ""), body, key):
            return JSONResponse({"error": "invalid_signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "malformed_payload"}, status_code=400)
        record_key = str(payload.get("payload", {}).get("uri", "")).encode()
        await state["producer"].send_and_wait(topic, body, key=record_key)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/webhooks/{provider}/{source_id}", receive, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=("bare", "peer"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    settings = Settings(host="127.0.0.1", port=args.port, workers=args.workers)
    config = server_config(
        f"tests.bench.reference:{args.app}_app",
        settings,
        factory=True,
        port=args.port,
        workers=args.workers,
    )
    sockets = [bind("127.0.0.1", args.port)]
    if args.workers > 1:
        from uvicorn.supervisors.multiprocess import Multiprocess

        Multiprocess(config, sockets=sockets).run()
        return
    _Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
