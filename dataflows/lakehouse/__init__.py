"""The lakehouse: per-symbol Parquet bars, a SQLite registry with fetch leases, quarantine and metadata."""
