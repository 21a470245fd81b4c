"""Implementation of sandbox/sandbox (see docs/sandbox.md)."""
