"""A platform API on a loopback port (see `demo.sandbox`, which the demo uses too)."""
from demo.sandbox import FakePlatformAPI, PlatformSandbox, RecordedRequest, route_key

__all__ = ["FakePlatformAPI", "PlatformSandbox", "RecordedRequest", "route_key"]
