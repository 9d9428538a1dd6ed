"""Serve every provider emulator on one port, for hookgate's development mode.

    python -m tests.emulators.serve --port 8070 [--people 250] [--client-id ID ...]

Each provider lives under its own prefix (/pco, /ghl, /calendly, /google, /stripe) with
a little seed data and one account to connect as (Stripe: its test secret key). No
consent is decided beforehand, so the authorize page asks in the browser (approve as the
seeded account, or deny). The settings to point hookgate at the emulators are printed
first, as `export` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn

from tests.emulators.suite import PATHS, ProviderEmulators


async def seed(emulators: ProviderEmulators, people: int) -> None:
    """One account per provider with `people` people / contacts / events."""
    pco, ghl, calendly, google = (
        emulators.pco,
        emulators.ghl,
        emulators.calendly,
        emulators.google,
    )
    church = pco.add_organization("Grace Community Church")
    pco.account(church, "pco-admin")
    pco.add_people(church, people)
    location = ghl.add_location("Acme Dental")
    ghl.account(location, "ghl-admin")
    ghl.add_contacts(location, people)
    org = calendly.add_organization("Acme Scheduling")
    owner = calendly.add_user(org, "Olivia Owner")
    calendly.account(owner)
    tomorrow = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    calendly.add_events(owner, min(people, 50), tomorrow)
    google.account()
    for n in range(min(people, 20)):
        await google.create_event("primary", summary=f"Appointment {n}", start=tomorrow)


async def post_delivery(url: str, headers: dict[str, str], body: bytes) -> int:
    """Post a provisioned subscription's delivery to hookgate, as the provider would."""
    async with httpx.AsyncClient(timeout=15) as client:
        try:
            return (await client.post(url, headers=headers, content=body)).status_code
        except httpx.HTTPError:
            return 599


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8070)
    parser.add_argument("--people", type=int, default=25, help="records seeded per provider")
    args = parser.parse_args(argv)
    emulators = ProviderEmulators()
    emulators.served_at(f"http://{args.host}:{args.port}")
    emulators.pco.deliver = emulators.calendly.deliver = emulators.stripe.deliver = post_delivery
    asyncio.run(seed(emulators, args.people))
    for name, value in emulators.settings().items():
        sys.stdout.write(f"export {name}={value}\n")
    sys.stdout.write(f"# stripe secret key: {emulators.stripe.secret_key}\n")
    sys.stdout.write(f"# providers: {', '.join(PATHS)}, stripe; Ctrl-C stops the emulators\n")
    sys.stdout.flush()
    uvicorn.run(emulators.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
