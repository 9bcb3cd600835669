"""Use cases as plain functions; the only place that commits."""
