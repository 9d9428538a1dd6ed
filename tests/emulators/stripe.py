"""A Stripe API emulator: Checkout Sessions, refunds, idempotency and signed events.

It follows /work/shared/provider-apis.md §5 and providers.md §5:

- `Authorization: Bearer <secret key>` (or HTTP Basic with the key as user name); any
  other key answers 401 as Stripe does. Bodies are form-encoded with nested `a[b][0]=c` keys.
- `POST /v1/checkout/sessions` (`mode=payment`, `line_items[n][price_data]` or a price,
  `success_url`, `expires_at` 30 min to 24 h ahead), `GET /v1/checkout/sessions/{id}`,
  `POST /v1/checkout/sessions/{id}/expire`. The PaymentIntent is made when the customer pays
  (`complete_checkout_session`), with `payment_intent_data[metadata]` as its metadata,
  copied to its Charge as Stripe does at confirmation; the session's `metadata` stays on it.
- `POST /v1/refunds` on a `payment_intent` or `charge`, `amount` (default: what is left),
  more than is left → 400 `amount_too_large`, nothing left → 400 `charge_already_refunded`;
  `GET /v1/refunds/{id}`, `GET /v1/payment_intents/{id}`.
- `Idempotency-Key` on POSTs: the first result is saved per key (5xx included; a 4xx
  refusal of the parameters is not, as Stripe saves only requests that began executing);
  the same key with the same parameters answers the saved result (`Idempotent-Replayed:
  true`), with other parameters or another endpoint a 400 `idempotency_error`.
- Events: every change makes Event objects (`{id: evt_…, object: "event", type,
  created, data: {object, previous_attributes?}, livemode, api_version,
  pending_webhooks, request}`) queued in `outbox`; `flush()` posts them to each webhook
  endpoint, signed `Stripe-Signature: t=…,v1=…` with each of its secrets (several during a
  roll). API changes are flushed after the answer is sent, test helpers before they
  return. Types in `duplicated_types` are made as two Event objects with different ids
  for the same change, as Stripe sometimes does.
- Every API request is kept in `calls` (so tests count refunds), and `faults` queues
  injected answers (after auth) as the other emulators do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.faults import Faults
from tests.emulators.tokens import Clock, utc_now

API_VERSION = "2024-10-28.acacia"
SECRET_KEY = "sk_test_hookgate_emulator"
MIN_EXPIRY = timedelta(minutes=30)
MAX_EXPIRY = timedelta(hours=24)

Deliver = Callable[[str, dict[str, str], bytes], Awaitable[int]]
"""Posts a delivery (url, headers, body); returns the HTTP status."""

StripeObject = dict[str, Any]


@dataclass
class WebhookEndpoint:
    url: str
    secrets: list[str]
    """Signing secrets, newest first: each signs a `v1` (several while rolling)."""
    enabled_events: frozenset[str] = frozenset({"*"})

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


@dataclass(frozen=True)
class StripeCall:
    """One API request as the emulator received and answered it."""

    method: str
    path: str
    params: Mapping[str, Any]
    idempotency_key: str | None
    status: int
    replayed: bool = False


@dataclass(frozen=True)
class Delivered:
    url: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass(frozen=True)
class _Saved:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class _Answer:
    status: int
    body: Mapping[str, Any]
    saved: bool = True
    """Whether the result is kept under the request's Idempotency-Key."""
    replayed: bool = False
    """The saved result of an earlier request with the same Idempotency-Key."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def stripe_error(
    status: int, message: str, *, kind: str = "invalid_request_error", **extra: str
) -> _Answer:
    """Stripe's error body: `{"error": {"type", "message", "code"?, "param"?}}`."""
    return _Answer(status, {"error": {"type": kind, "message": message, **extra}}, saved=False)


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's nested form keys (`a[b][0][c]=1`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise ValueError(key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(key)  # noqa: TRY004 (a form key, not a type, is wrong)
            node = child
        node[path[-1]] = value
    return {
        key: _listed(value) if isinstance(value, dict) else value for key, value in root.items()
    }


def _listed(node: dict[str, Any]) -> Any:
    items = {
        key: _listed(value) if isinstance(value, dict) else value for key, value in node.items()
    }
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


class StripeEmulator:
    """State and Starlette app of one Stripe account (test mode)."""

    def __init__(self, *, secret_key: str = SECRET_KEY, now: Clock = utc_now) -> None:
        self._now = now
        self.secret_key = secret_key
        self.checkout_sessions: dict[str, StripeObject] = {}
        self.payment_intents: dict[str, StripeObject] = {}
        self.charges: dict[str, StripeObject] = {}
        self.refunds: dict[str, StripeObject] = {}
        self.endpoints: list[WebhookEndpoint] = []
        self.deliver: Deliver | None = None
        self.events: list[StripeObject] = []
        """Every Event object made, oldest first."""
        self.outbox: list[StripeObject] = []
        """Events not yet posted to the endpoints."""
        self.delivered: list[Delivered] = []
        self.duplicated_types: set[str] = set()
        self.calls: list[StripeCall] = []
        self.faults = Faults()
        self._saved: dict[str, _Saved] = {}
        self._flushing = asyncio.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/checkout/sessions/{id}/expire", self._expire, methods=["POST"]),
                Route("/v1/payment_intents/{id}", self._get_payment_intent, methods=["GET"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
                Route("/v1/refunds/{id}", self._get_refund, methods=["GET"]),
            ]
        )

    # ---- test controls ---------------------------------------------------------

    def add_webhook_endpoint(
        self, url: str, secret: str | None = None, *, events: frozenset[str] = frozenset({"*"})
    ) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(url, [secret or "whsec_" + secrets.token_urlsafe(24)], events)
        self.endpoints.append(endpoint)
        return endpoint

    @staticmethod
    def roll_secret(endpoint: WebhookEndpoint, secret: str | None = None) -> str:
        """A new signing secret; the old ones keep signing too (Stripe's roll with expiry)."""
        new = secret or "whsec_" + secrets.token_urlsafe(24)
        endpoint.secrets.insert(0, new)
        return new

    def api_calls(self, method: str, path: str) -> list[StripeCall]:
        return [call for call in self.calls if call.method == method and call.path == path]

    def refunds_of(self, payment_intent: str) -> list[StripeObject]:
        return [r for r in self.refunds.values() if r["payment_intent"] == payment_intent]

    async def complete_checkout_session(self, session_id: str) -> StripeObject:
        """The customer pays: the session is `complete`/`paid`, its PaymentIntent and
        Charge are made, and `checkout.session.completed`, `payment_intent.succeeded` and
        `charge.succeeded` are sent."""
        session = self.checkout_sessions[session_id]
        if session["status"] != "open":
            raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
        created = self._stamp()
        intent_id, charge_id = _new_id("pi"), _new_id("ch")
        intent_metadata = dict(session.pop("_payment_intent_metadata"))
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"],
            "currency": session["currency"],
            "status": "succeeded",
            "metadata": intent_metadata,
            "latest_charge": charge_id,
            "created": created,
            "livemode": False,
        }
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"],
            "amount_refunded": 0,
            "captured": True,
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "currency": session["currency"],
            "payment_intent": intent_id,
            "metadata": dict(intent_metadata),
            "created": created,
            "livemode": False,
        }
        self.payment_intents[intent_id], self.charges[charge_id] = intent, charge
        session.update(status="complete", payment_status="paid", payment_intent=intent_id, url=None)
        self.event("checkout.session.completed", session)
        self.event("payment_intent.succeeded", intent)
        self.event("charge.succeeded", charge)
        await self.flush()
        return self._public(session)

    async def expire_checkout_session(self, session_id: str) -> StripeObject:
        """The session runs out unpaid: `checkout.session.expired` is sent."""
        session = self.checkout_sessions[session_id]
        if session["status"] != "open":
            raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
        self._expire_session(session)
        await self.flush()
        return self._public(session)

    def event(
        self,
        event_type: str,
        obj: Mapping[str, Any],
        previous_attributes: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> list[StripeObject]:
        """The Event object(s) of one change (two for `duplicated_types`), queued to send."""
        data: dict[str, Any] = {"object": self._public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = dict(previous_attributes)
        copies = 2 if event_type in self.duplicated_types else 1
        made = [
            {
                "id": _new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self._stamp(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(self.endpoints),
                "request": {"id": _new_id("req"), "idempotency_key": idempotency_key},
                "type": event_type,
            }
            for _ in range(copies)
        ]
        self.events.extend(made)
        self.outbox.extend(made)
        return made

    async def flush(self) -> None:
        """Post every queued event to every endpoint that wants it (and wait for a flush
        under way, such as the one after an API answer)."""
        async with self._flushing:
            while self.outbox:
                await self.send(self.outbox.pop(0))

    async def send(self, event: Mapping[str, Any], *, signed_at: int | None = None) -> list[int]:
        """Post `event` (again, for a retry) to each endpoint that wants it, signed now."""
        statuses = []
        for endpoint in self.endpoints:
            if self.deliver is None or not endpoint.wants(str(event["type"])):
                continue
            body = json.dumps(event, indent=2).encode()
            headers = self.signed_headers(endpoint, body, signed_at)
            status = await self.deliver(endpoint.url, headers, body)
            self.delivered.append(Delivered(endpoint.url, headers, body, status))
            statuses.append(status)
        return statuses

    def signed_headers(
        self, endpoint: WebhookEndpoint, body: bytes, signed_at: int | None = None
    ) -> dict[str, str]:
        """The headers Stripe posts `body` with: one `v1` per secret of the endpoint."""
        stamp = signed_at if signed_at is not None else self._stamp()
        signed = f"{stamp}.".encode() + body
        v1 = ",".join(
            "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            for secret in endpoint.secrets
        )
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": f"t={stamp},{v1}",
        }

    # ---- API -------------------------------------------------------------------

    async def _create_session(self, request: Request) -> Response:
        return await self._handle(request, self._new_session)

    async def _get_session(self, request: Request) -> Response:
        return await self._handle(request, lambda _: self._found(self.checkout_sessions, request))

    async def _expire(self, request: Request) -> Response:
        def expire(_: Mapping[str, Any]) -> _Answer:
            session = self.checkout_sessions.get(request.path_params["id"])
            if session is None:
                return self._missing(request.path_params["id"])
            if session["status"] != "open":
                return stripe_error(
                    400,
                    f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                    f'Checkout Session has a status of "{session["status"]}".',
                )
            self._expire_session(session)
            return _Answer(200, self._public(session))

        return await self._handle(request, expire)

    async def _get_payment_intent(self, request: Request) -> Response:
        return await self._handle(request, lambda _: self._found(self.payment_intents, request))

    async def _create_refund(self, request: Request) -> Response:
        return await self._handle(request, self._new_refund)

    async def _get_refund(self, request: Request) -> Response:
        return await self._handle(request, lambda _: self._found(self.refunds, request))

    def _new_session(self, params: Mapping[str, Any]) -> _Answer:
        if params.get("mode") != "payment":
            return stripe_error(
                400, "This emulator makes only mode=payment sessions.", param="mode"
            )
        if not isinstance(params.get("success_url"), str):
            return stripe_error(400, "Missing required param: success_url.", param="success_url")
        lines = params.get("line_items")
        if not isinstance(lines, list) or not lines:
            return stripe_error(
                400, "You must specify `line_items` in `payment` mode.", param="line_items"
            )
        priced = [self._line_amount(line) for line in lines]
        if any(amount is None for amount, _ in priced):
            return stripe_error(
                400,
                "Each line item needs price_data[currency], price_data[unit_amount] and quantity.",
                param="line_items",
            )
        currencies = {currency for _, currency in priced}
        if len(currencies) != 1:
            return stripe_error(400, "Line items must share one currency.", param="line_items")
        now = self._now()
        expires_at = _integer(params.get("expires_at"))
        if "expires_at" in params and (
            expires_at is None
            or not now + MIN_EXPIRY <= now.fromtimestamp(expires_at, now.tzinfo) <= now + MAX_EXPIRY
        ):
            return stripe_error(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                "Checkout Session creation.",
                param="expires_at",
            )
        session_id = _new_id("cs")
        intent_data = params.get("payment_intent_data")
        intent_metadata = intent_data.get("metadata") if isinstance(intent_data, dict) else None
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": sum(amount or 0 for amount, _ in priced),
            "amount_total": sum(amount or 0 for amount, _ in priced),
            "currency": currencies.pop(),
            "client_reference_id": params.get("client_reference_id"),
            "customer": None,
            "metadata": dict(params.get("metadata") or {}),
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "created": int(now.timestamp()),
            "expires_at": expires_at or int((now + MAX_EXPIRY).timestamp()),
            "livemode": False,
            "_payment_intent_metadata": dict(intent_metadata or {}),
        }
        self.checkout_sessions[session_id] = session
        return _Answer(200, self._public(session))

    @staticmethod
    def _line_amount(line: Any) -> tuple[int | None, str]:
        if not isinstance(line, dict) or not isinstance(line.get("price_data"), dict):
            return None, ""
        price = line["price_data"]
        unit, quantity = _integer(price.get("unit_amount")), _integer(line.get("quantity"))
        currency = price.get("currency")
        if unit is None or quantity is None or not isinstance(currency, str):
            return None, ""
        return unit * quantity, currency.lower()

    def _new_refund(self, params: Mapping[str, Any]) -> _Answer:
        charge = self._charge_of(params)
        if isinstance(charge, _Answer):
            return charge
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            return stripe_error(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _integer(params["amount"]) if "amount" in params else left
        if amount is None or amount <= 0:
            return stripe_error(
                400, "Invalid positive integer", code="parameter_invalid_integer", param="amount"
            )
        if amount > left:
            return stripe_error(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "metadata": dict(params.get("metadata") or {}),
            "reason": params.get("reason"),
            "status": "succeeded",
            "created": self._stamp(),
        }
        self.refunds[refund["id"]] = refund
        before = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.event("refund.created", refund)
        self.event("charge.refunded", charge, before)
        return _Answer(200, self._public(refund))

    def _charge_of(self, params: Mapping[str, Any]) -> StripeObject | _Answer:
        if "payment_intent" in params:
            intent = self.payment_intents.get(str(params["payment_intent"]))
            if intent is None:
                return self._missing(str(params["payment_intent"]), "payment_intent")
            return self.charges[intent["latest_charge"]]
        if "charge" in params:
            charge = self.charges.get(str(params["charge"]))
            return charge if charge is not None else self._missing(str(params["charge"]), "charge")
        return stripe_error(
            400, "One of `charge` or `payment_intent` is required.", param="payment_intent"
        )

    def _expire_session(self, session: StripeObject) -> None:
        session.update(status="expired", url=None)
        self.event("checkout.session.expired", session)

    def _found(self, objects: Mapping[str, StripeObject], request: Request) -> _Answer:
        key = request.path_params["id"]
        obj = objects.get(key)
        return _Answer(200, self._public(obj)) if obj is not None else self._missing(key)

    @staticmethod
    def _missing(key: str, param: str = "id") -> _Answer:
        return stripe_error(404, f"No such object: '{key}'", code="resource_missing", param=param)

    @staticmethod
    def _public(obj: Mapping[str, Any]) -> StripeObject:
        return {key: value for key, value in obj.items() if not key.startswith("_")}

    def _stamp(self) -> int:
        return int(self._now().timestamp())

    # ---- request plumbing ------------------------------------------------------

    async def _handle(
        self, request: Request, act: Callable[[Mapping[str, Any]], _Answer]
    ) -> Response:
        path, method = (
            request.url.path.removeprefix(request.scope.get("root_path", "")),
            request.method,
        )
        key = request.headers.get("idempotency-key") if method == "POST" else None
        try:
            body = (await request.body()).decode()
            params = parse_form(parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body)))
        except (UnicodeDecodeError, ValueError):
            params = None
        if not self._authorized(request):
            answer = stripe_error(
                401, "Invalid API Key provided: " + _masked(_presented_key(request))
            )
        elif params is None:
            answer = stripe_error(400, "Invalid form parameters.")
        else:
            answer = self._idempotent(method, path, params, key, act)
        self.calls.append(
            StripeCall(method, path, params or {}, key, answer.status, replayed=answer.replayed)
        )
        headers = {"Request-Id": _new_id("req")}
        if key is not None:
            headers["Idempotency-Key"] = key
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        task = BackgroundTask(self.flush) if self.outbox else None
        return JSONResponse(answer.body, answer.status, headers=headers, background=task)

    def _idempotent(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        key: str | None,
        act: Callable[[Mapping[str, Any]], _Answer],
    ) -> _Answer:
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        saved = self._saved.get(key) if key is not None else None
        if saved is not None:
            if saved.fingerprint != fingerprint:
                return stripe_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    kind="idempotency_error",
                )
            return _Answer(saved.status, json.loads(saved.body), replayed=True)
        fault = self.faults.next()
        answer = (
            _Answer(
                fault.status_code, json.loads(bytes(fault.body)), saved=fault.status_code >= 500
            )
            if fault is not None
            else act(params)
        )
        if key is not None and answer.saved:
            self._saved[key] = _Saved(fingerprint, answer.status, json.dumps(answer.body).encode())
        return answer

    def _authorized(self, request: Request) -> bool:
        return hmac.compare_digest(_presented_key(request), self.secret_key)


def _presented_key(request: Request) -> str:
    value = request.headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "bearer":
        return credential.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credential, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def _masked(key: str) -> str:
    return f"{key[:8]}{'*' * 12}{key[-4:]}" if len(key) > 12 else "(none)"
