"""Agreement between methods: known answers."""

from __future__ import annotations

import numpy as np

from encoder.analysis import method_agreement


def test_agreement_known_answers():
    rows = np.array([[0.5, 0.3, 0.1, 0.1],
                     [0.4, 0.35, 0.15, 0.1],
                     [0.1, 0.2, 0.3, 0.4]])
    result = method_agreement(rows, k=2)
    np.testing.assert_array_equal(result.top, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(result.agreed, [False, False, False, False])
    np.testing.assert_allclose(result.overlap, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(np.diag(result.correlations), 1)
    assert result.correlations[0, 1] > 0.9 and result.correlations[0, 2] < -0.9


def test_two_methods_that_agree():
    rows = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]])
    result = method_agreement(rows, k=1)
    np.testing.assert_array_equal(result.agreed, [True, False, False])
    np.testing.assert_allclose(result.correlations, [[1, 1], [1, 1]])
