"""Meter values kept while a transaction runs, for the message that ends it: the same
policy for both protocols.

1.6: StopTxnSampledData every MeterValueSampleInterval and StopTxnAlignedData every
ClockAlignedDataInterval go in StopTransaction.transactionData (1.6 §9.1, OCA TC_019-
keys, §4.10). 2.0.1: SampledDataCtrlr / AlignedDataCtrlr TxEndedMeasurands every
TxEndedInterval go in the Ended TransactionEvent's meterValue (J01, J02; OCA TC_J_03_CS,
TC_J_10_CS). Each kept value is a MeterValue (`timestamp`, `sampledValue`); they are sent
in time order, before the Transaction.End value.
"""

from __future__ import annotations

from typing import Any

# bounds the ending message (2.0.1 BytesPerMessage, a CSMS's frame limit): at a 60 s
# interval, 100 minutes of periodic and of clock-aligned values each
MAX_ENDED_VALUES = 200


def keep_for_end(kept: list[dict[str, Any]], meter: dict[str, Any] | None) -> None:
    """Add a MeterValue (None: nothing to keep) to `kept`; the newest MAX_ENDED_VALUES
    stay."""
    if meter is not None and meter.get("sampledValue"):
        kept.append(meter)
        del kept[:-MAX_ENDED_VALUES]


def in_time_order(kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kept values sorted by timestamp (ISO 8601 UTC strings of one format)."""
    return sorted(kept, key=lambda meter: meter["timestamp"])
