"""Temporal activities: the only place where a session touches the database or WhatsApp."""
