"""Rendered feeds by (feed, version, window): a poll storm costs a lookup, not a render."""

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


class RenderCache:
    """A small thread-safe LRU; stale versions simply age out, so nothing needs invalidating."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> Rendered | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key, body: bytes) -> Rendered:
        rendered = Rendered(body=body, etag=hashlib.sha256(body).hexdigest()[:40])
        with self._lock:
            self._items[key] = rendered
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return rendered
