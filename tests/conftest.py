import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train faster on one thread than on two competing with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium for the checks a reader's browser makes: skipped where there is none, a failure
    where $MINISAGAN_REQUIRE_BROWSER says there must be one (CI installs it)."""
    import os

    from minisagan.bookbuild.browser import REQUIRE_ENV, find_browser

    if find_browser() is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but no Chromium is installed (apt-get install chromium)")
        pytest.skip("no Chromium here: the browser checks need one (CI installs it)")
