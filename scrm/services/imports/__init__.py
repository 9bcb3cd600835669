"""File imports from the dealer system: read, validate, upsert, report (see run.import_customers)."""

from scrm.services.imports.readers import UnreadableFile
from scrm.services.imports.run import (
    ImportSummary,
    find_dealer,
    import_customers,
    import_repair_orders,
    load_header_map,
)

__all__ = ["ImportSummary", "UnreadableFile", "find_dealer", "import_customers", "import_repair_orders",
           "load_header_map"]
