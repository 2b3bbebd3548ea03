"""Application core: settings, admin auth and HTTP middleware shared by every layer."""
