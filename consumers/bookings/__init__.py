"""Bookings and payments: a booking's state derived from the facts Calendly and Stripe show."""
