"""Prefect flows: wiring, retries and concurrency only; the logic lives in ``tasks``."""
