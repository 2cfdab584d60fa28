"""The tokenizer of chapter 04: text → a fixed-length row of integers, by byte-pair encoding on characters.

Byte-pair encoding (Sennrich et al. 2016, arXiv:1508.07909; GPT-2 and CLIP use it on bytes): start from
single characters, then merge the most frequent adjacent pair of symbols into a new symbol, again and again.
Frequent words become one token, rare ones stay split into pieces, and nothing is ever out of vocabulary.
Here it runs on lower-case characters with an end-of-word marker (``e</w>``), trained on the course's own
captions (emoji names and shapes captions); with no merges at all it is a plain character tokenizer.

Every prompt becomes ``max_len`` ids: its tokens, then ``<pad>`` (id 0). ``attention_mask`` says which ids
are real. A tokenizer is rebuilt from ``config()`` (its alphabet and merges: plain JSON, what the zoo keeps).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import torch

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1
END = "</w>"  # marks the last symbol of a word, so "a" and the "a" inside "bat" are different tokens
MAX_LEN = 32  # ids per prompt: every course caption fits (a test checks it)
MERGES = 400  # merges of the course tokenizer: the shapes words and common emoji words become one token


# ----------------------------------------------------------------------------------------------------------
# Helpers


def words(text: str) -> list[str]:
    """Lower-cased words split on whitespace: the tokenizer's view of a prompt."""
    if not isinstance(text, str):
        raise TypeError(f"a prompt must be a str, got {type(text).__name__}: pass text, e.g. 'a red circle'")
    return text.lower().split()


def _symbols(word: str) -> tuple[str, ...]:
    """A word as its characters, the last one marked as the end of the word: "cat" → ("c", "a", "t</w>")."""
    return (*word[:-1], word[-1] + END)


def _merge_pair(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    """Every left-to-right occurrence of ``pair`` in ``symbols`` replaced by the joined symbol."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def attention_mask(tokens: torch.Tensor) -> torch.Tensor:
    """(B, L) ids → (B, L) bool, True where a real token is (not ``<pad>``, id 0)."""
    return tokens != 0


# ----------------------------------------------------------------------------------------------------------
# The tokenizer


class Tokenizer:
    """Lower-case BPE over an alphabet of characters; ``tokenizer(texts)`` → ids (B, max_len), 0-padded.

    The vocabulary is ``<pad>``, ``<unk>``, every character alone and at a word's end, then one token per
    merge in the order learned. Characters outside the alphabet become ``<unk>``.
    """

    def __init__(self, alphabet: str, merges: Sequence[Sequence[str]] = (), max_len: int = MAX_LEN):
        if not alphabet or len(set(alphabet)) != len(alphabet) or any(c.isspace() for c in alphabet):
            raise ValueError("alphabet: give each character once, no whitespace (e.g. 'abc...xyz0123-')")
        if max_len < 1:
            raise ValueError(f"max_len={max_len}: use at least 1 token per prompt")
        self.alphabet, self.max_len = alphabet, max_len
        self.merges = [tuple(pair) for pair in merges]
        self.vocab = [PAD, UNK, *alphabet, *(c + END for c in alphabet)]
        for a, b in self.merges:
            self.vocab.append(a + b)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        if len(self.ids) != len(self.vocab):
            raise ValueError("merges: a merge made a token twice; rebuild the merges with train_bpe")
        self.rank = {pair: i for i, pair in enumerate(self.merges)}
        self._cache: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return (
            f"Tokenizer({len(self.alphabet)} characters, {len(self.merges)} merges, max_len={self.max_len})"
        )

    def config(self) -> dict:
        """What rebuilds this tokenizer: ``Tokenizer(**tokenizer.config())`` (plain JSON)."""
        return {
            "alphabet": self.alphabet,
            "merges": [list(pair) for pair in self.merges],
            "max_len": self.max_len,
        }

    def split_word(self, word: str) -> tuple[str, ...]:
        """One word's tokens: apply the learned merges, the earliest learned first, until none applies."""
        if word not in self._cache:
            symbols = tuple(UNK if c not in self.alphabet else c for c in word[:-1]) + (
                UNK if word[-1] not in self.alphabet else word[-1] + END,
            )
            while len(symbols) > 1:
                pairs = [(self.rank.get(pair, len(self.rank)), pair) for pair in zip(symbols, symbols[1:])]
                best, pair = min(pairs)
                if best == len(self.rank):
                    break
                symbols = _merge_pair(symbols, pair)
            self._cache[word] = symbols
        return self._cache[word]

    def tokens(self, text: str) -> list[str]:
        """The prompt as token strings, e.g. 'A red star' → ['a</w>', 'red</w>', 'star</w>']."""
        found = words(text)
        if not found:
            raise ValueError("the prompt is empty: type a few words, e.g. 'a red circle' or 'grinning face'")
        return [token for word in found for token in self.split_word(word)]

    def count(self, text: str) -> int:
        """How many tokens the prompt takes; more than ``max_len`` is too long (``encode`` refuses it)."""
        return len(self.tokens(text))

    def encode(self, text: str, truncate: bool = False) -> list[int]:
        """The prompt's ids, unpadded. Over ``max_len`` tokens: a ValueError, or cut there if ``truncate``."""
        ids = [self.ids[token] for token in self.tokens(text)]
        if len(ids) > self.max_len and not truncate:
            raise ValueError(
                f"the prompt is {len(ids)} tokens long, the limit is {self.max_len}: shorten it "
                f"(about {self.max_len // 2} words fit), or pass truncate=True to cut it"
            )
        return ids[: self.max_len]

    def __call__(self, texts: str | Iterable[str], truncate: bool = False) -> torch.Tensor:
        """Prompts → ids (B, max_len), int64, padded with 0; one prompt (a str) gives B = 1."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no prompts given: pass a list of strings, e.g. ['a red circle']")
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)  # (B, L) all <pad>
        for row, text in enumerate(texts):
            ids = self.encode(text, truncate)
            out[row, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """ids of one prompt (padding allowed) → text: words joined by single spaces, lower case."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if any(not 0 <= i < len(self.vocab) for i in ids):
            raise ValueError(f"ids must lie in [0, {len(self.vocab)}): these come from another tokenizer")
        text = "".join(self.vocab[i] + (" " if self.vocab[i] == UNK else "") for i in ids if i != 0)
        return " ".join(text.replace(END, " ").split())


# ----------------------------------------------------------------------------------------------------------
# Training


def train_bpe(texts: Iterable[str], merges: int = MERGES, max_len: int = MAX_LEN) -> Tokenizer:
    """Learn ``merges`` merges from ``texts``: each time the most frequent adjacent pair (ties: the first
    in sorted order, so the result depends on the texts only). ``merges=0``: a character tokenizer."""
    counts = collections.Counter(word for text in texts for word in words(text))
    if not counts:
        raise ValueError("train_bpe needs some text: pass a list of captions")
    alphabet = "".join(sorted({c for word in counts for c in word}))
    corpus = {_symbols(word): n for word, n in counts.items()}  # word as symbols → how often it occurs
    learned = []
    for _ in range(merges):
        pairs = collections.Counter()
        for symbols, n in corpus.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += n
        if not pairs:
            break  # every word is a single token already
        top = max(pairs.values())
        pair = min(p for p, n in pairs.items() if n == top)
        learned.append(pair)
        corpus = {_merge_pair(symbols, pair): n for symbols, n in corpus.items()}
    return Tokenizer(alphabet, learned, max_len)


def course_captions() -> list[str]:
    """The texts the course tokenizer learns from: every emoji name and 2,000 shapes captions (seed 0)."""
    from minidiff.data import emoji, shapes

    _, captions, _ = shapes.sample(2000, 8, generator=torch.Generator().manual_seed(0))
    return emoji.names() + captions


def course_tokenizer(merges: int = MERGES, max_len: int = MAX_LEN) -> Tokenizer:
    """BPE with ``merges`` merges trained on ``course_captions()`` (deterministic: the same every time)."""
    return train_bpe(course_captions(), merges, max_len)
