"""facelive's benchmark suite: ``python -m bench`` (or ``facelive bench``) from the repo root.

In-process stage timings on a fixed set of images, the same images through a straightforward
reference implementation, and HTTP throughput and latency against a real ``facelive serve``
driven by a load generator in its own process. See docs/performance.md.
"""
