"""RudderStack events in, Braze REST requests out: the domain of the bridge, free of any Lambda concern."""

from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.config import BrazeSettings, ConfigError, TrackBatchRule, load_settings
from rudder_braze.errors import EventError
from rudder_braze.mapping.transform import transform_event

__all__ = [
    "BrazeRequest",
    "BrazeSettings",
    "ConfigError",
    "EventError",
    "TrackBatchRule",
    "load_settings",
    "transform_event",
]
