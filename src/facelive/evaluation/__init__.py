"""Measuring accuracy the ISO/IEC 30107-3 way: metrics, a manifest runner, plots."""
