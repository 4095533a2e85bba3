"""Public test kit: a loopback Store SCP, a fake clock and a mock transport.

Only :mod:`dcm_exporter.testing.scp` imports pynetdicom, and only when a :class:`StoreSCP` is
started, so importing this package stays cheap.
"""

from __future__ import annotations

from dcm_exporter.testing.clock import FakeClock
from dcm_exporter.testing.mock import MockTransport, complete_all
from dcm_exporter.testing.scp import ReceivedInstance, StoreRequest, StoreSCP

__all__ = ["FakeClock", "MockTransport", "ReceivedInstance", "StoreRequest", "StoreSCP", "complete_all"]
