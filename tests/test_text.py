"""minidiff.text: BPE learned as the paper describes, round trips, padding, the course tokenizer, errors."""

from __future__ import annotations

import json

import pytest
import torch

from minidiff import text


def test_bpe_learns_the_most_frequent_pair_first():
    # "low" x5, "lower" x2, "newest" x6, "widest" x3 (Sennrich et al. 2016, Fig. 1's corpus): the first
    # merges are ("e", "s") 9 times, then ("es", "t") 9 times, then ("est", "</w>")-style: here "est</w>"
    corpus = ["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3
    tokenizer = text.train_bpe(corpus, merges=3)
    assert tokenizer.merges == [("e", "s"), ("es", "t</w>"), ("l", "o")]
    assert tokenizer.tokens("newest lowest") == ["n", "e", "w", "est</w>", "lo", "w", "est</w>"]


def test_ties_are_broken_the_same_way_whatever_the_order_of_the_texts():
    texts = ["ab ab cd cd", "ef gh"]
    assert text.train_bpe(texts, 5).merges == text.train_bpe(list(reversed(texts)), 5).merges


def test_zero_merges_is_a_character_tokenizer():
    tokenizer = text.train_bpe(["a red star"], merges=0, max_len=16)
    assert tokenizer.tokens("star") == ["s", "t", "a", "r</w>"]
    assert len(tokenizer) == 2 + 2 * len(set("aredst"))


def test_round_trip_lower_case_and_padding():
    tokenizer = text.train_bpe(["a red star", "a blue circle"], merges=20, max_len=12)
    ids = tokenizer(["A  Red STAR", "a blue circle"])
    assert ids.shape == (2, 12) and ids.dtype == torch.long
    assert tokenizer.decode(ids[0]) == "a red star" and tokenizer.decode(ids[1]) == "a blue circle"
    mask = text.attention_mask(ids)
    assert mask[0].sum() == tokenizer.count("a red star") and not mask[0, mask[0].sum() :].any()
    assert (ids[~mask] == 0).all()


def test_unknown_characters_become_unk():
    tokenizer = text.train_bpe(["abc"], merges=0)
    assert tokenizer.tokens("abz") == ["a", "b", text.UNK]
    assert tokenizer.decode(tokenizer.encode("abz")) == f"ab{text.UNK}"


def test_empty_and_over_long_prompts_are_refused_with_a_fix():
    tokenizer = text.train_bpe(["a red star"], merges=0, max_len=5)
    for empty in ("", "   \n"):
        with pytest.raises(ValueError, match="empty: type a few words"):
            tokenizer(empty)
    assert tokenizer.count("stars") == 5 and tokenizer.count("a red") == 4
    with pytest.raises(ValueError, match="6 tokens long, the limit is 5: shorten it"):
        tokenizer("a stars")
    assert tokenizer.decode(tokenizer("a stars", truncate=True)[0]) == "a star"
    with pytest.raises(TypeError, match="must be a str"):
        tokenizer([3])
    with pytest.raises(ValueError, match="no prompts"):
        tokenizer([])
    with pytest.raises(ValueError, match="another tokenizer"):
        tokenizer.decode([999])


def test_rebuilt_from_its_json_config():
    tokenizer = text.train_bpe(["a red star", "a blue circle", "grinning face"], merges=15)
    again = text.Tokenizer(**json.loads(json.dumps(tokenizer.config())))
    assert again.vocab == tokenizer.vocab
    assert torch.equal(again(["a red circle", "face"]), tokenizer(["a red circle", "face"]))


def test_the_course_tokenizer_fits_every_course_caption():
    tokenizer = text.course_tokenizer()
    captions = text.course_captions()
    assert len(tokenizer) == 2 + 2 * len(tokenizer.alphabet) + text.MERGES
    assert max(tokenizer.count(c) for c in captions) <= text.MAX_LEN
    # every word of a shapes caption is one token
    assert tokenizer.tokens("a large red star at the bottom right") == [
        w + text.END for w in "a large red star at the bottom right".split()
    ]
    assert tokenizer.decode(tokenizer("Grinning face")[0]) == "grinning face"
