"""What an index holds, read from its manifest and store without loading the model."""
from __future__ import annotations

from pathlib import Path

from wenda.indexer.manifest import current_generation, read_manifest, verify_files
from wenda.indexer.store import STORE_FILE, StoreReader


def index_info(index_dir: Path, full_check: bool = False) -> dict:
    gen = current_generation(index_dir)
    manifest = read_manifest(gen)
    verify_files(gen, manifest, full=full_check)
    store = StoreReader(gen / STORE_FILE)
    try:
        sources = store.documents()
    finally:
        store.close()
    return {
        "index_dir": str(index_dir),
        "generation": gen.name,
        "created": manifest["created"],
        "format": manifest["format"],
        "root": manifest.get("root"),
        "model": manifest["model"],
        "chunking": manifest["chunking"],
        "analyzer": manifest["analyzer"],
        "vector_index": manifest["vector_index"],
        "documents": len(sources),
        "passages": manifest["counts"]["passages"],
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
        "files": manifest["files"],
        "sources": [{"source": d["source"], "title": d["title"], "passages": d["passages"],
                     "chars": d["chars"], "sha256": d["sha256"]} for d in sources],
    }
