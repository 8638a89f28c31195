import pytest

from bench.draft_decode import median_ms, summarize


def test_summary_counts_top1_flips_and_the_largest_class_change_per_image() -> None:
    full = [{"nv": 0.9, "mel": 0.1}, {"nv": 0.45, "mel": 0.55}, {"nv": 0.2, "mel": 0.8}]
    drafted = [{"nv": 0.88, "mel": 0.12}, {"nv": 0.6, "mel": 0.4}, {"nv": 0.2, "mel": 0.8}]
    figures = summarize(full, drafted)
    assert figures["top1_differ"] == 1
    assert figures["top1_agreement"] == pytest.approx(2 / 3)
    assert figures["max_abs_diff"] == pytest.approx(0.15)
    assert figures["median_abs_diff"] == pytest.approx(0.02)


def test_identical_answers_agree_fully() -> None:
    answers = [{"nv": 0.7, "mel": 0.3}]
    assert summarize(answers, answers) == {
        "images": 1,
        "top1_differ": 0,
        "top1_agreement": 1.0,
        "max_abs_diff": 0.0,
        "median_abs_diff": 0.0,
    }


@pytest.mark.parametrize(("full", "drafted"), [([], []), ([{"nv": 1.0}], [])])
def test_summary_refuses_mismatched_or_empty_answers(full: list, drafted: list) -> None:
    with pytest.raises(ValueError):
        summarize(full, drafted)


def test_median_ms_times_every_stage_in_turn() -> None:
    seen = []
    assert median_ms(3, lambda: 2, lambda x: x * 5, seen.append) >= 0
    assert seen == [10, 10, 10]
