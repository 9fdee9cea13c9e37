"""Review text for synthetic data: varied sentences whose TextBlob sentiment tracks the star rating, noisily.

A review is composed from a *tone* (drawn given the stars) and a target length in tokens. Each tone mixes
sentence pools: praise, gushing, criticism, harsh criticism, emotional/dark praise (sad words in reviews of
loved books, the classic trap for polarity LFs), mixed verdicts, plot summary and off-topic chatter. On top
come the things real Goodreads reviews carry: stated stars in the seed's phrases and in other forms ("4/5",
"3.5/5 stars", star characters), spoiler markup, emoji and accented names, paragraphs joined by " \\n ".

The mixture weights per tone and the tone shares per star are calibrated so that the seed tutorial's five
LFs reproduce the seed's dev-set table (see tests/test_calibration.py and bench/data_pipeline.py).
"""

from __future__ import annotations

import functools
import random

import numpy as np

from pipeline.data.generate.vocabulary import (
    EXTRA_P,
    EXTRAS,
    NUMBER_WORDS,
    OPENER_P,
    OPENERS,
    SWAP_P,
    TAIL_P,
    TAILS,
    BookWords,
    swap_adjectives,
    swap_pattern,
)

NAMES = (
    "Mara", "Jonah", "Zoë", "Kai", "Amélie", "Theo", "Ivy", "Søren", "Nadia", "Eli", "Chloé", "Rowan",
    "Tess", "Marcus", "Lena", "Finn", "Aria", "Declan", "Noor", "Jude", "Wren", "Caleb", "Mei", "Raf",
)
THINGS = (
    "the world-building", "the romance", "the writing", "the cast", "the pacing", "the ending",
    "the dialogue", "the magic system", "the plot", "the love triangle", "the villain", "the setting",
    "the supporting cast", "the friendship", "the narration", "the first half", "the last few chapters",
)
BOOKS = ("this book", "this one", "this series", "the sequel", "this story", "book two", "the finale")

POOLS: dict[str, tuple[str, ...]] = {
    # Strong, subjective praise: high polarity and subjectivity.
    "gush": (
        "I absolutely loved {book}!",
        "Loved it!",
        "Best book I have read all year.",
        "This was perfect.",
        "Oh my gosh, {thing} was amazing!",
        "I loved every single page.",
        "Such a beautiful, wonderful story.",
        "{name} is my favorite character ever.",
        "Simply brilliant.",
        "Wow. Just wow, what an amazing ride!",
        "I am completely obsessed with {book}.",
        "Absolutely fantastic from start to finish.",
        "It was so good!!",
        "Perfect in every way.",
        "This is the best series ever written.",
        "I adored {name} and {name2}.",
        "Gorgeous, brilliant and so much fun.",
        "Awesome book, highly recommend!",
        "My heart is so happy right now.",
        "I loved it so much ♥",
        "Such a sweet and lovely read 😍",
    ),
    # One-line reactions: very subjective, usually positive.
    "blurb": (
        "Loved it!", "So cute!", "Amazing!", "Perfect.", "Fun read!", "Beautiful.", "So good.",
        "Cute and funny.", "Sweet and fun.", "Brilliant!", "Absolutely loved it.", "Wonderful.", "Adorable!",
        "Super cute and fluffy.", "Fun, silly and sweet.", "Awesome!", "Hilarious!", "Cute but silly.",
        "Sweet, if a little cheesy.", "Fun but forgettable.", "Beautiful writing, weird story.",
    ),
    # Ordinary praise, moderately positive.
    "praise": (
        "I really enjoyed {book}.",
        "{thing} was really well done.",
        "{name} is a great character and I liked her voice.",
        "The author did a good job with {thing}.",
        "It was a fun and interesting read.",
        "I liked how {name} grew throughout the story.",
        "{thing} kept me turning the pages.",
        "The writing is clever and easy to read.",
        "A solid, enjoyable story with a nice twist at the end.",
        "I would definitely recommend it to fans of the genre.",
        "{thing} was one of the best parts.",
        "Really good character development.",
        "I am excited to read the next one.",
        "{name} and {name2} have great chemistry.",
        "It had a lot of heart.",
        "The humor was spot on and made me laugh.",
        "I liked it more than I expected to.",
        "Overall a really nice read.",
        "Pretty good!",
        "The twist near the end was well done.",
    ),
    # Loved-it reviews that use sad or dark words: polarity goes negative although the stars are high.
    "emotional": (
        "This book broke my heart.",
        "I cried so much at the end.",
        "The ending was so sad, I am still not over it.",
        "{name} is such a cruel and terrifying villain.",
        "It is dark and brutal and I could not stop reading.",
        "I hate {name2} so much for what happened.",
        "That ending destroyed me.",
        "The grief in this book feels painfully real.",
        "I was angry and sad for most of the second half.",
        "Some scenes are really disturbing.",
        "It hurt to read, in the best way.",
        "Poor {name}, I wanted to scream.",
        "It deals with abuse and loss in a raw, honest way.",
        "The cliffhanger is evil!",
        "I am so mad at the author right now.",
    ),
    # Two-sided verdicts.
    "mixed": (
        "The beginning was slow but the ending made up for it.",
        "I liked {name}, but {thing} was a bit weak.",
        "Good premise, average execution.",
        "Some parts were great and others dragged.",
        "It was okay, nothing special.",
        "I wanted to love it, but it was just fine.",
        "{thing} was interesting, though {thing2} felt rushed.",
        "Not bad, but not as good as the first book.",
        "I did not hate it, I just did not care much.",
        "The idea is cool but the execution is messy.",
        "It started strong and then lost me halfway.",
        "Enjoyable enough, though forgettable.",
        "I am torn about this one.",
        "Decent, but the love triangle was annoying.",
    ),
    # Criticism.
    "critic": (
        "{thing} was boring.",
        "I found {name} annoying and hard to like.",
        "The plot was predictable and slow.",
        "It was not good.",
        "I was disappointed by {book}.",
        "{thing} made no sense.",
        "The dialogue felt forced and unnatural.",
        "I could not connect with any of the characters.",
        "Too much drama and not enough story.",
        "The romance was cheesy and shallow.",
        "It dragged on for way too long.",
        "I did not like {thing} at all.",
        "The writing was bland.",
        "Honestly, I expected more.",
        "It felt like a cheap copy of better books.",
    ),
    # Harsh criticism.
    "harsh": (
        "This was terrible.",
        "Worst book I have read in a long time.",
        "What a waste of time.",
        "I hated it.",
        "{name} is the most stupid heroine ever.",
        "Awful writing and ridiculous plot.",
        "Ugh. Just ugh.",
        "DNF at page 100, it was that bad.",
        "So bad it made me angry.",
        "Painfully dull and poorly written.",
    ),
    # Plot summary: little opinion, a few weakly polar words as real summaries have.
    "plot": (
        "The story follows {name}, a girl who discovers she can talk to ghosts.",
        "{name} has to choose between her family and the boy she loves.",
        "After the war, {name} and {name2} must cross the wasteland to reach the city.",
        "It is told from the points of view of {name} and {name2}.",
        "{name} moves to a small town where nobody talks about what happened last summer.",
        "The kingdom of {place} is ruled by a queen who has not been seen in years.",
        "{name} joins the rebellion after her brother is taken.",
        "Most of the book takes place at a boarding school in {place}.",
        "{name2} keeps a secret about {object} that could change everything.",
        "There is a heist in {place}, a masked ball and a lot of running.",
        "Halfway through, the action moves to {place}.",
        "{name} is seventeen and has never left the island.",
        "Each chapter switches between {name} now and {name2} the year before.",
        "The magic of {place} comes from the stars and costs memories.",
        "{name} and {name2} end up working together.",
        "The friendship between {name} and {name2} is at the center of the story.",
        "{name} trains as a healer in {place}.",
        "The whole thing is written as letters between {name} and {name2}.",
        "It picks up right where book {w} ended, with {name} in {place}.",
        "The narrator is {name}, a ghost who haunts {place}.",
        "{name} and {name2} spend the summer at the lake house near {place}.",
        "A new student, {name}, arrives at {place} and nothing is the same.",
        "The book is a retelling of Snow White set in space, with {name} as the queen.",
    ),
    # Off-topic chatter: reading circumstances, no opinion.
    "chatter": (
        "Read this for my book club in {place}.",
        "Borrowed it from the {place} library.",
        "Finally got around to this one after {name2} lent it to me.",
        "Listened to the audiobook on my commute to {place}.",
        "Buddy read with {name}.",
        "Thanks to NetGalley for an advance copy in exchange for an honest review.",
        "Reread before the movie comes out, {name} and all.",
        "Picked this up at the airport in {place}.",
        "Full review of {name} and {name2} to come on my blog.",
        "Took me {w} weeks to finish it.",
        "My sister made me read it before {place}.",
        "Read in one sitting on a train to {place}.",
    ),
}

# Sentence pools mixed by each tone: (pool, weight).
TONES: dict[str, tuple[tuple[str, float], ...]] = {
    "rave": (("gush", 0.55), ("praise", 0.25), ("plot", 0.15), ("chatter", 0.05)),
    "positive": (("praise", 0.45), ("plot", 0.35), ("gush", 0.08), ("emotional", 0.07), ("chatter", 0.05)),
    "emotional": (("emotional", 0.45), ("praise", 0.15), ("plot", 0.35), ("chatter", 0.05)),
    "mixed": (("mixed", 0.4), ("praise", 0.15), ("critic", 0.15), ("plot", 0.25), ("chatter", 0.05)),
    "negative": (("critic", 0.5), ("harsh", 0.2), ("mixed", 0.1), ("plot", 0.2)),
    "plain": (("plot", 0.6), ("chatter", 0.4)),
    "blurb": (("blurb", 1.0),),
}
TONE_NAMES = tuple(TONES)
# Raves are short ("Loved it!"), rants shorter than considered reviews, plot summaries long.
TONE_LENGTH_FACTOR = {
    "rave": 0.3, "positive": 0.87, "emotional": 0.8, "mixed": 0.96, "negative": 0.45, "plain": 1.13, "blurb": 0.1,
}

# P(tone | stars), rows for 1..5 stars, columns in TONE_NAMES order.
TONE_GIVEN_STARS = np.array(
    [
        # rave positive emotional mixed negative plain blurb
        [0.00, 0.03, 0.02, 0.43, 0.36, 0.14, 0.02],  # 1 star
        [0.00, 0.04, 0.03, 0.52, 0.22, 0.14, 0.05],  # 2 stars
        [0.00, 0.09, 0.04, 0.50, 0.04, 0.23, 0.10],  # 3 stars
        [0.12, 0.39, 0.04, 0.16, 0.00, 0.20, 0.09],  # 4 stars
        [0.28, 0.35, 0.07, 0.05, 0.00, 0.18, 0.07],  # 5 stars
    ]
)

# Stated stars. Seed-phrase forms are the ones the seed's stars_in_review LF can find; the others it misses
# (or, for "N/5 stars", misreads: "2/5 stars" contains "5 stars").
STAR_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
STAR_FORMS_SEED = ("{n} stars", "{n} stars.", "{w} stars", "{N} STARS", "{n} out of 5", "{w} Stars")
STAR_FORMS_OTHER = ("{n}/5", "{n}/5 stars", "{stars}", "Rating: {n}", "{n} of 5", "{n}*")

AVG_TOKENS_PER_SENTENCE = 9.5
_END = ".!?♥😍 "  # what ends a sentence; a tail goes before it
MAX_SENTENCES = 250  # about 2,800 tokens, the longest real reviews
_TONE_CUM = np.cumsum(TONE_GIVEN_STARS, axis=1).tolist()
_POOL_CUM = {tone: (tuple(p for p, _ in mix), np.cumsum([w for _, w in mix]).tolist())
             for tone, mix in TONES.items()}


DEFAULT_WORDS = BookWords(cast=NAMES, places=("Velmora", "Ashgate", "Korreach"),
                          objects=("the letter", "the map", "the locket"))


class _Slots(dict):
    """A template's slot values, each drawn when the template first asks for it (most ask for one or two)."""

    def __init__(self, rng: random.Random, words: BookWords):
        super().__init__()
        self.rng, self.words = rng, words

    def __missing__(self, key: str):
        rng, words = self.rng, self.words
        if key in ("name", "name2"):
            cast = words.cast
            name, name2 = rng.sample(cast, 2) if len(cast) > 1 else (cast[0], cast[0])
            self.update(name=name, name2=name2)
        elif key in ("thing", "thing2"):
            thing, thing2 = rng.sample(THINGS, 2)
            self.update(thing=thing, thing2=thing2)
        else:
            self[key] = _DRAW[key](rng, words)
        return self[key]


_DRAW = {
    "book": lambda rng, _: rng.choice(BOOKS), "place": lambda rng, w: rng.choice(w.places),
    "object": lambda rng, w: rng.choice(w.objects), "n": lambda rng, _: rng.randint(2, 45),
    "p": lambda rng, _: rng.randint(12, 420), "pct": lambda rng, _: rng.randrange(10, 100, 10),
    "w": lambda rng, _: rng.choice(NUMBER_WORDS),
}


@functools.cache
def _swappable(template: str) -> bool:
    return swap_pattern().search(template) is not None


def _sentence(template: str, rng: random.Random, words: BookWords) -> str:
    """A pool sentence: its slots filled with the book's words, maybe its adjectives swapped within their
    sentiment band, maybe placed in the story by an opener or a tail (neutral words only)."""
    # One uniform draw decides opener and tail (and which), as the text is composed millions of times.
    u = rng.random()
    opener = OPENERS[int(u / OPENER_P * len(OPENERS))] if u < OPENER_P else ""
    v = (u * 7.0) % 1.0
    tail = TAILS[int(v / TAIL_P * len(TAILS))] if v < TAIL_P else ""
    text = swap_adjectives(template, rng) if _swappable(template) and rng.random() < SWAP_P else template
    if tail:
        body = text.rstrip(_END)
        text = body + tail + text[len(body):]
    if opener:
        keep = text.startswith(("I ", "I'", "{"))
        text = f"{opener} {text if keep else text[0].lower() + text[1:]}"
    if "{" in text:
        text = text.format_map(_Slots(rng, words))
    return text[0].upper() + text[1:]


def stated_stars(stars: int, rng: random.Random) -> float:
    """The star value a reviewer writes: mostly the rating, often half a star off (rounding), rarely far off."""
    u = rng.random()
    if u < 0.42:
        return float(stars)
    if u < 0.93:
        return min(5.0, max(1.0, stars + rng.choice((-0.5, 0.5))))
    return float(rng.randint(1, 5))


def star_phrase(value: float, rng: random.Random, seed_form_share: float) -> str:
    """`value` stars written in one of the forms reviewers use."""
    n = f"{value:g}"
    whole = value.is_integer()
    form = rng.choice(STAR_FORMS_SEED if rng.random() < seed_form_share else STAR_FORMS_OTHER)
    if form == "{stars}":
        full = int(value)
        return "\u2605" * full + ("" if whole else "\u00bd") + "\u2606" * (5 - full - (0 if whole else 1))
    word = STAR_WORDS[int(value)] if whole else n
    phrase = form.format(n=n, N=n, w=word.capitalize() if form.startswith("{w} S") else word)
    return phrase.replace("STARS", "STAR").replace("tars", "tar") if value == 1.0 else phrase


def compose_review(stars: int, n_tokens: int, rng: random.Random, *, words: BookWords = DEFAULT_WORDS,
                   star_share: float = 0.2, seed_form_share: float = 0.62) -> str:
    """One review text for a rating of `stars` (1..5, or 0 for an unrated shelf note) near `n_tokens` tokens,
    naming the reviewed book's characters, places and objects (`words`)."""
    tone = rng.choices(TONE_NAMES, cum_weights=_TONE_CUM[stars - 1])[0] if stars else "plain"
    pools, cum = _POOL_CUM[tone]
    n_sent = min(MAX_SENTENCES, max(1, round(n_tokens * TONE_LENGTH_FACTOR[tone] / AVG_TOKENS_PER_SENTENCE)))
    random_ = rng.random
    sentences = [_sentence(choices[int(random_() * len(choices))], rng, words)
                 for choices in (POOLS[pool] for pool in rng.choices(pools, cum_weights=cum, k=n_sent))]
    if n_sent == 1 and rng.random() < EXTRA_P:  # a one-liner: a neutral reaction after it
        sentences.append(rng.choice(EXTRAS).format_map(_Slots(rng, words)))
    if n_sent >= 4 and rng.random() < 0.12:  # hide a plot sentence behind spoiler markup
        k = rng.randrange(1, n_sent)
        sentences[k] = f"(view spoiler)[{sentences[k]} (hide spoiler)]"
    if stars and rng.random() < star_share:
        phrase = star_phrase(stated_stars(stars, rng), rng, seed_form_share)
        if rng.random() < 0.7:
            sentences.insert(0, phrase if phrase.endswith(".") else phrase + ".")
        else:
            sentences.append(phrase)
    text = " \n ".join(" ".join(p) for p in _paragraphs(sentences, rng))
    if rng.random() < 0.02:
        text = "** spoiler alert ** \n " + text
    return text


def _paragraphs(sentences: list[str], rng: random.Random) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for s in sentences:
        if out[-1] and rng.random() < 0.18:
            out.append([])
        out[-1].append(s)
    return out
