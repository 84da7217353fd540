"""Script arguments carry floats as 17 significant digits: always the same double read back."""

from __future__ import annotations

import math
import random

from flowgen.stores.redis_wire import num


def test_every_float_reads_back_as_the_same_double() -> None:
    rng = random.Random(22)
    values = [rng.random() * 10 ** rng.randint(-9, 12) for _ in range(20_000)]
    values += [1796173040.3896651 + index / 7 for index in range(1000)]
    assert all(float(num(value)) == value for value in values)


def test_texts_are_seventeen_digits_and_integral_values_have_no_point() -> None:
    assert num(0.1) == "0.10000000000000001"
    assert num(604800.0) == num(604800) == "604800"
    assert num("1796778596.5247438") == "1796778596.5247438"  # a text already printed
    assert num(math.inf) == "inf" and num(-math.inf) == "-inf"
