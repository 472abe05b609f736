"""The one result store: Parquet tables + named arrays + metadata, written atomically.

>>> from typicality_ntk import store
>>> df = store.load("outputs/store", experiment="page_curve")
"""

from typicality_ntk.store._entry import (
    NON_SEMANTIC_KEYS,
    STORE_LINK,
    config_hash,
    entry_dir,
    find_entry,
    flatten_config,
    link_run_dir,
    write_entry,
)
from typicality_ntk.store._load import (
    ArrayRecord,
    StoreWarning,
    find_entries,
    load,
    load_arrays,
    read_meta,
)
from typicality_ntk.store._verify import check_entry

__all__ = [
    "NON_SEMANTIC_KEYS",
    "STORE_LINK",
    "ArrayRecord",
    "StoreWarning",
    "check_entry",
    "config_hash",
    "entry_dir",
    "find_entries",
    "find_entry",
    "flatten_config",
    "link_run_dir",
    "load",
    "load_arrays",
    "read_meta",
    "write_entry",
]
