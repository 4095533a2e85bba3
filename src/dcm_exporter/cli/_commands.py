"""Registers every sub-command of ``dcm-exporter`` (each lives in its own module of this package)."""

from __future__ import annotations

import argparse

from dcm_exporter.cli import _coercion_cmds, _config_cmds, _demo, _queue_cmds, _resource_cmds, _serve_cmds

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-commands to the top-level parser's sub-parsers."""
    _demo.register(sub)
    _config_cmds.register(sub)
    _resource_cmds.register(sub)
    _coercion_cmds.register(sub)
    _queue_cmds.register(sub)
    _serve_cmds.register(sub)
