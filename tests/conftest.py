"""Settings shared by the whole test suite."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    """Point dlzero's data cache at a temporary folder for the whole session.

    Tests, and the commands they start, must never write into the user's own cache
    (``~/.cache/dlzero``). Tests that need a cache of their own still set ``XDG_CACHE_HOME``
    themselves; ``DLZERO_DATA`` is cleared so a developer's setting cannot change what is read.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        mp.delenv("DLZERO_DATA", raising=False)
        yield
