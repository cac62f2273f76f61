"""Where passages, their lexical views and vectors are kept: the SQLite + FAISS index folder
(``indexer/store.py``, ``vectors.py``, ``postings.py``, read by ``search/open_index.py``) or a
Milvus collection (``milvus.py``, imported only when chosen). The read side both offer is the
Protocol in ``search/backend.py``."""
