"""Prefect deployments of newsflow's flows, served by ``newsflow serve`` (see serve.py)."""
