"""Data: containers, readers, preprocessing, splits and synthetic data."""

from nprec.data.containers import IdMap, Interactions, Sessions

__all__ = ["IdMap", "Interactions", "Sessions"]
