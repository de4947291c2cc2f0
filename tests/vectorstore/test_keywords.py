from vectorstore.keywords import compounds, fts_query, keywords


def test_keywords_drop_stop_words_and_keep_numbers() -> None:
    assert keywords("How much is the minimum guarantee payable by adidas in 2022?") == [
        "minimum",
        "guarantee",
        "payable",
        "adidas",
        "2022",
    ]


def test_numbers_split_like_fts5_tokenizer() -> None:
    assert keywords("revenue of 1,234.5 million") == ["revenue", "1", "234", "5", "million"]


def test_fts_query_quotes_every_word_so_none_is_an_operator() -> None:
    assert fts_query('NEAR OR "x" AND adidas') == '"near" OR "adidas"'


def test_only_stop_words_gives_empty_query() -> None:
    assert fts_query("what is it?") == ""


def test_hyphenated_and_slashed_terms_are_also_searched_as_phrases() -> None:
    assert compounds("What does STS-B measure, and RV32I/RV64I? A one-time sign-on fee") == [
        "sts b",
        "rv32i rv64i",
        "one time",
        "sign on",
    ]
    assert fts_query("STS-B scale") == '"sts" OR "scale" OR "sts b"'
