"""Per-target sink tests."""
