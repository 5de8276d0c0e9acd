"""Evaluators on known right and wrong answers, the HumanEval sandbox on code that fails, loops or exhausts memory,
the LLM judges (parsers, a tiny local model, a fake OpenAI-compatible server on localhost), the benchmark query
loaders (fixtures and the real local copies) and every conf/benchmark subset file."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pandas as pd
import pytest
from conftest import needs_shared_data
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rewardroute.data.matrix import DataError
from rewardroute.evaluators.endpoint import Endpoint, EndpointError
from rewardroute.evaluators.flask import Flask
from rewardroute.evaluators.gsm8k import FinalNumber
from rewardroute.evaluators.humaneval import PassAtOne
from rewardroute.evaluators.judge import rating
from rewardroute.evaluators.mmlu import ChoiceLetter
from rewardroute.evaluators.mt_bench import MTBench
from rewardroute.evaluators.pairwise import Pairwise
from rewardroute.schema import PROJECT_ROOT

CONF = PROJECT_ROOT / "conf"
PROMPTS = CONF / "judge_prompts"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "benchmarks"
PARTS = ("queries", "evaluator")  # folders of conf/benchmark that hold shared parts, not subsets
SUBSETS = sorted(str(p.relative_to(CONF / "benchmark").with_suffix("")) for p in (CONF / "benchmark").glob("*/*.yaml")
                 if p.parent.name not in PARTS)


def table(n: int, **columns) -> pd.DataFrame:
    return pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "subset": "s", "query": "a question", **columns})


def benchmark(compose_cfg, name: str, *overrides: str):
    cfg = compose_cfg(f"benchmark={name}", *overrides)
    return instantiate(cfg.benchmark.queries), instantiate(cfg.benchmark.evaluator)


# --- rule-based evaluators ---------------------------------------------------------------------------------------

def test_gsm8k_final_number():
    answers = {
        "so she has 1,200 pens.\n#### 1,200": 1.0,
        "The answer is $1200.": 1.0,
        "40 * 30 = 1200.": 1.0,
        "That makes 1200.00 pens": 1.0,
        "The answer is 1200 pens, not 1300": 1.0,
        "It sells 1300 pens": 0.0,
        "I cannot tell.": 0.0,
        "": 0.0,
    }
    queries = table(len(answers), reference="40 * 30 = <<40*30=1200>>1200\n#### 1200")
    assert FinalNumber().evaluate(queries, list(answers)) == list(answers.values())
    assert FinalNumber().evaluate(table(1, reference=[-3]), ["it drops to -3"]) == [1.0]
    with pytest.raises(DataError, match="q0: no number in the reference"):
        FinalNumber().evaluate(table(1, reference="none"), ["1"])
    with pytest.raises(DataError, match="q1: no number in the reference answer 'None'"):  # a row without one
        FinalNumber().evaluate(table(2, reference=[72.0, float("nan")]), ["72", "1"])


def test_mmlu_choice_letter():
    answers = {
        "The answer is (B)": 1.0,
        "B. Paris": 1.0,
        "**B**": 1.0,
        "B": 1.0,
        "(B) because ...": 1.0,
        "Answer: B": 1.0,
        "A city in France is Paris, so the correct option is **B**.": 1.0,
        "**Answer:** B": 1.0,
        "Paris is the capital.\n\n**Final Answer:** B": 1.0,
        "The answer is $\\boxed{B}$": 1.0,
        "The answer is (C)": 0.0,
        "A": 0.0,
        "A good question; I am not sure.": 0.0,
        "Paris": 0.0,
        # a walk through the options: the statement at its end, not the last option it names
        "(A) is wrong.\n(B) is right.\n(C) is wrong.\n(D) is wrong.\nSo the correct option is B.": 1.0,
        "B is the answer.": 1.0,
        "Answer: The correct option is B": 1.0,
        "(A) is wrong and (B) is right.": 0.0,  # two letters marked, none stated: no choice
    }
    queries = table(len(answers), reference=1)
    assert ChoiceLetter().evaluate(queries, list(answers)) == list(answers.values())
    assert ChoiceLetter().evaluate(table(1, reference="b"), ["The answer is B."]) == [1.0]
    with pytest.raises(DataError, match="q0: reference 7"):
        ChoiceLetter().evaluate(table(1, reference=7), ["B"])
    with pytest.raises(DataError, match="q0: reference nan is neither an option index"):
        ChoiceLetter().evaluate(table(1, reference=float("nan")), ["B"])


def test_humaneval_without_tests_or_entry_point_names_the_columns_and_the_file():
    prompt = 'def add(a, b):\n    """The sum."""\n'
    with pytest.raises(DataError, match=r"humaneval.jsonl: missing columns \['test', 'entry_point'\]; pass@1 runs"):
        PassAtOne().evaluate(table(1, query=prompt, file="humaneval.jsonl", row=1), ["    return a + b\n"])
    queries = table(2, query=prompt, test=["def check(candidate):\n    pass\n", None], entry_point="add",
                    file="humaneval.jsonl", row=[1, 2])
    with pytest.raises(DataError, match=r"humaneval.jsonl, row 2, query q1: \['test'\] must be non-empty strings"):
        PassAtOne().evaluate(queries, ["    return a + b\n"] * 2)


def test_humaneval_stops_loops_and_memory_hogs_without_harm():
    prompt = 'def add(a, b):\n    """The sum."""\n'
    test = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    answers = {
        "    return a + b\n": 1.0,  # a continuation of the prompt
        "Here it is:\n```python\ndef add(a, b):\n    return b + a\n```\nDone.": 1.0,  # a chat model's whole function
        "    return a - b\n": 0.0,  # wrong
        "    return a +\n": 0.0,  # a syntax error
        "    while True:\n        pass\n": 0.0,  # loops forever: the timeout
        "    import time\n    time.sleep(60)\n": 0.0,  # sleeps: the wall clock
        "    hog = []\n    while True:\n        hog.append(bytearray(10**7))\n": 0.0,  # memory without bound
        "    import os\n    os.fork()\n    while True:\n        pass\n": 0.0,  # and its child
        "    while True:\n        print('x' * 10**5)\n": 0.0,  # endless output
        # a chat model's demo block is not run: neither its input() nor its exit skips the tests
        "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(int(input()), 1))\n```": 1.0,
        "    return a - b\n\nif __name__ == '__main__':\n    import sys\n    sys.exit(0)\n": 0.0,
        # wrong, then exits with status 0 before the tests run: not a pass
        "    return a - b\n\nexit()\n": 0.0,
        "    return a - b\n\nimport os\nos._exit(0)\n": 0.0,
    }
    queries = table(len(answers), query=prompt, test=test, entry_point="add")
    started = time.perf_counter()
    assert PassAtOne(timeout=1.5, memory_mb=256, workers=3).evaluate(queries, list(answers)) == list(answers.values())
    assert time.perf_counter() - started < 20  # 4 slow programs, 3 at a time: about 3 s


# --- LLM judges ----------------------------------------------------------------------------------------------------

@dataclass
class Scripted:
    """A judge backend that replies with reply(user prompt): the judges' logic without a model."""

    reply: object
    asked: list = field(default_factory=list)

    def spec(self) -> dict:
        return {"kind": "Scripted"}

    def complete(self, asks):
        self.asked.extend(asks)
        return [self.reply(user) for _, user in asks]


def test_rating_parser():
    assert rating("Good answer.\nRating: [[8]]", 1, 10) == 8.0
    assert rating("Rating: [[ 7.5 ]]", 1, 10) == 7.5
    assert rating("as in [[5]] ... final: [[3]]", 1, 10) == 3.0  # the last one counts
    for malformed in ("Rating: 8", "Rating: [8]", "[[eight]]", "Rating: [[11]]", "Rating: [[0]]", "", None):
        assert rating(malformed, 1, 10) is None
    assert rating("Readability: [[4]]\nConciseness: [[2]]", 1, 5, label="conciseness") == 2.0
    assert rating("Readability: [[4]]", 1, 5, label="Conciseness") is None


def test_pairwise_judge_orders_and_malformed_verdicts():
    queries = table(8, reference="the reference answer")
    always_a = Scripted(lambda user: "A is better. [[A]]")
    judge = lambda order: Pairwise(str(PROMPTS / "alpaca_eval_pairwise.yaml"), always_a, order=order)
    assert judge("model_first").evaluate(queries, ["mine"] * 8) == [1.0] * 8
    assert judge("reference_first").evaluate(queries, ["mine"] * 8) == [0.0] * 8
    assert judge("both").evaluate(queries, ["mine"] * 8) == [0.5] * 8  # position bias cancels
    drawn = judge("random").evaluate(queries, ["mine"] * 8)
    assert drawn == judge("random").evaluate(queries, ["other"] * 8) and set(drawn) == {0.0, 1.0}  # seeded per query
    first, second = always_a.asked[0][1], always_a.asked[8][1]
    assert first.index("mine") < first.index("the reference answer") and "{answer_a}" not in first
    assert second.index("the reference answer") < second.index("mine")
    tie = Pairwise(str(PROMPTS / "alpaca_eval_pairwise.yaml"), Scripted(lambda user: "[[C]]"))
    assert tie.evaluate(queries, ["x"] * 8) == [0.5] * 8
    unsure = Pairwise(str(PROMPTS / "alpaca_eval_pairwise.yaml"), Scripted(lambda user: "Both are fine."))
    assert unsure.evaluate(queries, ["x"] * 8) == [None] * 8 and unsure.counts["unrated"] == 8
    with pytest.raises(DataError, match="q0: the pairwise judge needs a reference"):
        unsure.evaluate(table(1), ["x"])


def test_mt_bench_judge_scores_every_turn_an_answer_holds():
    backend = Scripted(lambda user: "Rating: [[9]]" if "answer two" in user else "Rating: [[6]]")
    judge = MTBench(str(PROMPTS / "mt_bench_single.yaml"), backend)
    queries = table(3, turns=[["first question", "second question"]] * 3, category=["writing", "math", "math"],
                    reference=[None, ["ref one", "ref two"], ["ref one", "ref two"]])
    answers = ["answer one", ("answer one", "answer two"), ["answer one", "answer two"]]
    assert judge.evaluate(queries, answers) == [6.0, 7.5, 7.5]  # one turn; the mean of both turns
    assert len(backend.asked) == 5 and judge.counts == {"queries": 3, "prompts": 5, "unrated": 0, "cut": 0}
    writing, math_turn_2 = backend.asked[0][1], backend.asked[2][1]
    assert "first question" in writing and "answer one" in writing and "Reference" not in writing
    assert all(s in math_turn_2 for s in ("second question", "answer two", "ref two", "first question"))
    malformed = MTBench(str(PROMPTS / "mt_bench_single.yaml"),
                        Scripted(lambda user: "no rating" if "answer two" in user else "[[6]]"))
    assert malformed.evaluate(queries, answers) == [6.0, None, None] and malformed.counts["unrated"] == 2
    with pytest.raises(DataError, match="3 answer turns for 2 questions"):
        judge.evaluate(queries[:1], [["a", "b", "c"]])


def test_flask_judge_grades_each_skill():
    reply = "Fine.\nLogical Correctness: [[4]]\nReadability: [[5]]"
    judge = Flask(str(PROMPTS / "flask_skills.yaml"), Scripted(lambda user: reply))
    queries = table(2, reference="42", skills=[["Logical Correctness", "Readability"], ["Logical Correctness"]])
    assert judge.evaluate(queries, ["an answer", "another"]) == [4.5, 4.0]
    asked = judge.backend.asked[0][1]
    assert "Logical Correctness: [[x]]" in asked and "42" in asked and "Is the final answer correct" in asked
    assert "Conciseness" not in asked  # only the query's own skills and rubrics
    partial = Flask(str(PROMPTS / "flask_skills.yaml"), Scripted(lambda user: "Logical Correctness: [[4]]"))
    assert partial.evaluate(queries, ["a", "b"]) == [None, 4.0] and partial.counts["unrated"] == 1
    with pytest.raises(DataError, match="q0: skills \\['Charm'\\]"):
        judge.evaluate(table(1, skills=[["Charm"]]), ["a"])


@pytest.mark.parametrize(
    "evaluator, columns, answer, message",
    [
        (lambda: FinalNumber(), {"reference": "none"}, "1", "no number in the reference"),
        (lambda: ChoiceLetter(), {"reference": 7}, "B", "reference 7"),
        (lambda: Pairwise(str(PROMPTS / "alpaca_eval_pairwise.yaml"), Scripted(lambda user: "[[A]]")), {}, "x",
         "the pairwise judge needs a reference"),
        (lambda: MTBench(str(PROMPTS / "mt_bench_single.yaml"), Scripted(lambda user: "[[6]]")),
         {"turns": [["one question"]]}, ["a", "b"], "2 answer turns for 1 questions"),
        (lambda: Flask(str(PROMPTS / "flask_skills.yaml"), Scripted(lambda user: "[[4]]")), {"skills": [["Charm"]]},
         "a", r"skills \['Charm'\]"),
    ],
    ids=["gsm8k", "mmlu", "pairwise", "mt_bench", "flask"],
)
def test_evaluator_errors_name_the_file_and_row(evaluator, columns, answer, message):
    queries = table(1, file="bench.jsonl", row=7, **columns)  # load_benchmark adds file and row to each query
    with pytest.raises(DataError, match=rf"bench.jsonl, row 7, query q0: {message}"):
        evaluator().evaluate(queries, [answer])


def test_a_tiny_local_judge_runs_and_its_unrated_replies_are_counted(compose_cfg, tmp_path):
    parts = tmp_path / "parts"
    queries, judge = benchmark(compose_cfg, "mt_bench/writing", "benchmark/evaluator/backend=tiny",
                               f"benchmark.evaluator.backend.parts_dir={parts}",
                               f"benchmark.queries.local.path={FIXTURES / 'mt_bench.jsonl'}")
    assert type(judge.backend.model).__name__ == "TinyCausalLM"
    scores = judge.evaluate(queries, ["a short answer", ["one", "two"], "x"])
    assert scores == [None, None, None]  # random weights write no "[[rating]]": counted, never guessed
    assert judge.counts == {"queries": 3, "prompts": 4, "unrated": 3, "cut": 0}
    assert not parts.exists() or not any(parts.iterdir())  # the resumable parts are gone once complete


class FakeOpenAI(BaseHTTPRequestHandler):
    """Chat completions on localhost: the first request fails with 503 (a retry must follow), then each reply
    rates 8; "bad request" in a prompt gets a 400 while `refusing`."""

    calls: ClassVar[list] = []
    refusing: ClassVar[bool] = True

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if len(FakeOpenAI.calls) == 1:
            return self.answer(503, {"error": "busy"})
        if "bad request" in body["messages"][-1]["content"] and FakeOpenAI.refusing:
            return self.answer(400, {"error": {"message": "context too long"}})
        self.answer(200, {"choices": [{"message": {"role": "assistant", "content": "Solid. Rating: [[8]]"}}]})

    def answer(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_openai():
    FakeOpenAI.calls, FakeOpenAI.refusing = [], True
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_an_endpoint_judge_against_a_fake_openai_server(compose_cfg, fake_openai, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    queries, judge = benchmark(compose_cfg, "mt_bench/math", "benchmark/evaluator/backend=endpoint",
                               f"benchmark.evaluator.backend.url={fake_openai}", "benchmark.evaluator.backend.model=judge",
                               "benchmark.evaluator.backend.api_key_env=JUDGE_KEY", "benchmark.evaluator.backend.backoff=0.01",
                               f"benchmark.queries.local.path={FIXTURES / 'mt_bench.jsonl'}")
    assert judge.evaluate(queries, [["one", "two"], "one", "one"]) == [8.0] * 3
    last = FakeOpenAI.calls[-1]
    assert len(FakeOpenAI.calls) == 5 and last["path"] == "/v1/chat/completions" and last["auth"] == "Bearer sk-test"
    assert last["body"]["model"] == "judge" and last["body"]["temperature"] == 0.0
    assert [m["role"] for m in last["body"]["messages"]] == ["system", "user"]
    with pytest.raises(EndpointError, match=f"{fake_openai}/chat/completions: HTTP 400.*context too long"):
        judge.backend.complete([("", "bad request")])


@pytest.mark.parametrize("workers", [1, 4])
def test_an_endpoint_run_that_fails_keeps_its_replies_and_asks_only_the_rest_again(fake_openai, tmp_path, workers):
    from rewardroute.evaluators.endpoint import read_replies

    endpoint = Endpoint(fake_openai, "judge", backoff=0.01, workers=workers, parts_dir=str(tmp_path))
    asks = [("", "first"), ("", "second"), ("", "bad request"), ("", "fourth"), ("", "fifth")]
    with pytest.raises(EndpointError, match=r"HTTP 400.*replies received are kept in .*run again"):
        endpoint.complete(asks)
    [kept] = tmp_path.glob("*/replies.jsonl")
    kept_before = read_replies(kept)
    assert 2 not in kept_before and {0, 1} <= set(kept_before)  # the asks before the failure, kept
    FakeOpenAI.refusing, asked = False, len(FakeOpenAI.calls)
    assert endpoint.complete(asks) == ["Solid. Rating: [[8]]"] * 5
    again = sorted(c["body"]["messages"][-1]["content"] for c in FakeOpenAI.calls[asked:])
    assert again == sorted(user for i, (_, user) in enumerate(asks) if i not in kept_before)
    assert not any(tmp_path.iterdir())  # complete: nothing left to resume


def test_an_unreachable_endpoint_is_an_error_naming_the_url():
    with pytest.raises(EndpointError, match=r"http://127.0.0.1:9/v1/chat/completions: .*gave up after 2 attempts"):
        Endpoint("http://127.0.0.1:9/v1", "judge", retries=1, backoff=0.01, timeout=2).complete([("", "hello")])


# --- query loaders and configs ----------------------------------------------------------------------------------

def test_rule_benchmarks_from_local_fixtures_score_their_reference_answers(compose_cfg):
    gsm8k, evaluator = benchmark(compose_cfg, "benchmarks/gsm8k", f"benchmark.queries.local.path={FIXTURES / 'gsm8k.jsonl'}")
    assert list(gsm8k["query_id"]) == ["0", "1", "2"] and set(gsm8k["subset"]) == {"gsm8k"}
    assert evaluator.evaluate(gsm8k, ["So 7.", "#### 1200", "6 stay"]) == [1.0, 1.0, 0.0]
    mmlu, evaluator = benchmark(compose_cfg, "benchmarks/mmlu", f"benchmark.queries.local.path={FIXTURES / 'mmlu.jsonl'}")
    assert mmlu["query"][0].endswith("What is the chemical symbol of gold?\nA. Ag\nB. Au\nC. Gd\nD. Go")
    assert evaluator.evaluate(mmlu, ["B", "The answer is (A).", "C. 58"]) == [1.0, 1.0, 0.0]
    humaneval, evaluator = benchmark(compose_cfg, "benchmarks/humaneval",
                                     f"benchmark.queries.local.path={FIXTURES / 'humaneval.jsonl'}")
    assert list(humaneval["query_id"]) == ["Fixture/0", "Fixture/1"]
    assert evaluator.evaluate(humaneval, humaneval["canonical_solution"].tolist()) == [1.0, 1.0]


def test_without_a_local_file_the_hub_is_tried_and_the_error_names_both(compose_cfg, tmp_path):
    missing = tmp_path / "gsm8k.jsonl"
    with pytest.raises(Exception, match=f"the local file {missing} does not exist, and the hub dataset openai/gsm8k"):
        benchmark(compose_cfg, "benchmarks/gsm8k", f"benchmark.queries.local.path={missing}")


def test_a_filter_on_a_field_the_source_lacks_is_an_error(compose_cfg):
    with pytest.raises(Exception, match="no field 'domains' to select by"):
        benchmark(compose_cfg, "benchmarks/gsm8k", f"benchmark.queries.local.path={FIXTURES / 'gsm8k.jsonl'}",
                  "+benchmark.queries.where={domains: Math}")


@needs_shared_data
def test_the_real_local_query_sets(compose_cfg):
    math, judge = benchmark(compose_cfg, "flask/math")
    assert len(math) == 218 and set(math["subset"]) == {"flask_math"} and isinstance(judge, Flask)
    assert all("Math" in d for d in math["domains"]) and math["reference"].map(bool).all()
    coding, _ = benchmark(compose_cfg, "flask/coding")
    both = set(math["query_id"]) & set(coding["query_id"])
    assert len(coding) == 205 and both  # a query in two domains is in both subsets
    writing, _ = benchmark(compose_cfg, "mt_bench/writing")
    assert len(writing) == 10 and all(len(t) == 2 for t in writing["turns"])
    assert (writing["query"] == writing["turns"].str[0]).all() and writing["reference"].isna().all()
    mt_math, _ = benchmark(compose_cfg, "mt_bench/math")
    assert len(mt_math) == 10 and all(len(r) == 2 for r in mt_math["reference"])
    koala, recorded = benchmark(compose_cfg, "alpaca_eval/koala")
    assert len(koala) == 156 and koala["reference"].map(len).gt(0).all()
    assert set(koala["query_id"]) <= set(recorded.scores("vicuna-13b"))  # recorded judgements, keyed alike


def test_every_benchmark_file_composes_and_the_26_subsets_have_unique_names(compose_cfg):
    groups = {"alpaca_eval": "AlpacaEval", "flask": "FLASK", "mt_bench": "MT-Bench", "benchmarks": "Benchmarks"}
    named = {}
    for subset in SUBSETS:
        cfg = compose_cfg(f"benchmark={subset}")
        bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
        assert bench["name"] and bench["group"] and bench["queries"]["_target_"], subset
        assert instantiate(cfg.benchmark.evaluator).spec()["kind"], subset
        if subset.split("/")[0] in groups:
            assert bench["group"] == groups[subset.split("/")[0]], subset
            named[subset] = bench
    assert pd.Series([b["group"] for b in named.values()]).value_counts().to_dict() == {
        "FLASK": 10, "MT-Bench": 8, "AlpacaEval": 5, "Benchmarks": 3}
    assert len({b["name"] for b in named.values()}) == 26  # the report keys subsets by name


def test_evaluators_and_backends_are_chosen_by_override(compose_cfg):
    cfg = compose_cfg("benchmark=alpaca_eval/koala", "benchmark/evaluator=alpaca_eval_judge",
                      "benchmark/evaluator/backend=endpoint", "benchmark.evaluator.backend.url=http://localhost:8000/v1")
    judge = instantiate(cfg.benchmark.evaluator)
    assert isinstance(judge, Pairwise) and judge.spec()["backend"]["url"] == "http://localhost:8000/v1"
    local = instantiate(compose_cfg("benchmark=flask/math", "benchmark.evaluator.backend.model.model=/models/judge")
                        .benchmark.evaluator)
    assert local.spec()["backend"]["model"]["model"] == "/models/judge"
