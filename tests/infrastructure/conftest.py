from __future__ import annotations

import pytest

from tests.infrastructure.expanded import Template, expand


@pytest.fixture(scope="module")
def template() -> Template:
    return expand({"Environment": "dev"})
