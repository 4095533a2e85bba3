"""Throwaway real servers for the test suite: slapd, DCMTK storescp, Orthanc, PostgreSQL.

Each server binds a free port on 127.0.0.1, keeps its data in a temp directory and is stopped
(its whole process group) when the fixture ends. The pytest fixtures live in ``tests/conftest.py``;
this package holds the implementations so they can also be used from benchmarks and scripts.
"""
