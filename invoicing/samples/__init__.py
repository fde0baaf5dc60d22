"""Realistic, correctly signed platform requests for the demo, the benchmark and the tests.

`SAMPLES` maps a platform to a builder: ``builder(n, rng, secret) -> SampleOrder``,
where *n* numbers the order and *rng* is a seeded `random.Random`.
"""
from __future__ import annotations

from invoicing.samples.base import SampleOrder, SampleRequest, SampleSecrets
from invoicing.samples.shopify import shopify_order

__all__ = ["SAMPLES", "SampleOrder", "SampleRequest", "SampleSecrets"]

SAMPLES = {
    "shopify": shopify_order,
}
