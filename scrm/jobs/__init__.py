"""The scheduler's job table and thin job functions."""
