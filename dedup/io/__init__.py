"""Reading documents in and writing results out."""

from __future__ import annotations

from .readers import read_inputs

__all__ = ["read_inputs"]
