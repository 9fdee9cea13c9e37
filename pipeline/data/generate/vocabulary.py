"""Words that make generated reviews vary like real ones without moving their sentiment.

Two kinds:
- *Neutral* fillers: each book's own cast, places and objects, chapter and page numbers, and openers and tails
  that place a sentence in the story ("By chapter 12, ...", "... when Mara reached Velmere."). None of their
  words is in TextBlob's sentiment lexicon (`neutral_words` checks it), so TextBlob's polarity and subjectivity
  of a review, what the seed's LFs read, do not change when they are added.
- *Sentiment swaps*: a polar adjective of a sentence template may be replaced by another adjective of TextBlob's
  own lexicon whose polarity and subjectivity are within a small band of it ("amazing" -> "incredible"), so
  polarity and subjectivity stay controlled while the words vary.

A book's cast, places and objects are drawn from the generator's seed and the book number, so the same book is
described with the same names by every reviewer, and the same seed gives the same text.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

FIRST_NAMES = (
    "Mara", "Jonah", "Zoë", "Kai", "Amélie", "Theo", "Ivy", "Søren", "Nadia", "Eli", "Chloé", "Rowan", "Tess",
    "Marcus", "Lena", "Finn", "Aria", "Declan", "Noor", "Jude", "Wren", "Caleb", "Mei", "Raf", "Ines", "Tobias",
    "Yara", "Cassian", "Priya", "Elio", "Saoirse", "Mateo", "Anya", "Idris", "Lucía", "Emeric", "Talia", "Oskar",
    "Freya", "Dario", "Imogen", "Kofi", "Lise", "Ronan", "Esmé", "Nikolai", "Hana", "Bastian", "Odile", "Tariq",
    "Celeste", "Ansel", "Marisol", "Henrik", "Zara", "Lucan", "Aiko", "Gideon", "Noemi", "Silas", "Renata",
    "Corin", "Björn", "Adaeze", "Felix", "Maren", "Iskander", "Thea", "Joaquín", "Vesna", "Arlo", "Sunniva",
    "Ezra", "Dalia", "Kieran", "Mirela", "Anouk", "Leif", "Sabine", "Cyrus", "Elodie", "Ravi", "Liesel", "Teodor",
    "Ximena", "Alaric", "Nell", "Jasper", "Ottilie", "Soren", "Kenji", "Delphine", "Arun", "Margit", "Caspian",
    "Ilse", "Quentin", "Zuri", "Aurelio", "Brontë", "Cosima", "Dmitri", "Eowyn", "Florian", "Greer", "Halvard",
)
SURNAMES = (
    "Ashdown", "Varga", "Okafor", "Lindqvist", "Moreau", "Castellanos", "Whitlock", "Nakamura", "Petrov",
    "Delacroix", "Harrow", "Quill", "Thorne", "Brannigan", "Oyelaran", "Sørensen", "Valdés", "Kowalski", "Marsh",
    "Ferreira", "Albescu", "Holloway", "Iwu", "Kessler", "Montague", "Rasmussen", "Seo", "Tremaine", "Vance",
)
_PLACE_HEADS = ("Vel", "Ash", "Kor", "Mer", "Tal", "Dun", "Bri", "Sel", "Orr", "Var", "Thal", "Eld", "Cair", "Ros",
                "Mal", "Skel", "Wyn", "Aver", "Ist", "Lor", "Gal", "Hew", "Nor", "Pell", "Quen", "Tor", "Ulm")
_PLACE_TAILS = ("mora", "wick", "haven", "ford", "moor", "holt", "gate", "reach", "stead", "vale", "crest", "port",
                "hallow", "mark", "brook", "spire", "dell", "fen", "grange", "shire", "wold", "keep", "ness")
_PLACE_KINDS = ("", "", "", " Academy", " Hall", " Island", " Street", " Harbor", " Palace", " Forest")
OBJECTS = (
    "the letter", "the map", "the keyring", "the ring", "the journal", "the locket", "the sword", "the ship",
    "the train", "the tower", "the library", "the diary", "the photograph", "the crown", "the box", "the book",
    "the mirror", "the dagger", "the compass", "the violin", "the necklace", "the bridge", "the door",
    "the garden", "the lighthouse", "the carriage", "the notebook", "the tattoo", "the cellar", "the bell",
)
# Openers and tails that place a sentence in the story or the reading. {n} is a chapter or page number.
OPENERS = (
    "By chapter {n},", "Around page {p},", "In chapter {n},", "When {name} reached {place},",
    "After the scene at {place},", "Once {name} found {object},", "Somewhere around chapter {n},",
    "About {pct} percent in,", "On day {w},", "And", "So", "Also,", "Then",
    "By the time {name} reached {place},", "Up until {name} met {name2},", "With {name} and {name2},",
    "At {place},", "Over in {place},", "In part {w},", "After chapter {n},", "On page {p},",
)
TAILS = (
    " (chapter {n})", ", for {name} anyway", " with {name} and {name2}", " in {place}", " after {place}",
    ", around page {p}", " once {name} had {object}", ", until chapter {n}", " in part {w}",
)
# Short reactions without sentiment words, added after a one-line review (real one-liners rarely repeat exactly).
EXTRAS = (
    "Team {name}.", "{name} and {name2}!!", "Book {w} now.", "{name}!!!", "Finished it on a train to {place}.",
    "{name} forever.", "Buddy read with {name2}.", "Chapter {n}!", "{place} forever.", "Give me {name}.",
    "Reread this weekend.", "Audiobook this time.", "{name} though.", "Onto book {w}.",
    "My copy is from {place}.", "Page {p}!!", "#team{name}",
)
NUMBER_WORDS = ("one", "two", "three", "four")
EXTRA_P = 0.85  # share of one-line reviews with an extra
OPENER_P = 0.35  # share of sentences with an opener
TAIL_P = 0.2  # share with a tail (a sentence may get both)


@dataclass(frozen=True)
class BookWords:
    """One book's own names, places and objects, as its reviews mention them."""

    cast: tuple[str, ...]
    places: tuple[str, ...]
    objects: tuple[str, ...]


class Vocabulary:
    """Per-book words for one generator seed, drawn once per book and kept."""

    def __init__(self, seed: int):
        self.seed = seed
        self._books: dict[int, BookWords] = {}

    def book(self, book: int) -> BookWords:
        words = self._books.get(book)
        if words is None:
            rng = random.Random(self.seed * 1_000_003 + book)
            cast = [rng.choice(FIRST_NAMES) for _ in range(7)]
            cast += [f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"]
            places = [rng.choice(_PLACE_HEADS) + rng.choice(_PLACE_TAILS) + rng.choice(_PLACE_KINDS)
                      for _ in range(4)]
            words = self._books[book] = BookWords(tuple(dict.fromkeys(cast)), tuple(places),
                                                  tuple(rng.sample(OBJECTS, 4)))
        return words


def neutral_words() -> list[str]:
    """Every word the neutral fillers can put into a review (the check that none is in TextBlob's lexicon)."""
    text = " ".join([*FIRST_NAMES, *SURNAMES, *_PLACE_HEADS, *_PLACE_TAILS, *_PLACE_KINDS, *OBJECTS, *OPENERS,
                     *TAILS, *EXTRAS, *NUMBER_WORDS])
    return sorted({w.lower() for w in re.findall(r"[^\W\d_]+", re.sub(r"\{\w+\}", " ", text))})


# -- sentiment swaps -----------------------------------------------------------------------------------------
# The polar adjectives of the sentence pools that may be swapped; each is replaced by a lexicon adjective of
# nearly the same polarity and subjectivity (SWAP_BAND). Verbs ("loved") and intensifiers stay as written.
SWAPPABLE = (
    "amazing", "perfect", "brilliant", "wonderful", "beautiful", "gorgeous", "awesome", "fantastic", "great",
    "good", "nice", "lovely", "cute", "sweet", "funny", "hilarious", "adorable", "interesting", "enjoyable",
    "clever", "boring", "terrible", "awful", "stupid", "annoying", "predictable", "dull", "bland", "cheesy",
    "shallow", "weak", "messy", "ridiculous", "sad", "cruel", "brutal", "disturbing", "forgettable", "silly",
    "weird", "angry",
)
SWAP_BAND = (0.1, 0.15)  # |polarity difference|, |subjectivity difference|
SWAP_P = 0.5
# The adjectives a swap may bring in: words reviewers use. Only those within SWAP_BAND of the word they replace
# (by TextBlob's lexicon) are used, so the lexicon, not this list, decides the sentiment.
CANDIDATES = (
    "amazing", "perfect", "brilliant", "wonderful", "beautiful", "gorgeous", "awesome", "fantastic", "great",
    "good", "nice", "lovely", "cute", "sweet", "funny", "hilarious", "adorable", "interesting", "enjoyable",
    "clever", "boring", "terrible", "awful", "stupid", "annoying", "predictable", "dull", "bland", "cheesy",
    "shallow", "weak", "messy", "ridiculous", "sad", "cruel", "brutal", "disturbing", "forgettable", "silly",
    "weird", "angry", "incredible", "stunning", "superb", "excellent", "marvelous", "magnificent", "delightful",
    "charming", "pleasant", "entertaining", "engaging", "exciting", "thrilling", "gripping", "compelling",
    "moving", "touching", "heartwarming", "impressive", "remarkable", "memorable", "fabulous", "terrific",
    "outstanding", "splendid", "glorious", "witty", "smart", "fresh", "lively", "engrossing", "imaginative",
    "horrible", "dreadful", "tedious", "tiresome", "dumb", "lame", "clumsy", "irritating", "frustrating",
    "pointless", "painful", "mediocre", "trite", "stale", "flat", "unoriginal", "confusing", "pathetic",
    "depressing", "heartbreaking", "tragic", "bleak", "grim", "horrific", "gruesome", "scary", "creepy",
    "frightening", "upsetting", "miserable", "gloomy", "tearful", "haunting", "absurd", "odd", "strange",
    "awkward", "goofy", "quirky", "playful", "cheerful", "happy", "joyful", "fun",
)
@functools.cache
def _lexicon() -> dict[str, tuple[float, float]]:
    """TextBlob's lexicon adjectives: {word: (polarity, subjectivity)} of their averaged senses, intensity 1."""
    from textblob.en import sentiment

    out = {}
    for word, senses in sentiment.items():
        jj = senses.get("JJ")
        avg = senses.get(None)
        if jj is None or avg is None or avg[2] != 1.0 or not word.isalpha() or len(word) < 3:
            continue
        out[word] = (float(avg[0]), float(avg[1]))
    return out


@functools.cache
def swaps() -> dict[str, tuple[str, ...]]:
    """{adjective: the lexicon adjectives within SWAP_BAND of it, itself included}."""
    lex = _lexicon()
    dp, ds = SWAP_BAND
    out = {}
    for word in SWAPPABLE:
        if word not in lex:
            continue
        pol, subj = lex[word]
        near = [w for w in CANDIDATES if w in lex and abs(lex[w][0] - pol) <= dp and abs(lex[w][1] - subj) <= ds
                and (lex[w][0] > 0) == (pol > 0)]
        out[word] = tuple(sorted(set(near) | {word}))
    return out


@functools.cache
def swap_pattern() -> re.Pattern:
    """The swappable adjectives as whole words, any case."""
    return re.compile(r"\b(" + "|".join(sorted(swaps(), key=len, reverse=True)) + r")\b", re.IGNORECASE)


def swap_adjectives(sentence: str, rng: random.Random) -> str:
    """`sentence` with each swappable adjective replaced by one of its band (itself included), case kept, and
    "a" before a vowel made "an"."""
    table = swaps()

    def pick(match: re.Match) -> str:
        word = match.group(1)
        new = rng.choice(table[word.lower()])
        return new.capitalize() if word[0].isupper() else new

    out = swap_pattern().sub(pick, sentence)
    return out if out == sentence else re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", out)
