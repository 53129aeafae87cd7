"""executus test suite."""
