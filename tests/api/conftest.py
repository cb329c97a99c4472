"""API tests run on SQLite only: API behaviour does not depend on the store backend."""

from __future__ import annotations

import pytest

from tests.support.api import sqlite_store_url

store_url = pytest.fixture(sqlite_store_url)
