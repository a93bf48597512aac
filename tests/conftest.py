"""Fixtures shared across the test files.

``tiny_segmenter`` is each of the repo's own ``configs/shapes/*_tiny_shapes.py`` models with seeded weights and
no pretrained backbone (ISTR with a seeded PCA codec), built as `tests/behaviour_record.py` builds them, so the
contract tests (`test_segmenter_contract.py`) run on the configs users train. Small inputs with known targets
are in `tests/inputs.py`.
"""
import logging

import pytest

SEGMENTER_CONFIGS = ("queryinst_tiny_shapes", "istr_tiny_shapes", "solq_tiny_shapes")


@pytest.fixture(scope="module", params=SEGMENTER_CONFIGS)
def tiny_segmenter(request):
    """Each segmenter of the shapes configs, seeded (one model per module and config)."""
    from behaviour_record import seeded_model

    return seeded_model(request.param)


@pytest.fixture(autouse=True)
def _restore_vis_logger():
    """The trainer installs handlers on the 'vis' logger; undo that so other test files see plain logging."""
    yield
    vis_logger = logging.getLogger("vis")
    for handler in list(vis_logger.handlers):
        vis_logger.removeHandler(handler)
        handler.close()
    vis_logger.propagate = True
    vis_logger.setLevel(logging.NOTSET)
