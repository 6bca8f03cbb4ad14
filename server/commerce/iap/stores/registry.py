"""Which app stores this deployment has, built once per runtime from settings.

One set per runtime, so the Google Play access token fetched by one request is reused by the
next and by the worker's acknowledgements, and goes away with the runtime.
"""

from __future__ import annotations

import weakref

from server.commerce.iap.stores.apple import AppStore
from server.commerce.iap.stores.base import Store, StoreDisabled
from server.commerce.iap.stores.google import GooglePlay
from server.runtime import Runtime
from server.settings import Settings

_BUILT: weakref.WeakKeyDictionary[Runtime, dict[str, Store]] = weakref.WeakKeyDictionary()


def build(settings: Settings) -> dict[str, Store]:
    """Every store whose keys are configured."""
    found: dict[str, Store] = {}
    if settings.app_store_bundle_id and settings.app_store_root_certificates:
        found["app_store"] = AppStore(settings)
    if settings.google_play_package_name and settings.google_play_private_key:
        found["google_play"] = GooglePlay(settings)
    return found


def stores(runtime: Runtime) -> dict[str, Store]:
    """The runtime's stores (built on first use)."""
    found = _BUILT.get(runtime)
    if found is None:
        found = _BUILT[runtime] = build(runtime.settings)
    return found


def store(runtime: Runtime, name: str) -> Store:
    """One enabled store; StoreDisabled when this deployment does not have it."""
    found = stores(runtime).get(name)
    if found is None:
        raise StoreDisabled()
    return found
