"""The grounding check: abstentions recognised, and an answer's figures and names found in its passages."""

from __future__ import annotations

import pytest

from bot.grounding import GroundingCheck, check_answer, is_abstention

PASSAGES = [
    "Manchester United agreed a minimum guarantee of £750,000,000 with adidas over ten years.",
    "The agreement began on 1 August 2015. Revenue rose 59% to $3,208 (in millions).",
]


@pytest.mark.parametrize(
    "text",
    [
        "I don't know.",
        "I don’t know.",  # curly apostrophe
        "I do not know the answer.",
        "The context does not mention the fee.",
        "The passages don't say.",
        "There is no information about the fee.",
        "The fee is not specified in the passages.",
        "This is not stated in the documents.",
        "I cannot find the fee in the context.",
        "I am unable to determine the amount.",
        "The documents do not provide this figure.",
        "NO MENTION of a fee is made.",
        "There is insufficient information to answer.",
        "That is not in the context.",
    ],
)
def test_abstentions_in_many_wordings(text: str) -> None:
    assert is_abstention(text)


@pytest.mark.parametrize(
    "text",
    [
        "The guarantee is £750 million.",
        "Not less than 20 days.",
        "The notice period is not less than 20 days.",
        "Shareholders with no voting rights may not attend.",
        "The company knows its fees.",
        "It is a masked language model.",
    ],
)
def test_real_answers_are_not_abstentions(text: str) -> None:
    assert not is_abstention(text)


@pytest.mark.xfail(
    strict=True,
    reason="is_abstention matches a decline phrase anywhere in the answer, even beside a stated figure",
)
@pytest.mark.parametrize(
    "text",
    [
        "The fee was not disclosed until 2015; it is £5m.",
        "It does not include VAT; the fee is £5m.",
        "The loan is not available to employees; it is £5m.",
    ],
)
def test_real_answers_with_a_negative_clause_are_not_abstentions(text: str) -> None:
    assert not is_abstention(text)


def test_a_grounded_answer_with_magnitude_variants_passes() -> None:
    check = check_answer("The minimum guarantee is £750m, from 1 August 2015.", PASSAGES)
    assert check == GroundingCheck(unsupported=(), abstained=False)
    assert check.grounded


def test_table_units_ground_an_amount_in_billions() -> None:
    assert check_answer("Revenue was $3.2 billion, up 59%.", PASSAGES).grounded


def test_an_invented_number_is_unsupported() -> None:
    check = check_answer("The guarantee is £35 million, paid over 14 weeks.", PASSAGES)
    assert check.unsupported == ("35 million", "14")
    assert not check.grounded and not check.abstained


def test_an_invented_name_is_unsupported() -> None:
    check = check_answer("The guarantee was agreed with Nike.", PASSAGES)
    assert check.unsupported == ("Nike",)


def test_a_name_from_the_passages_is_supported_in_any_case() -> None:
    assert check_answer("The guarantee was agreed with Adidas.", PASSAGES).grounded


def test_numbers_and_names_from_the_question_are_allowed() -> None:
    answer = "Over 3 years, Nike paid nothing; the guarantee is £750m."
    assert check_answer(answer, PASSAGES).unsupported == ("3", "Nike")
    assert check_answer(answer, PASSAGES, question="Did Nike pay anything over 3 years?").grounded


def test_an_unsupported_figure_is_listed_once() -> None:
    check = check_answer("It was £35m; yes, £35m.", PASSAGES)
    assert check.unsupported == ("35m",)


def test_an_abstention_comes_back_abstained_with_nothing_unsupported() -> None:
    check = check_answer("The passages do not mention a fee of £35m paid to Nike.", PASSAGES)
    assert check == GroundingCheck(unsupported=(), abstained=True)


def test_an_answer_without_passages_is_checked_against_nothing() -> None:
    assert check_answer("The guarantee is £750m.", []).unsupported == ("750m",)


def test_invented_contact_details_and_round_numbers_are_caught() -> None:
    passages = ["Contact HR at hr@contoso.com. Training takes 1.5 hours. There are 2,450 employees."]
    assert check_answer("Write to hr@contoso.com.", passages).grounded
    assert check_answer("Write to privacy@contoso.com.", passages).unsupported == ("privacy@contoso.com",)
    assert not check_answer("Call 1-800-555-1212.", passages).grounded
    assert check_answer("It has 2,450 employees.", passages).grounded
    # A plain whole number must be stated exactly: 1.5 hours does not state "1 hour", 2,450 not "2,000".
    assert not check_answer("It takes 1 hour.", passages).grounded
    assert not check_answer("About 2,000 people.", passages).grounded
