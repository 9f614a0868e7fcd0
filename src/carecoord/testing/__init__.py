"""Test support shared by every app's tests: factories, the access matrix, browser helpers."""
