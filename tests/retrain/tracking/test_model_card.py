from retrain.tracking.model_card import DESCRIPTION_LIMIT, fit_description


def test_a_card_that_fits_is_the_description_whole():
    card = "# m, version 1\n\n### Metrics per slice\n\n| slice |\n| --- |\n| a |\n"
    assert fit_description(card) == card


def test_a_card_without_a_slice_table_or_line_breaks_is_cut_to_the_limit_and_says_so():
    written = fit_description("x" * 12_000)
    assert len(written) <= DESCRIPTION_LIMIT and written.startswith("xxx")
    assert written.endswith("the whole card is the run's `model_card.md`._")
