"""A seeded synthetic routing benchmark: the embedded default, no files and no network.

Queries are drawn from text templates filled with each domain's vocabulary (a topic and its terms) and a
difficulty phrase. An expert's score on a query is

    clip(skill[expert][domain] + offset[expert][topic] - difficulty_effect * d * (1 - skill) + noise * N(0, 1), 0, 1)

with d = -1 (easy), 0 or +1 (hard): hard queries widen the gap between strong and weak experts; the seeded
per-topic offsets (spread `topic_spread`) reward a router that reads more than the domain. Tags are the
query's topic and its request type, as an InsTag-style tagger would give. Subsets are the domains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rewardroute.data.matrix import DataError

# domain -> topic -> terms
VOCAB = {
    "math": {
        "algebra": ["quadratic equation", "system of linear equations", "polynomial factorisation", "inequality"],
        "calculus": ["derivative", "definite integral", "limit of a sequence", "Taylor series"],
        "probability": ["conditional probability", "expected value", "binomial distribution", "Bayes rule"],
        "geometry": ["area of a triangle", "inscribed circle", "volume of a cone", "Pythagorean theorem"],
    },
    "coding": {
        "python": ["list comprehension", "decorator", "generator function", "dictionary of lists"],
        "algorithms": ["binary search", "dynamic programming table", "graph traversal", "merge sort"],
        "debugging": ["null pointer exception", "off-by-one error", "race condition", "memory leak"],
        "web": ["REST endpoint", "SQL query", "HTML form", "JavaScript promise"],
    },
    "writing": {
        "fiction": ["short story", "opening paragraph", "plot twist", "dialogue between two characters"],
        "poetry": ["sonnet", "haiku", "limerick", "free verse poem"],
        "business": ["cover letter", "product announcement", "meeting summary", "polite complaint email"],
        "editing": ["paragraph for clarity", "essay introduction", "persuasive argument", "tone of a letter"],
    },
    "science": {
        "physics": ["Newton's second law", "quantum entanglement", "thermodynamic entropy", "electromagnetic induction"],
        "chemistry": ["covalent bond", "reaction rate", "acid-base titration", "oxidation state"],
        "biology": ["photosynthesis", "cell division", "natural selection", "protein folding"],
        "astronomy": ["black hole", "solar eclipse", "exoplanet detection", "life cycle of a star"],
    },
    "history": {
        "ancient": ["Roman Republic", "Egyptian pyramids", "Peloponnesian War", "Silk Road trade"],
        "modern": ["French Revolution", "Industrial Revolution", "Cold War", "fall of the Berlin Wall"],
        "biography": ["Napoleon Bonaparte", "Queen Victoria", "Mahatma Gandhi", "Abraham Lincoln"],
        "culture": ["Renaissance painting", "printing press", "Ottoman architecture", "Meiji restoration"],
    },
    "health": {
        "nutrition": ["daily protein intake", "vitamin D deficiency", "Mediterranean diet", "intermittent fasting"],
        "fitness": ["strength training plan", "marathon preparation", "stretching routine", "resting heart rate"],
        "medicine": ["high blood pressure", "type 2 diabetes", "antibiotic resistance", "seasonal allergies"],
        "sleep": ["insomnia", "circadian rhythm", "sleep apnea", "afternoon naps"],
    },
}

# request type -> templates ({term}, {topic}, {level} are filled in)
TEMPLATES = {
    "explanation": ["Explain the {term} in {topic} {level}.", "What is the {term} and why does it matter in {topic}? {level}"],
    "how-to": ["How do I work with a {term}? Answer {level}.", "Give me steps to handle the {term} ({topic}), {level}."],
    "comparison": ["Compare the {term} with another idea from {topic}, {level}.", "Is the {term} better understood through {topic}? Discuss {level}."],
    "creation": ["Write something about the {term} for a {topic} audience, {level}.", "Create an example involving the {term} in {topic} {level}."],
}
LEVELS = {
    -1: ["in simple words", "briefly for a beginner", "with an everyday example"],
    0: ["clearly", "with one worked example", "in a few paragraphs"],
    1: ["rigorously with edge cases", "in full technical depth", "for an expert, with every step justified"],
}

DEFAULT_SKILLS = {
    "generalist": {"math": 0.62, "coding": 0.60, "writing": 0.64, "science": 0.62, "history": 0.63, "health": 0.61},
    "mathcoder": {"math": 0.86, "coding": 0.82, "writing": 0.38, "science": 0.55, "history": 0.35, "health": 0.40},
    "wordsmith": {"math": 0.35, "coding": 0.38, "writing": 0.87, "science": 0.48, "history": 0.78, "health": 0.50},
    "scientist": {"math": 0.58, "coding": 0.45, "writing": 0.47, "science": 0.84, "history": 0.46, "health": 0.83},
    "lite": {"math": 0.50, "coding": 0.50, "writing": 0.55, "science": 0.50, "history": 0.52, "health": 0.52},
}


def queries(subsets: list[str] | None = None, **kwargs) -> pd.DataFrame:
    """The benchmark's queries only (no experts, no scores), of some domains or all: for runs whose stages make
    answers and scores, and for tiny evaluation subsets."""
    long = generate(**kwargs)
    table = long.drop_duplicates("query_id").drop(columns=["expert", "score"]).reset_index(drop=True)
    unknown = set(subsets or ()) - set(VOCAB)
    if unknown:
        raise DataError(f"subsets {sorted(unknown)} are not synthetic domains {sorted(VOCAB)}")
    return table[table["subset"].isin(subsets)].reset_index(drop=True) if subsets else table


def sample_texts(n: int = 400, seed: int = 0) -> list[str]:
    """Query-like sentences from the templates and vocabulary (a corpus for locally built tokenizers)."""
    return generate(n_train_per_domain=n // len(VOCAB), n_test_per_domain=0, seed=seed).drop_duplicates("query_id")["query"].tolist()


def generate(
    n_train_per_domain: int = 240,
    n_test_per_domain: int = 80,
    skills: dict[str, dict[str, float]] | None = None,
    difficulty_effect: float = 0.3,
    topic_spread: float = 0.08,
    noise: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """The long response table of the synthetic benchmark (see the module docstring)."""
    skills = {k: dict(v) for k, v in (skills or DEFAULT_SKILLS).items()}
    for expert, row in skills.items():
        if set(row) != set(VOCAB):
            raise DataError(f"data.source.skills.{expert}: expected one skill per domain {sorted(VOCAB)}, got {sorted(row)}")
    rng = np.random.default_rng(seed)
    experts = list(skills)
    rows = []
    for domain, topics in VOCAB.items():
        offsets = {t: topic_spread * rng.standard_normal(len(experts)) for t in topics}
        for i in range(n_train_per_domain + n_test_per_domain):
            topic = list(topics)[rng.integers(len(topics))]
            skill = np.array([skills[e][domain] for e in experts]) + offsets[topic]
            term = topics[topic][rng.integers(len(topics[topic]))]
            kind = list(TEMPLATES)[rng.integers(len(TEMPLATES))]
            level = int(rng.integers(-1, 2))
            template = TEMPLATES[kind][rng.integers(len(TEMPLATES[kind]))]
            phrase = LEVELS[level][rng.integers(len(LEVELS[level]))]
            text = template.format(term=term, topic=topic, level=phrase)
            score = skill - difficulty_effect * level * (1 - skill) + noise * rng.standard_normal(len(experts))
            split = "train" if i < n_train_per_domain else "test"
            qid = f"{domain}/{split}/{i}"
            for expert, s in zip(experts, np.clip(score, 0.0, 1.0)):
                rows.append(
                    {
                        "query_id": qid,
                        "subset": domain,
                        "split": split,
                        "query": text,
                        "expert": expert,
                        "score": round(float(s), 6),
                        "tags": [topic, kind],
                    }
                )
    return pd.DataFrame(rows)
