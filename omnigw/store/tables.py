"""Imports every domain's table module so `Base.metadata` is complete for Alembic."""

from omnigw.identity import models as identity_models
from omnigw.store.base import Base

metadata = Base.metadata

__all__ = ["identity_models", "metadata"]
