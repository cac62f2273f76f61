"""Build an older tree's cached synthetic corpus with its text generated before the timed store
build, as this tree's bench/synth.py does (``timed_store``), so both trees' store build times
leave the generation out. Run with that tree's bench folder as the working directory:

    cd bench/tmp/tree-0779d05/bench && python /path/to/this/bench/corpus_apart.py 1000000

The old code is not changed: its ``synth.generate`` is replaced, for the corpus seed only, by
the passages generated beforehand, and its own ``synth.corpus`` writes and times the store.
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path[0] = os.getcwd()        # the old tree's bench modules, not this folder's

import synth  # noqa: E402


def main(n: int) -> None:
    analyzer = synth.Analyzer()
    m = synth.material(analyzer)
    folder = synth.SYNTH / f"n{n}-v{synth.VERSION}"
    if (folder / "done.json").exists():
        return
    generate = synth.generate
    t0 = time.perf_counter()
    items = list(generate(m, n))
    generation_s = time.perf_counter() - t0
    synth.generate = lambda m_, n_, seed=0: iter(items) if seed == 0 and n_ == n else generate(m_, n_, seed)
    synth.corpus(n, analyzer, m)
    done = json.loads((folder / "done.json").read_text())
    (folder / "done.json").write_text(json.dumps({**done, "generation_s": round(generation_s, 1)}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
