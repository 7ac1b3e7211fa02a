"""newsflow: an event-driven news ingestion pipeline (Prefect 3, trafilatura, DuckDB)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

PROJECT_URL = "https://github.com/newsflow/newsflow"

__all__ = ["PROJECT_URL", "__version__"]
