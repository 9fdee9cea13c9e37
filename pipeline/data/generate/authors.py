"""The synthetic authors file (goodreads_book_authors.json.gz): plausible, varied names and per-author counts.

Names are drawn from their own random stream, seeded from the generator's seed, so the other raw files do not
depend on this module (and stay byte-identical whether it changes or not). Each name is made within one naming
tradition (first names and surnames that go together), in the forms real author names take: plain, with a middle
initial, initials only ("J.K. ..."), two Spanish or Portuguese surnames, a suffix, or a one-word pen name.

The counts are those of the books file: `AuthorTally` sums each author's books (co-authored ones included) as
they are written, so an author's ratings_count is the sum over their books and average_rating their books'
ratings-weighted mean, as on Goodreads.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from pipeline.data.generate.writer import GzipLines

# (weight, first names, surnames, style): "anglo" names take middle initials, initials-only forms and suffixes;
# "two_surnames" names (Spanish, Portuguese) often carry both parents' surnames.
TRADITIONS: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], str]] = {
    "english": (0.36, (
        "Sarah", "Emily", "Jessica", "Rachel", "Laura", "Hannah", "Claire", "Megan", "Katherine", "Rebecca",
        "Abigail", "Holly", "James", "Michael", "David", "Andrew", "Matthew", "Daniel", "Christopher", "Jason",
        "Patrick", "Neil", "Scott", "Adam", "Victoria", "Alexandra", "Caroline", "Lauren", "Brianna", "Jennifer",
        "Melissa", "Courtney", "Tara", "Gregory", "Nathan", "Marissa", "Kristin", "Beth", "Cassandra", "Robin",
    ), (
        "Miller", "Bennett", "Harper", "Collins", "Foster", "Hughes", "Carter", "Reynolds", "Sutherland", "Whitaker",
        "Ashford", "Blackwood", "Caldwell", "Donovan", "Ellison", "Fairchild", "Hawthorne", "Kendrick", "Lockwood",
        "Maxwell", "Prescott", "Redmond", "Sinclair", "Thornton", "Wainwright", "Yates", "Brooks", "Morgan",
        "Fletcher", "Graves", "Holloway", "Pierce", "Sterling", "Winters", "Barrett", "Chambers", "Dalton", "Ford",
    ), "anglo"),
    "irish_scottish": (0.06, (
        "Siobhán", "Aoife", "Niamh", "Ciara", "Declan", "Liam", "Eoin", "Cormac", "Fiona", "Moira", "Callum",
        "Ewan", "Isla", "Eilidh", "Róisín", "Seán", "Orla", "Tadhg",
    ), (
        "O'Connell", "McAllister", "Byrne", "Fitzgerald", "Gallagher", "MacLeod", "Kennedy", "Doyle", "Quinn",
        "O'Sullivan", "McBride", "Sheridan", "Nolan", "Ferguson", "Ó Briain", "MacKenzie",
    ), "anglo"),
    "spanish": (0.08, (
        "Lucía", "Sofía", "Martín", "Alejandro", "Inés", "Joaquín", "Camila", "Valentina", "Mateo", "Andrés",
        "Isabel", "Ramón", "Pilar", "Carmen", "Tomás", "María José", "Julián", "Ximena",
    ), (
        "García", "Martínez", "Rodríguez", "Fernández", "López", "Hernández", "Ruiz", "Jiménez", "Muñoz",
        "Álvarez", "Castillo", "Ortega", "Navarro", "Domínguez", "Vázquez", "Santos", "Peña", "Ibáñez",
    ), "two_surnames"),
    "portuguese": (0.03, (
        "João", "Beatriz", "Mariana", "Gonçalo", "Inês", "Thiago", "Luíza", "Rafaela", "Vinícius", "Letícia",
    ), (
        "Silva", "Santos", "Oliveira", "Gonçalves", "Araújo", "Conceição", "Carvalho", "Magalhães", "Brandão",
    ), "two_surnames"),
    "french": (0.06, (
        "Amélie", "Chloé", "Camille", "Léa", "Élodie", "Margaux", "Hélène", "Étienne", "Julien", "Benoît", "Théo",
        "François", "Aurélie", "Noémie", "Rémi", "Marie-Claire", "Jean-Luc", "Anaïs",
    ), (
        "Lefèvre", "Moreau", "Dubois", "Laurent", "Girard", "Bérard", "Rousseau", "Fontaine", "Mercier",
        "Chevalier", "Delacroix", "Beaumont", "Duchêne", "Marchand", "Giraud", "Lécuyer",
    ), "plain"),
    "german_nordic": (0.07, (
        "Lena", "Anneliese", "Katrin", "Jonas", "Lukas", "Sören", "Björn", "Ingrid", "Astrid", "Sigrid", "Freja",
        "Maja", "Henrik", "Jörg", "Søren", "Linnéa", "Matthias", "Ulrike",
    ), (
        "Müller", "Schäfer", "Becker", "Hoffmann", "Köhler", "Wagner", "Lindqvist", "Johansson", "Andersen",
        "Halvorsen", "Nyström", "Bergström", "Åberg", "Sørensen", "Vogel", "von Arnim", "Brandt", "Lindgren",
    ), "anglo"),
    "dutch": (0.02, (
        "Anouk", "Sanne", "Maarten", "Pieter", "Femke", "Joost", "Lieke", "Bram",
    ), (
        "van der Berg", "de Vries", "van Dijk", "Jansen", "Bakker", "Visser", "van Leeuwen", "de Graaf",
    ), "anglo"),
    "italian": (0.04, (
        "Giulia", "Chiara", "Francesca", "Alessandro", "Lorenzo", "Matteo", "Elena", "Federica", "Niccolò",
        "Beatrice", "Raffaele", "Ilaria",
    ), (
        "Rossi", "Bianchi", "Romano", "Ferrari", "Esposito", "Ricci", "Marino", "Greco", "Bruno", "Gallo",
        "Conti", "De Luca", "Mancini", "D'Angelo",
    ), "plain"),
    "slavic_hungarian": (0.04, (
        "Katarzyna", "Agnieszka", "Tomasz", "Marek", "Zofia", "Dmitri", "Anastasia", "Irina", "Milena", "Ivana",
        "Lukáš", "Tereza", "Zsófia", "Ágnes",
    ), (
        "Nowak", "Horváth", "Kovačević", "Marković", "Jovanović", "Novák", "Kovács", "Nagy", "Szabó", "Zieliński",
    ), "plain"),
    "japanese": (0.04, (
        "Yuki", "Aiko", "Haruka", "Kenji", "Hiroshi", "Sakura", "Emi", "Takeshi", "Naoko", "Ryō", "Mei", "Sōta",
    ), (
        "Tanaka", "Nakamura", "Watanabe", "Yamamoto", "Kobayashi", "Satō", "Suzuki", "Itō", "Kimura", "Matsumoto",
        "Inoue", "Hayashi",
    ), "plain"),
    "korean": (0.03, (
        "Ji-woo", "Min-jun", "Seo-yeon", "Hye-jin", "Jae-hyun", "Soo-ah", "Eun-ji", "Dong-hyun", "Ha-eun",
    ), ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Han", "Seo"), "plain"),
    "chinese": (0.04, (
        "Mei-Ling", "Wei", "Xiaoling", "Jing", "Lian", "Hao", "Yan", "Jun", "Xinyi", "Zhiwei",
    ), ("Chen", "Wang", "Li", "Zhang", "Liu", "Huang", "Lin", "Zhao", "Wu", "Xu", "Tsai", "Ng"), "plain"),
    "indian": (0.05, (
        "Priya", "Ananya", "Arjun", "Rohan", "Kavya", "Nikhil", "Deepa", "Meera", "Vikram", "Aditi", "Sanjay",
        "Tanvi",
    ), (
        "Sharma", "Patel", "Iyer", "Reddy", "Kapoor", "Menon", "Chatterjee", "Desai", "Nair", "Bose", "Rao",
        "Banerjee",
    ), "plain"),
    "african": (0.04, (
        "Chidi", "Adaeze", "Ngozi", "Oluwaseun", "Kwame", "Ama", "Amara", "Tendai", "Zainab", "Folake", "Kofi",
        "Wanjiru",
    ), (
        "Okafor", "Adeyemi", "Mensah", "Okonkwo", "Oyelaran", "Nwosu", "Boateng", "Mwangi", "Diallo", "Abara",
        "Owusu", "Ndlovu",
    ), "plain"),
    "arabic_persian": (0.04, (
        "Layla", "Yasmin", "Omar", "Karim", "Nadia", "Samir", "Dalia", "Farid", "Shirin", "Dariush", "Leïla",
    ), (
        "Haddad", "Khalil", "Mansour", "Nasser", "Farouk", "Rahimi", "Tehrani", "Saleh", "Aziz", "El-Amin",
    ), "plain"),
}
PEN_NAMES = ("Sable", "Wren", "Marlowe", "Juniper", "Corvina", "Nyx", "Ember", "Lark", "Onyx", "Solenne")
SUFFIXES = ("Jr.", "III", "Sr.")
INITIALS = "ABCDEFGHJKLMNPRSTW"  # the letters initials commonly are
_NAMES_SEED = "authors"  # the stream name: other uses of the seed draw other numbers
_TRIES = 20  # draws before a repeated name is accepted (real Goodreads has namesakes too)


def author_names(n: int, seed: int) -> list[str]:
    """`n` author names, the same for the same seed; repeats only when the pools run short (a large n)."""
    rng = random.Random(f"{_NAMES_SEED}-{seed}")
    traditions = list(TRADITIONS.values())
    weights = [t[0] for t in traditions]
    names, seen = [], set()
    for _ in range(n):
        for _ in range(_TRIES):
            name = _one_name(rng, *rng.choices(traditions, weights)[0][1:])
            if name not in seen:
                break
        seen.add(name)
        names.append(name)
    return names


def _one_name(rng: random.Random, firsts: Sequence[str], lasts: Sequence[str], style: str) -> str:
    first, last = rng.choice(firsts), rng.choice(lasts)
    form = rng.random()
    if form < 0.01:
        return rng.choice(PEN_NAMES)
    if style == "anglo":
        if form < 0.07:
            return f"{rng.choice(INITIALS)}.{rng.choice(INITIALS)}. {last}"  # "J.K. ..."
        if form < 0.22:
            return f"{first} {rng.choice(INITIALS)}. {last}"
        if form < 0.24:
            return f"{first} {last} {rng.choice(SUFFIXES)}"
    elif style == "two_surnames" and form < 0.4:
        return f"{first} {last} {rng.choice(lasts)}"  # two surnames
    return f"{first} {last}"


class AuthorTally:
    """Per author id (in order of first appearance): ratings_count, text_reviews_count and the ratings-weighted
    sum of average_rating over the author's books, summed from the books-file records."""

    def __init__(self) -> None:
        self.sums: dict[str, list] = {}

    def add(self, record: dict) -> None:
        ratings, reviews = int(record["ratings_count"]), int(record["text_reviews_count"])
        stars = float(record["average_rating"]) * ratings
        for author_id in dict.fromkeys(a["author_id"] for a in record["authors"]):  # a co-author may repeat
            s = self.sums.setdefault(author_id, [0, 0, 0.0])
            s[0] += ratings
            s[1] += reviews
            s[2] += stars


def write_authors(path: Path, catalogue_ids: Sequence[int], tally: AuthorTally, seed: int, level: int = 3) -> int:
    """Write one line per author of `tally` (every author id of the books file) in catalogue order, keys and
    string values as in the real file; return the number of lines."""
    names = dict(zip(map(str, catalogue_ids), author_names(len(catalogue_ids), seed), strict=True))
    missing = tally.sums.keys() - names.keys()
    if missing:
        raise ValueError(f"author ids of the books file not in the catalogue: {sorted(missing)[:5]}")
    with GzipLines(path, level) as out:
        for author_id, name in names.items():
            if author_id not in tally.sums:
                continue
            ratings, reviews, stars = tally.sums[author_id]
            out.write(json.dumps({
                "average_rating": f"{stars / ratings:.2f}" if ratings else "0.00",
                "author_id": author_id,
                "text_reviews_count": str(reviews),
                "name": name,
                "ratings_count": str(ratings),
            }))
        return out.lines
