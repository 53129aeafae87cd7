"""Test doubles for the services executus talks to."""
