"""Where delivery remembers things: a ``Store`` protocol, a null store, and the DynamoDB store."""

from trailguard.services.stores.base import (
    Claim,
    ClaimStatus,
    FailOpenStore,
    HistoryRecord,
    NullStore,
    QuietGate,
    Store,
    StoreError,
    iso,
    quiet_period_for,
)

__all__ = [
    "Claim",
    "ClaimStatus",
    "FailOpenStore",
    "HistoryRecord",
    "NullStore",
    "QuietGate",
    "Store",
    "StoreError",
    "iso",
    "quiet_period_for",
]
