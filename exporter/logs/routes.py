"""Route grouping: a request path becomes one of the configured group names, or ``other``, so the
route label's values are bounded by the config whatever paths the traffic carries (ids in paths,
scanners probing random URLs)."""

from __future__ import annotations

import re

from exporter.logs.config import RouteGroup

OTHER = "other"
_CACHE_MAX = 8192  # distinct raw paths remembered; cleared when full so memory stays bounded


def _pattern(glob: str) -> str:
    """``*`` within a segment, ``**`` across segments, everything else literal."""
    out = []
    for i, part in enumerate(glob.split("**")):
        if i:
            out.append(".*")
        out.append("[^/]*".join(re.escape(p) for p in part.split("*")))
    return "".join(out)


class RouteGrouper:
    def __init__(self, groups: tuple[RouteGroup, ...]) -> None:
        self._names: list[str] = []
        alternatives = []
        for group in groups:
            for path in group.paths:
                # one capturing group per pattern: lastindex says which matched, first wins
                alternatives.append(f"({_pattern(path)})")
                self._names.append(group.name)
        self._regex = re.compile("|".join(alternatives)) if alternatives else None
        self._cache: dict[str, str] = {}

    def group(self, path: str | None) -> str:
        if path is None or self._regex is None:
            return OTHER
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        bare = path.split("?", 1)[0].split("#", 1)[0]
        match = self._regex.fullmatch(bare)
        name = (
            OTHER if match is None or match.lastindex is None else self._names[match.lastindex - 1]
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[path] = name
        return name
