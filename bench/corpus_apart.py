"""Build an older tree's cached synthetic corpus with its text generated before the timed store
build, as this tree's bench/synth.py does (``timed_store``), so both trees' store build times
leave the generation out. Run with that tree's bench folder as the working directory:

    cd bench/tmp/tree-0779d05/bench && python /path/to/this/bench/corpus_apart.py 1000000 [--index [--reuse VECTORS_FILE]]

The old code is not changed: its ``synth.generate`` is replaced, for the corpus seed only, by
the passages generated beforehand, and its own ``synth.corpus`` writes and times the store.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path[0] = os.getcwd()        # the old tree's bench modules, not this folder's

import synth  # noqa: E402


def wait_for_other_build(n: int) -> None:
    """Another process may be building this size's corpus and index ahead of the benchmark
    (``python corpus_apart.py N --index``, so that an old tree's HNSW build runs beside other
    steps): wait for it rather than build the same folder twice."""
    marker = synth.SYNTH / f"n{n}.building"
    while (marker.exists() and marker.read_text().strip() != str(os.getpid())
           and Path(f"/proc/{marker.read_text().strip()}").exists()):
        time.sleep(10)


def reuse_vector_index(path: Path) -> None:
    """Let the old code's index take the vector index another tree built over the same ids and
    vectors, instead of building its own: both trees' ``vectors.build`` are the same calls (HNSW
    M 32, efConstruction 80), and an HNSW build at 10^6 takes 25-40 minutes here. Checked: the
    same ids in the same order, and the same vectors at 1,000 sampled rows; else it builds."""
    import faiss
    import numpy as np

    build_vectors = synth.vectors.build

    def build_or_reuse(ids, vecs, dim, *args, **kwargs):
        index = faiss.read_index(str(path))
        same = np.array_equal(faiss.vector_to_array(index.id_map), np.asarray(ids, dtype=np.int64))
        if same:
            rows = np.random.default_rng(0).choice(len(ids), 1000, replace=False)
            same = np.array_equal(index.index.reconstruct_batch(rows), np.asarray(vecs, dtype=np.float32)[rows])
        print("vector index", "reused from" if same else "built again: not the same as", path, flush=True)
        return index if same else build_vectors(ids, vecs, dim, *args, **kwargs)

    synth.vectors.build = build_or_reuse


def main(n: int, index: bool = False, reuse: Path | None = None) -> None:
    wait_for_other_build(n)
    if index:
        marker = synth.SYNTH / f"n{n}.building"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        try:
            build(n)
            if reuse:
                reuse_vector_index(reuse)
            a = synth.Analyzer()
            print(synth.random_index(n, a, synth.material(a)), flush=True)
        finally:
            marker.unlink(missing_ok=True)
        return
    build(n)


def build(n: int) -> None:
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
    args = sys.argv[1:]
    main(int(args[0]), "--index" in args, Path(args[args.index("--reuse") + 1]) if "--reuse" in args else None)
