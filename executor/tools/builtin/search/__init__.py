"""``web_search`` and its backends: SearXNG, Brave Search and Tavily.

Host wiring (the host picks the backend from its settings)::

    backend = SearXNG("http://searxng:8080")      # or BraveSearch(key), Tavily(key)
    registry = Registry(builtin_tools(policy, search=backend))

Without a backend ``builtin_tools`` leaves web_search out.
"""

from __future__ import annotations

from executor.tools.builtin.search.backend import SearchBackend, SearchError, SearchHit
from executor.tools.builtin.search.brave import DEFAULT_BASE_URL as DEFAULT_BRAVE_BASE_URL
from executor.tools.builtin.search.brave import BraveSearch
from executor.tools.builtin.search.searxng import SearXNG
from executor.tools.builtin.search.tavily import DEFAULT_BASE_URL as DEFAULT_TAVILY_BASE_URL
from executor.tools.builtin.search.tavily import Tavily
from executor.tools.builtin.search.tool import WEB_SEARCH, web_search_tool

__all__ = [
    "DEFAULT_BRAVE_BASE_URL",
    "DEFAULT_TAVILY_BASE_URL",
    "WEB_SEARCH",
    "BraveSearch",
    "SearXNG",
    "SearchBackend",
    "SearchError",
    "SearchHit",
    "Tavily",
    "web_search_tool",
]
