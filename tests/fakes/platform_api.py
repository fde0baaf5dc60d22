"""A platform API on a loopback port (see `invoicing.sandbox`, which the demo uses too)."""
from invoicing.sandbox import FakePlatformAPI, PlatformSandbox, RecordedRequest, route_key

__all__ = ["FakePlatformAPI", "PlatformSandbox", "RecordedRequest", "route_key"]
