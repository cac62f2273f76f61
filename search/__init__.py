"""wenda's search service: load an index once, then search and answer.

    from wenda.search import Searcher
    searcher = Searcher.open("index")
    print(searcher.ask("普陀区累计开通了多少个5G室外基站？").answer)
"""
from .records import Answer, Hit, SearchResult
from .searcher import Searcher

__all__ = ["Searcher", "Hit", "Answer", "SearchResult"]
