"""The explicit table of rule types: the one place that lists them."""

from __future__ import annotations

from .base import RuleType
from .rate_of_change import RULE_TYPE as RATE_OF_CHANGE
from .threshold import RULE_TYPE as THRESHOLD
from .volume_spike import RULE_TYPE as VOLUME_SPIKE

RULE_TYPES: dict[str, RuleType] = {
    THRESHOLD.name: THRESHOLD,
    RATE_OF_CHANGE.name: RATE_OF_CHANGE,
    VOLUME_SPIKE.name: VOLUME_SPIKE,
}
