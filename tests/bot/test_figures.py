"""Numbers, amounts and names in free text: magnitude words, separators, table units, likely names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.figures import Figure, figures, names, normalise_text, words


def _values(text: str) -> list[Decimal]:
    return [figure.value for figure in figures(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("£750 million", Decimal(750_000_000)),
        ("£750m", Decimal(750_000_000)),
        ("750,000,000", Decimal(750_000_000)),
        ("$3.2 billion", Decimal("3.2e9")),
        ("£1.5bn", Decimal("1.5e9")),
        ("59%", Decimal(59)),
        ("12 thousand", Decimal(12_000)),
    ],
)
def test_amounts_are_read_with_their_magnitude(text: str, value: Decimal) -> None:
    assert _values(text) == [value]


def test_the_three_spellings_of_one_amount_agree() -> None:
    (words_, letter, digits) = (figures(t)[0] for t in ("£750 million", "£750m", "750,000,000"))
    assert words_.value == letter.value == digits.value
    assert words_.is_stated_by(letter) and letter.is_stated_by(digits) and digits.is_stated_by(words_)


def test_decimals_and_text_are_kept() -> None:
    (figure,) = figures("revenue of $3.2 billion")
    assert (figure.mantissa, figure.decimals, figure.exponent) == (Decimal("3.2"), 1, 9)
    assert figure.text == "3.2 billion"


def test_a_date_gives_its_day_and_year() -> None:
    assert _values("It started on 1 August 2015.") == [Decimal(1), Decimal(2015)]


def test_a_spaced_m_is_not_millions() -> None:
    (spaced,) = figures("a pitch 5 m wide")
    assert spaced.value == 5 and spaced.exponent == 0
    (glued,) = figures("£5m")
    assert glued.value == 5_000_000


def test_numbers_inside_words_and_versions_are_not_split_off() -> None:
    assert figures("model A320neo") == []
    assert _values("version 2.5.1") == [Decimal("2.5")]  # the trailing ".1" follows a dot: not a number


def test_table_units_let_a_page_in_millions_state_an_answer_in_billions() -> None:
    (answer,) = figures("$3.2 billion")
    (page,) = figures("Total revenue 3,208")
    assert answer.is_stated_by(page)  # 3,208 (in millions) rounds to 3.2 billion
    assert not answer.is_stated_by(page, table_units=False)


def test_rounding_follows_the_decimals_the_answer_shows() -> None:
    (rounded,) = figures("$3.2 billion")
    assert rounded.is_stated_by(figures("$3,249 million")[0], table_units=False)
    assert not rounded.is_stated_by(figures("$3,251 million")[0], table_units=False)
    (exact,) = figures("$3.21 billion")
    assert not exact.is_stated_by(figures("$3,249 million")[0], table_units=False)


def test_a_different_number_is_not_stated() -> None:
    (answer,) = figures("£750 million")
    assert not answer.is_stated_by(figures("£75 million")[0])
    assert not answer.is_stated_by(figures("£750 thousand")[0], table_units=False)


def test_value_applies_the_exponent() -> None:
    assert Figure(Decimal("1.5"), 1, 6, "1.5m").value == Decimal(1_500_000)


def test_names_finds_a_name_after_the_first_word() -> None:
    assert names("It was paid by Nike.") == ["Nike"]


def test_names_skips_sentence_openers_months_and_document_words() -> None:
    text = "Nike paid. The fee was due in August. However, it was late. According to the Context, no."
    assert names(text) == []  # "Nike" opens its sentence: no claim is made on it


def test_names_splits_sentences_on_lines_and_semicolons() -> None:
    assert names("Paid by adidas; Adidas paid\nNike paid") == []
    assert names("The deal: paid by Adidas and Nike") == ["Adidas", "Nike"]


def test_names_ignores_digits_and_lower_case_words() -> None:
    assert names("It rose by 5 per cent in the quarter") == []


def test_normalise_text_unifies_apostrophes_dashes_and_soft_hyphens() -> None:
    assert normalise_text("Club’s  share–price\u00adrise — ‘big’") == "club's share-pricerise - 'big'"
    assert normalise_text("Club’s", keep_case=True) == "Club's"


def test_normalise_text_folds_compatibility_characters() -> None:
    assert normalise_text("ﬁnance\u00a0report") == "finance report"  # ligature and no-break space


def test_words_are_lower_case_and_keep_apostrophes() -> None:
    assert words("Manchester United’s fee: £750m") == ["manchester", "united's", "fee", "750m"]
