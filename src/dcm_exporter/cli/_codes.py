"""Exit codes of ``dcm-exporter`` (conventional: 0 ok, 1 did not succeed, 2 usage / bad input, 130 Ctrl-C)."""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

#: The command did what was asked.
EXIT_OK = 0
#: The operation ran but did not succeed (an export not COMPLETED, validation errors, a failed C-ECHO).
EXIT_FAILED = 1
#: Wrong usage or bad input (options, configuration, schedule, LDIF).
EXIT_USAGE = 2
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130
