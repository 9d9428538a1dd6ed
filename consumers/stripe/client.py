"""Stripe's API as the bookings use it: Checkout Sessions and refunds (provider-apis.md §5).

Requests are form-encoded with Stripe's nested `a[b][0]=c` keys and authorized with the
secret key as a bearer token. Every create carries the caller's `Idempotency-Key`, so
retrying it (after a timeout, a 5xx or a crash) never charges or refunds twice: Stripe
answers the saved result of the first request with that key. The client does not retry
itself; the caller retries with the same key.

`StripeError.code` is stable: `unauthorized` (401, 403), `rate_limited` (429, and 409:
a request with the same key is still executing; both are worth retrying later),
`idempotency_mismatch` (the key was used with other parameters), `invalid_request`
(another 4xx: Stripe's own error code is kept in `stripe_code`) or `unreachable`
(connection failures, timeouts, 5xx, an answer that is not the object). Messages never
hold the secret key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

FormValue = str | int | bool | None | Mapping[str, Any] | list[Any]


class StripeError(Exception):
    """A Stripe call failed: a stable `code`, Stripe's HTTP `status` (None: no answer)
    and one sentence."""

    def __init__(
        self, code: str, status: int | None, detail: str, *, stripe_code: str | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status
        self.detail = detail
        self.stripe_code = stripe_code
        """Stripe's `error.code` (e.g. `amount_too_large`), where it gave one."""

    def __repr__(self) -> str:
        return f"StripeError(code={self.code!r}, status={self.status!r}, detail={self.detail!r})"


class StripeObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CheckoutSession(StripeObject):
    id: str
    url: str | None = None
    """Where to send the customer; None once the session is complete or expired."""
    status: str | None = None
    """`open`, `complete` or `expired`."""
    payment_status: str | None = None
    """`paid`, `unpaid` or `no_payment_required`."""
    amount_total: int | None = None
    currency: str | None = None
    client_reference_id: str | None = None
    payment_intent: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    expires_at: int | None = None


class Refund(StripeObject):
    id: str
    status: str | None = None
    """`pending`, `requires_action`, `succeeded`, `failed` or `canceled`."""
    amount: int
    currency: str | None = None
    payment_intent: str | None = None
    charge: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


_Object = TypeVar("_Object", bound=StripeObject)


def form_encode(params: Mapping[str, FormValue]) -> list[tuple[str, str]]:
    """Stripe's form encoding: `{"a": {"b": [{"c": 1}]}}` is `a[b][0][c]=1`; None is left out."""
    return list(_pairs(params, ""))


def _pairs(value: FormValue, prefix: str) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _pairs(item, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _pairs(item, f"{prefix}[{index}]")
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    else:
        yield prefix, str(value)


class StripeClient:
    """Calls to Stripe with one account's secret key (`sk_…` or a restricted `rk_…`)."""

    def __init__(self, http: httpx.AsyncClient, *, secret_key: str, api_base: str) -> None:
        self._http = http
        self._secret_key = secret_key
        self._base = api_base.rstrip("/")

    def __repr__(self) -> str:
        return f"StripeClient(api_base={self._base!r})"

    async def create_checkout_session(
        self,
        *,
        amount: int,
        currency: str,
        success_url: str,
        cancel_url: str,
        client_reference_id: str,
        metadata: Mapping[str, str],
        expires_at: int | None,
        idempotency_key: str,
        product_name: str = "Booking",
    ) -> CheckoutSession:
        """A one-line `mode=payment` session; `metadata` goes on the session and on its
        PaymentIntent (Stripe does not copy it across)."""
        params: dict[str, FormValue] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount,
                        "product_data": {"name": product_name},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "metadata": dict(metadata),
            "payment_intent_data": {"metadata": dict(metadata)},
            "expires_at": expires_at,
        }
        return await self._create("/v1/checkout/sessions", params, idempotency_key, CheckoutSession)

    async def create_refund(
        self,
        *,
        payment_intent: str,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        """Refund `amount` (None: all that is left) of a PaymentIntent's charge."""
        params: dict[str, FormValue] = {
            "payment_intent": payment_intent,
            "amount": amount,
            "metadata": dict(metadata) if metadata else None,
        }
        return await self._create("/v1/refunds", params, idempotency_key, Refund)

    async def _create(
        self,
        path: str,
        params: Mapping[str, FormValue],
        idempotency_key: str,
        model: type[_Object],
    ) -> _Object:
        headers = {
            "Authorization": f"Bearer {self._secret_key}",
            "Idempotency-Key": idempotency_key,
            "Accept": "application/json",
        }
        try:
            response = await self._http.post(
                self._base + path, data=dict(form_encode(params)), headers=headers
            )
        except httpx.HTTPError as exc:
            raise StripeError(
                "unreachable", None, f"Stripe could not be reached ({type(exc).__name__})."
            ) from None
        _raise_for(response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            raise StripeError(
                "unreachable",
                response.status_code,
                f"Stripe answered something that is not a {model.__name__}.",
            ) from None


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    error = _error_body(response)
    kind, stripe_code = error.get("type"), error.get("code")
    code_text = stripe_code if isinstance(stripe_code, str) else None
    if status in (401, 403):
        raise StripeError("unauthorized", status, f"Stripe refused the secret key ({status}).")
    if status == 429:
        raise StripeError("rate_limited", status, "Stripe asked to slow down (429).")
    if status == 409:
        raise StripeError(
            "rate_limited",
            status,
            "Stripe is still executing a request with this Idempotency-Key (409); retry later.",
            stripe_code=code_text,
        )
    if status >= 500:
        raise StripeError("unreachable", status, f"Stripe answered {status}.")
    if kind == "idempotency_error":
        raise StripeError(
            "idempotency_mismatch",
            status,
            "Stripe refused the request: its Idempotency-Key was used with other parameters.",
            stripe_code=code_text,
        )
    message = error.get("message")
    said = f": {message}" if isinstance(message, str) and message else ""
    raise StripeError(
        "invalid_request",
        status,
        f"Stripe refused the request ({status}){said}",
        stripe_code=code_text,
    )


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
