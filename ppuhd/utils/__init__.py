"""Logging, distributed helpers, seeding and image I/O."""
