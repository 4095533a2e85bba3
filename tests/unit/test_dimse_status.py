"""The one classification of DIMSE statuses (PS3.7 Annex C) that the transport, the actions and the test kit use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dcm_exporter._dicom.status import (
    StatusCategory,
    is_performed,
    status_category,
    status_meaning,
    status_text,
)

S, W, F, P, C = (StatusCategory.SUCCESS, StatusCategory.WARNING, StatusCategory.FAILURE, StatusCategory.PENDING,
                 StatusCategory.CANCEL)


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (0x0000, S),
        # the warnings of PS3.7 Annex C, and their neighbours
        (0x0001, W), (0x0002, F),
        (0x0106, F), (0x0107, W), (0x0108, F),
        (0x0115, F), (0x0116, W), (0x0117, F),
        (0xAFFF, F), (0xB000, W), (0xB006, W), (0xB007, W), (0xBFFF, W), (0xC000, F),
        # failures: the ranges of PS3.4 B.2.3 at both ends, the general codes
        (0xA6FF, F), (0xA700, F), (0xA7FF, F), (0xA900, F), (0xA9FF, F), (0xCFFF, F),
        (0x0110, F), (0x0112, F), (0x0122, F), (0x0124, F), (0x0210, F), (0x0213, F),
        # pending and cancel, and the codes around them
        (0xFEFF, F), (0xFE00, C), (0xFE01, F), (0xFF00, P), (0xFF01, P), (0xFF02, F), (0xFFFF, F),
        (0xD000, F), (0x9000, F), (0x3000, F),
    ],
)
def test_status_category_follows_ps3_7_annex_c(status: int, category: StatusCategory) -> None:
    assert status_category(status) is category
    assert is_performed(status) is (category in (S, W))


#: every status PS3.4 B.2.3 lets a C-STORE SCP answer with
C_STORE_STATUSES = st.one_of(
    st.sampled_from([0x0000, 0xB000, 0xB006, 0xB007, 0x0117, 0x0122, 0x0124, 0x0210, 0x0211, 0x0212]),
    st.integers(0xA700, 0xA7FF), st.integers(0xA900, 0xA9FF), st.integers(0xC000, 0xCFFF),
)


@given(C_STORE_STATUSES)
def test_for_c_store_statuses_the_tally_agrees_with_upstreams_mask(status: int) -> None:
    # dcm4chee-arc: 0x0000 completed, (status & 0xB000) == 0xB000 warning, anything else failed
    upstream = S if status == 0 else W if status & 0xB000 == 0xB000 else F
    assert status_category(status) is upstream


@pytest.mark.parametrize(
    ("status", "upstream", "ours"),
    [(0x0001, F, W), (0x0107, F, W), (0x0116, F, W), (0xFF00, W, P), (0xFE00, W, C), (0xF000, W, F)],
)
def test_where_upstreams_mask_differs_none_is_a_c_store_status(
    status: int, upstream: StatusCategory, ours: StatusCategory
) -> None:
    # the rows of deviations.md: codes no C-STORE SCP may send
    assert (S if status == 0 else W if status & 0xB000 == 0xB000 else F) is upstream
    assert status_category(status) is ours


def test_meanings_and_text() -> None:
    assert status_meaning(0xA700) == status_meaning(0xA7FE) == "Out of Resources"  # the family's meaning
    assert status_meaning(0xA9A9) == "Data Set does not match SOP Class"
    assert status_meaning(0xC0DE) == "Cannot understand"
    assert status_meaning(0xB001) == ""  # 0xBxxx has no family meaning
    assert status_meaning(0xAFFF) == ""
    assert status_text("C-STORE", 0xA700, "disk full") == "C-STORE status 0xA700 (Out of Resources): disk full"
    assert status_text("N-ACTION", 0x0110) == "N-ACTION status 0x0110 (Processing failure)"
    assert status_text("N-CREATE", 0x9999) == "N-CREATE status 0x9999"
