"""Whether a configuration is the packaged demo partnership, the only one its published
demo keys and accounts may exist with."""

from __future__ import annotations

from functools import cache

from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.settings import DEMO_CONFIG_DIR, Settings


@cache
def _packaged() -> tuple[str, frozenset[tuple[str, str, str]]]:
    return _identity(load_configuration(DEMO_CONFIG_DIR))


def _identity(config: RoutingConfiguration) -> tuple[str, frozenset[tuple[str, str, str]]]:
    return config.hub, frozenset((o.id, o.name, o.kind.value) for o in config.organisations)


def is_demo_configuration(source: Settings | RoutingConfiguration) -> bool:
    """True when the configuration (or the one settings point at) is the packaged demo
    partnership: the same hub and exactly the same organisations (ids, names and kinds).

    Rules, agreements and contacts may be edited (to try the demo out) and it stays the
    demo; a partnership's own organisations, even one sharing a demo id, never match, so
    published demo credentials can never act for them."""
    if isinstance(source, Settings):
        try:
            config = load_configuration(source.config_dir)
        except ConfigurationError:
            return False
    else:
        config = source
    return _identity(config) == _packaged()
