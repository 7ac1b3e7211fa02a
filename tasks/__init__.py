"""The pipeline's stages: plain typed functions over bytes, str and rows.

Each stage module keeps its logic in pure functions; the thin Prefect ``@task`` wrappers
live beside them so that flows only wire stages together.
"""
