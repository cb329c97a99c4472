"""Every domain's tables in one metadata: what the migrations describe (Alembic's target).

Above the domains on purpose: the store itself never loads them all (a store helper
process loads only the tables of the domain that runs it).
"""

from omnigw.cbc import models as cbc_models
from omnigw.crm import models as crm_models
from omnigw.identity import models as identity_models
from omnigw.ocs import models as ocs_models
from omnigw.store.base import Base

metadata = Base.metadata

__all__ = ["cbc_models", "crm_models", "identity_models", "metadata", "ocs_models"]
