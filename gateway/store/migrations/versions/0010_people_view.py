"""One person per phone: the `people` view over members and contacts.

A messaging product asks first "who is +15550102030?". The view answers per tenant
and E.164 phone with the Planning Center member and the HighLevel contact that carry
it, live rows only (tombstones are left out). The phones come from a union rather
than a FULL OUTER JOIN so the same SQL runs on SQLite and PostgreSQL; a phone two
members share gives one row per member (and per contact).

Revision ID: 0010_people_view
Revises: 0009_syncs
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_people_view"
down_revision: str | None = "0009_syncs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE = """
CREATE VIEW people AS
WITH live_members AS (
    SELECT tenant, phone, pco_person_id, first_name, last_name, email
    FROM members
    WHERE deleted_at IS NULL AND phone IS NOT NULL
), live_contacts AS (
    SELECT tenant, phone, ghl_contact_id, first_name, last_name, email
    FROM contacts
    WHERE deleted_at IS NULL AND phone IS NOT NULL
), phones AS (
    SELECT tenant, phone FROM live_members
    UNION
    SELECT tenant, phone FROM live_contacts
)
SELECT
    phones.tenant AS tenant,
    phones.phone AS phone,
    m.pco_person_id AS pco_person_id,
    m.first_name AS member_first_name,
    m.last_name AS member_last_name,
    m.email AS member_email,
    c.ghl_contact_id AS ghl_contact_id,
    c.first_name AS contact_first_name,
    c.last_name AS contact_last_name,
    c.email AS contact_email
FROM phones
LEFT JOIN live_members AS m ON m.tenant = phones.tenant AND m.phone = phones.phone
LEFT JOIN live_contacts AS c ON c.tenant = phones.tenant AND c.phone = phones.phone
"""


def upgrade() -> None:
    op.execute(PEOPLE)


def downgrade() -> None:
    op.execute("DROP VIEW people")
