"""The local two-region sandbox (docs/sandbox.md), under the thin launcher sandbox/sandbox."""
