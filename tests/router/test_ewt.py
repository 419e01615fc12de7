from __future__ import annotations

import pytest

from router.ewt import estimate_wait, service_level, service_rate

NOW = 10_000_000
WINDOW = 600_000


def test_no_data_means_unknown():
    assert estimate_wait(0, [], NOW, WINDOW) is None
    assert service_rate([NOW - 1000, NOW - 2000], NOW, WINDOW) is None


def test_free_agents_mean_no_wait():
    assert estimate_wait(2, [], NOW, WINDOW, free_agents=3) == 0.0


@pytest.mark.parametrize(("position", "expected"), [(0, 10.0), (4, 50.0)])
def test_wait_from_rate(position, expected):
    answered = [NOW - 10_000 * i for i in range(1, 11)]  # 10 answers over 100 s
    assert estimate_wait(position, answered, NOW, WINDOW) == pytest.approx(expected)


def test_old_answers_do_not_count():
    answered = [NOW - WINDOW - 1] * 10
    assert estimate_wait(0, answered, NOW, WINDOW) is None


def test_service_level():
    assert service_level([], 20) is None
    assert service_level([1000, 19_000, 25_000, 40_000], 20) == 0.5
