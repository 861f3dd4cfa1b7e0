"""Opening the key store from settings: server key, cipher, database URL, schema."""

from __future__ import annotations

from facelive.auth.secrets import SecretCipher, load_or_create_server_key
from facelive.auth.store import KeyStore
from facelive.settings import Settings


def open_key_store(settings: Settings) -> KeyStore:
    """A ready key store (schema created if needed) for these settings."""
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    cipher = SecretCipher(load_or_create_server_key(settings.data_dir, configured))
    url = KeyStore.url_for(settings.data_dir, settings.database_url)
    store = KeyStore(url, cipher, recent_kept=settings.recent_requests)
    store.create_schema()
    return store
