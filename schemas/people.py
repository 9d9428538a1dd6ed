"""The `people` view: per tenant and E.164 phone, the PCO member and GHL contact.

Migration `0010_people_view` creates it; this definition is what code queries. It
sits on its own `MetaData` so `create_all` and the schema diff never treat it as a
table.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

view_metadata = MetaData()

people = Table(
    "people",
    view_metadata,
    Column("tenant", String(200)),
    Column("phone", String(32)),
    Column("pco_person_id", String(64)),
    Column("member_first_name", String(200)),
    Column("member_last_name", String(200)),
    Column("member_email", String(320)),
    Column("ghl_contact_id", String(64)),
    Column("contact_first_name", String(200)),
    Column("contact_last_name", String(200)),
    Column("contact_email", String(320)),
)
