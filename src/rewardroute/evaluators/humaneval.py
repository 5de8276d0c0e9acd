"""HumanEval pass@1: the completion is run against the task's tests in a subprocess; it passes when the process
exits with status 0 after `check(entry_point)` has returned (code that exits early, by exit(), sys.exit(0) or
os._exit(0) before the tests, fails: the reference harness fails it too).

The program is the prompt (signature, docstring, imports), the completion, the tests and `check(entry_point)`.
An answer holding a fenced code block is read from its first block; code that defines the entry point itself
(a chat model's whole function) follows the prompt on a new line, anything else continues the prompt as is.

Each program runs as `python -I` in a throwaway temporary folder (its working directory and HOME), with no
stdin, in a session of its own, under limits on wall-clock time, CPU seconds, address space (memory) and the
size of files it writes (its output goes to a file there, so an endless print fills neither memory nor disk).
Code that loops forever is killed at the timeout, with every process it started; code that allocates without
bound gets a MemoryError or is killed by the kernel; either way it scores 0 and the caller carries on.

The limits are set by a few lines that run in the child before the program, not by `preexec_fn`: preexec_fn may
deadlock in a parent with threads (Lightning, W&B, tokenizers), and this way the program still starts limited.
This guards against mistakes of model-written code, not against malicious code: run untrusted code in a container.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from rewardroute.data.matrix import DataError, where_query

log = logging.getLogger(__name__)

OUTPUT_BYTES = 16 * 2**20
LIMITED = """
import resource, runpy, sys
memory, cpu, output = (int(v) for v in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
runpy.run_path(sys.argv[4], run_name="program")  # not __main__: the answer's own demo block stays unrun
open(sys.argv[5], "w").close()  # reached only when the program, its tests included, ran to its end
"""
FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)


def program(prompt: str, answer: str, test: str, entry_point: str) -> str:
    block = FENCE.search(answer)
    code = block.group(1) if block else answer
    defines = re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE)
    body = f"{prompt}\n{code}" if defines else prompt + code
    return f"{body}\n\n{test}\n\ncheck({entry_point})\n"


def check_columns(queries: pd.DataFrame) -> None:
    """Every query needs its `test` code and `entry_point` name: without them there is no program to run."""
    needed = ("test", "entry_point")
    missing = [c for c in needed if c not in queries.columns]
    if missing:
        files = sorted(set(queries["file"].astype(str))) if "file" in queries.columns else ["<memory>"]
        raise DataError(f"{', '.join(files)}: missing columns {missing}; pass@1 runs each query's `test` code "
                        "against its `entry_point` function, so the query source needs both (benchmark.queries "
                        "fields can map them)")
    for row in queries.to_dict("records"):
        # a field only some rows have comes as NaN or None in the others: no program to run there
        bad = [c for c in needed if not isinstance(row[c], str) or not row[c].strip()]
        if bad:
            raise DataError(f"{where_query(row)}: {bad} must be non-empty strings")


@dataclass
class PassAtOne:
    timeout: float = 10.0  # wall-clock seconds per program; CPU seconds are limited to the same, rounded up
    memory_mb: int = 1024  # address space of the program's process
    workers: int = 2  # programs run at once

    def spec(self) -> dict:
        return {"kind": "PassAtOne", "reading": 2, **asdict(self)}  # reading: bumped when it scores programs anew

    def run(self, source: str) -> str:
        """'passed', 'failed' or 'timeout'."""
        with tempfile.TemporaryDirectory(prefix="humaneval-") as folder:
            path = Path(folder, "program.py")
            path.write_text(source)
            env = {"PATH": os.environ.get("PATH", ""), "HOME": folder, "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
            limits = [str(self.memory_mb * 2**20), str(math.ceil(self.timeout)), str(OUTPUT_BYTES)]
            finished = Path(folder, f"finished-{os.urandom(8).hex()}")
            with open(Path(folder, "output.txt"), "wb") as output:
                proc = subprocess.Popen([sys.executable, "-I", "-c", LIMITED, *limits, str(path), str(finished)],
                                        cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                try:
                    status = proc.wait(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    status = None
                finally:
                    try:  # the program's own children too: they share its process group
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
            ran_to_end = finished.exists()
        return "timeout" if status is None else "passed" if status == 0 and ran_to_end else "failed"

    def evaluate(self, queries: pd.DataFrame, answers: list[str]) -> list[float | None]:
        check_columns(queries)
        sources = [program(r["query"], answer or "", r["test"], r["entry_point"])
                   for r, answer in zip(queries.to_dict("records"), answers)]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = list(pool.map(self.run, sources))
        log.info("humaneval: %s of %d programs", dict(Counter(outcomes)), len(outcomes))
        return [float(o == "passed") for o in outcomes]
