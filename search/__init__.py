"""wenda's search service: load an index once, then search and answer.

    from search import Searcher
    searcher = Searcher.open("index")
    print(searcher.ask("静安区大约有多少家数据智能相关企业？").answer)
"""
from .records import Answer, Hit, SearchResult
from .searcher import Searcher

__all__ = ["Searcher", "Hit", "Answer", "SearchResult"]
