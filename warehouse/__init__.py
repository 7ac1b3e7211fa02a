"""The DuckDB warehouse: migrations, analyst views, the schema reference and the loader."""
