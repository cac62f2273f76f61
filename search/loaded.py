"""Opening a built index for reading: every file checked against the manifest first, so a
damaged or mixed index is refused instead of served."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from wenda.indexer import vectors
from wenda.indexer.errors import IndexCorrupt
from wenda.indexer.manifest import USER_DICT_FILE, current_generation, read_manifest, repair_hint, verify_files
from wenda.indexer.store import STORE_FILE, StoreReader
from wenda.indexer.tokens import Analyzer

log = logging.getLogger("wenda.search")


@dataclass
class LoadedIndex:
    index_dir: Path
    generation: Path
    manifest: dict
    store: StoreReader
    vectors: object          # faiss.IndexIDMap2
    analyzer: Analyzer

    @classmethod
    def open(cls, index_dir: Path, verify: bool = True) -> "LoadedIndex":
        gen = current_generation(index_dir)
        manifest = read_manifest(gen)
        verify_files(gen, manifest, full=verify)
        store = StoreReader(gen / STORE_FILE)
        if store.meta.get("generation") != manifest.get("generation"):
            raise IndexCorrupt(f"{gen / STORE_FILE} belongs to build {store.meta.get('generation')!r}, the manifest "
                               f"to {manifest.get('generation')!r}; {repair_hint(index_dir, manifest)}")
        expected = manifest["counts"]["passages"]
        if store.passage_count != expected:
            raise IndexCorrupt(f"{gen / STORE_FILE} holds {store.passage_count} passages, the manifest says "
                               f"{expected}; {repair_hint(index_dir, manifest)}")
        index = vectors.load(gen / vectors.VECTORS_FILE)
        if index.ntotal != expected or index.d != manifest["model"]["dim"]:
            raise IndexCorrupt(f"{gen / vectors.VECTORS_FILE} holds {index.ntotal} vectors of dimension {index.d}, "
                               f"expected {expected} of {manifest['model']['dim']}; {repair_hint(index_dir, manifest)}")
        user_dict = gen / USER_DICT_FILE
        analyzer = Analyzer(user_dict if user_dict.exists() else None)
        analyzer.warm()
        return cls(index_dir, gen, manifest, store, index, analyzer)

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    def close(self) -> None:
        self.store.close()
