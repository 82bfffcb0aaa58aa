"""Workspace pool: a scoped caching allocator for numpy array data (NEP 49 data-memory handler).

A training step allocates the same few-MB activations and gradients every step. glibc serves blocks
that large with mmap and returns them with munmap, so every page is faulted in and zeroed again each
step. Inside `with pooled():` numpy allocates array data through this module's handler, which keeps
freed blocks of at least THRESHOLD bytes in free lists keyed by their exact size and hands them out
again. Smaller blocks go to numpy's default allocator (malloc/free behind numpy's own cache of tiny
blocks). The handler is numpy's per-context setting (contextvars): it affects only the code inside the
`with`, never other threads or other libraries, and each array remembers the handler that allocated
it, so it is freed here wherever it dies.

Every block carries a 16-byte header holding its size: numpy's `size` argument to free is not always
the allocated size (NEP 49: `np.empty((2, 0, 2))` allocates as if the 0 were 1, frees 1 byte), so
the pool never trusts it.
"""
from libc.stdint cimport uint8_t, uint32_t, uintptr_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset, strncpy
from cpython.pycapsule cimport PyCapsule_New, PyCapsule_GetPointer
from cpython.ref cimport PyObject
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_acquire_lock,
                               PyThread_release_lock, WAIT_LOCK)

import os

__all__ = ["pooled", "release", "stats", "set_cap", "THRESHOLD", "HANDLER_NAME"]


cdef extern from "numpy/arrayobject.h":
    ctypedef struct PyDataMemAllocator:
        void* ctx
        void* (*malloc)(void* ctx, size_t size) noexcept nogil
        void* (*calloc)(void* ctx, size_t nelem, size_t elsize) noexcept nogil
        void* (*realloc)(void* ctx, void* ptr, size_t new_size) noexcept nogil
        void (*free)(void* ctx, void* ptr, size_t size) noexcept nogil
    ctypedef struct PyDataMem_Handler:
        char name[127]
        uint8_t version
        PyDataMemAllocator allocator
    int _import_array() except -1
    object PyDataMem_SetHandler(object handler)   # returns the previous handler
    PyObject* PyDataMem_DefaultHandler


_import_array()

cdef enum:
    _THRESHOLD = 65536          # bytes; smaller blocks go to numpy's default allocator, uncached
    _HDR = 16                   # header bytes right before the data of every block
    _ALIGN = 64                 # cached blocks start on a cache line
    _LARGE_PAD = _HDR + _ALIGN  # enough for the header and the alignment whatever malloc's alignment
    _NSLOTS = 512               # size classes the table holds (power of two)
    _MAX_USED = 384             # 3/4 full: compact (drop empty classes) or stop caching new sizes

cdef uint32_t _SMALL = 0x6d677331   # header magic of a block from numpy's default allocator
cdef uint32_t _LARGE = 0x6d67776c   # header magic of a block the pool may cache

THRESHOLD = _THRESHOLD
HANDLER_NAME = "minigraph_workspace"

ctypedef struct Header:
    size_t size        # bytes the caller asked for
    uint32_t offset    # data - base (base: what the underlying allocator returned)
    uint32_t magic

ctypedef struct Bucket:
    size_t size        # 0: empty slot
    void* head         # cached blocks of this size; the next pointer sits in a block's first 8 data bytes
    size_t count
    unsigned long long used  # the pooled() scope (_scope) in which this size was last asked for or cached


# Pool state, guarded by _lock. The callbacks never call Python while holding it (so never wait for the
# GIL there): a thread holding the GIL and waiting for _lock cannot deadlock with the holder.
cdef PyThread_type_lock _lock = PyThread_allocate_lock()
if _lock == NULL:
    raise MemoryError("workspace: cannot allocate the pool's lock")
cdef Bucket _table[_NSLOTS]
cdef Bucket _spare[_NSLOTS]
cdef size_t _used = 0
cdef size_t _cached_bytes = 0
cdef size_t _cached_blocks = 0
cdef size_t _cap = 512 * 1024 * 1024
cdef unsigned long long _hits = 0
cdef unsigned long long _misses = 0
cdef unsigned long long _foreign = 0
cdef unsigned long long _scope = 0  # pooled() scopes entered so far
memset(_table, 0, sizeof(_table))


cdef inline Header* _header(void* data) noexcept nogil:
    return <Header*>(<char*>data - _HDR)


cdef inline size_t _slot_of(size_t size) noexcept nogil:
    return <size_t>((<unsigned long long>size * 0x9E3779B97F4A7C15ULL) >> 40) & (_NSLOTS - 1)


cdef Bucket* _find(size_t size, bint create) noexcept nogil:
    """The bucket of this size (lock held); NULL if absent and not created (or the table is full)."""
    global _used
    cdef size_t i = _slot_of(size)
    while _table[i].size != 0:
        if _table[i].size == size:
            return &_table[i]
        i = (i + 1) & (_NSLOTS - 1)
    if not create:
        return NULL
    if _used >= _MAX_USED:
        _compact()
        if _used >= _MAX_USED:
            return NULL
        i = _slot_of(size)
        while _table[i].size != 0:
            i = (i + 1) & (_NSLOTS - 1)
    _table[i].size = size
    _table[i].head = NULL
    _table[i].count = 0
    _table[i].used = 0
    _used += 1
    return &_table[i]


cdef void _compact() noexcept nogil:
    """Rebuild the table without its empty buckets (sizes seen once, e.g. a last short batch)."""
    global _used
    cdef size_t i, j
    memcpy(_spare, _table, sizeof(_table))
    memset(_table, 0, sizeof(_table))
    _used = 0
    for i in range(<size_t>_NSLOTS):
        if _spare[i].size != 0 and _spare[i].count != 0:
            j = _slot_of(_spare[i].size)
            while _table[j].size != 0:
                j = (j + 1) & (_NSLOTS - 1)
            _table[j] = _spare[i]
            _used += 1


cdef void* _pop(size_t size) noexcept nogil:
    """A cached block of exactly this size, or NULL; counts the hit or miss."""
    global _hits, _misses, _cached_bytes, _cached_blocks
    cdef void* data = NULL
    cdef Bucket* b
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    b = _find(size, False)
    if b != NULL:
        b.used = _scope
    if b != NULL and b.head != NULL:
        data = b.head
        b.head = (<void**>data)[0]
        b.count -= 1
        _cached_bytes -= size
        _cached_blocks -= 1
        _hits += 1
    else:
        _misses += 1
    PyThread_release_lock(_lock)
    return data


cdef void* _evict_for(size_t size) noexcept nogil:
    """Take cached blocks of stale sizes out of the cache, the longest unused first, until a block of
    `size` bytes fits under the cap (lock held); returns them chained, for the caller to free once the lock
    is released.  Stale: not asked for in this pooled() scope or the one before.  Without this, the sizes of
    a model that ran before would hold the cap forever and every block of the next model would go back to
    the system (and be faulted in again) at each step.  Sizes in use are never evicted for one another: when
    one step's blocks exceed the cap, evicting the least recently used would evict, at the end of each step,
    the blocks the next step asks for first."""
    global _cached_bytes, _cached_blocks
    cdef void* chain = NULL
    cdef void* data
    cdef Bucket* oldest
    cdef size_t i
    while _cached_bytes > _cap - size:
        oldest = NULL
        for i in range(<size_t>_NSLOTS):
            if (_table[i].head != NULL and _table[i].size != size and _table[i].used + 1 < _scope
                    and (oldest == NULL or _table[i].used < oldest.used)):
                oldest = &_table[i]
        if oldest == NULL:
            break
        data = oldest.head
        oldest.head = (<void**>data)[0]
        oldest.count -= 1
        _cached_bytes -= oldest.size
        _cached_blocks -= 1
        (<void**>data)[0] = chain
        chain = data
    return chain


cdef bint _push(void* data, size_t size) noexcept nogil:
    """Cache the block, making room under the cap from stale sizes if need be; False: the caller frees
    it."""
    global _cached_bytes, _cached_blocks
    cdef Bucket* b
    cdef bint kept = False
    cdef void* evicted = NULL
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    if size <= _cap:
        if _cached_bytes > _cap - size:
            evicted = _evict_for(size)
        b = _find(size, True) if _cached_bytes <= _cap - size else NULL
        if b != NULL:
            (<void**>data)[0] = b.head
            b.head = data
            b.count += 1
            b.used = _scope
            _cached_bytes += size
            _cached_blocks += 1
            kept = True
    PyThread_release_lock(_lock)
    _free_chain(evicted)
    return kept


cdef void* _new_block(size_t size, bint zeroed) noexcept nogil:
    """A fresh block from the C allocator with its header filled in."""
    cdef char* base
    cdef char* data
    cdef Header* h
    if size >= _THRESHOLD:
        if size > <size_t>-1 - _LARGE_PAD:
            return NULL
        base = <char*>(calloc(1, size + _LARGE_PAD) if zeroed else malloc(size + _LARGE_PAD))
        if base == NULL:
            return NULL
        data = <char*>((<uintptr_t>base + _HDR + _ALIGN - 1) & ~(<uintptr_t>_ALIGN - 1))
        h = _header(data)
        h.magic = _LARGE
    else:
        base = <char*>(_default.calloc(_default.ctx, 1, size + _HDR) if zeroed
                       else _default.malloc(_default.ctx, size + _HDR))
        if base == NULL:
            return NULL
        data = base + _HDR
        h = _header(data)
        h.magic = _SMALL
    h.size = size
    h.offset = <uint32_t>(data - base)
    return data


cdef void _release_block(void* data) noexcept nogil:
    cdef Header* h = _header(data)
    if h.magic == _SMALL:
        _default.free(_default.ctx, <char*>data - _HDR, h.size + _HDR)
    else:
        free(<char*>data - h.offset)


cdef void* _ws_malloc(void* ctx, size_t size) noexcept nogil:
    cdef void* data
    if size >= _THRESHOLD:
        data = _pop(size)
        if data != NULL:
            return data
    return _new_block(size, False)


cdef void* _ws_calloc(void* ctx, size_t nelem, size_t elsize) noexcept nogil:
    cdef size_t size
    cdef void* data
    if elsize != 0 and nelem > (<size_t>-1) / elsize:
        return NULL
    size = nelem * elsize
    if size >= _THRESHOLD:
        data = _pop(size)
        if data != NULL:
            memset(data, 0, size)  # a reused block holds whatever its last array left there
            return data
    return _new_block(size, True)


cdef void _ws_free(void* ctx, void* data, size_t size) noexcept nogil:
    # `size` is ignored on purpose: the header knows the real size (see the module docstring).
    global _foreign
    cdef Header* h
    if data == NULL:
        return
    h = _header(data)
    if h.magic == _SMALL:
        _release_block(data)
    elif h.magic == _LARGE:
        if not _push(data, h.size):
            _release_block(data)
    else:  # not ours (or a corrupted header): leaking beats freeing a wrong pointer
        PyThread_acquire_lock(_lock, WAIT_LOCK)
        _foreign += 1
        PyThread_release_lock(_lock)


cdef void* _ws_realloc(void* ctx, void* data, size_t new_size) noexcept nogil:
    cdef Header* h
    cdef char* base
    cdef void* out
    if data == NULL:
        return _ws_malloc(ctx, new_size)
    h = _header(data)
    if h.magic == _SMALL and new_size < _THRESHOLD:
        base = <char*>_default.realloc(_default.ctx, <char*>data - _HDR, new_size + _HDR)
        if base == NULL:
            return NULL
        _header(base + _HDR).size = new_size
        return base + _HDR
    if h.magic != _SMALL and h.magic != _LARGE:
        return NULL
    out = _ws_malloc(ctx, new_size)
    if out == NULL:
        return NULL  # the old block stays valid, as realloc promises
    memcpy(out, data, new_size if new_size < h.size else h.size)
    _ws_free(ctx, data, h.size)
    return out


# numpy's default allocator serves the small blocks: its cache of tiny blocks beats malloc. numpy calls
# these exactly where it would call them without the pool (array creation and deallocation).
cdef object _default_capsule = <object>PyDataMem_DefaultHandler
cdef PyDataMemAllocator _default = (<PyDataMem_Handler*>PyCapsule_GetPointer(
    _default_capsule, b"mem_handler")).allocator

cdef PyDataMem_Handler _handler
strncpy(_handler.name, b"minigraph_workspace", 127)
_handler.version = 1
_handler.allocator.ctx = NULL
_handler.allocator.malloc = _ws_malloc
_handler.allocator.calloc = _ws_calloc
_handler.allocator.realloc = _ws_realloc
_handler.allocator.free = _ws_free
# The capsule lives as long as the module (arrays hold references to it too); the struct is static.
cdef object _capsule = PyCapsule_New(<void*>&_handler, b"mem_handler", NULL)


cdef class pooled:
    """`with pooled():` numpy arrays created inside get their data from the workspace pool.

    Only the current context (thread / task) is affected; nesting is fine; the previous handler comes
    back on exit, even on an exception. Arrays made inside may outlive the block and die anywhere.
    """
    cdef object _prev   # the handler to restore; a list of them once this object is entered twice
    cdef int _depth

    def __enter__(self):
        global _scope
        PyThread_acquire_lock(_lock, WAIT_LOCK)
        _scope += 1
        PyThread_release_lock(_lock)
        prev = PyDataMem_SetHandler(_capsule)
        if self._depth == 0:
            self._prev = prev
        elif self._depth == 1:
            self._prev = [self._prev, prev]
        else:
            self._prev.append(prev)
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        self._depth -= 1
        if self._depth == 0:
            prev, self._prev = self._prev, None
        else:
            prev = self._prev.pop()
            if self._depth == 1:
                self._prev = self._prev[0]
        PyDataMem_SetHandler(prev)
        return False


cdef void _free_chain(void* data) noexcept nogil:
    cdef void* nxt
    while data != NULL:
        nxt = (<void**>data)[0]
        _release_block(data)
        data = nxt


cdef void _trim(size_t limit) noexcept nogil:
    """Free cached blocks until at most `limit` bytes stay cached (lock taken here, freed outside)."""
    global _cached_bytes, _cached_blocks, _used
    cdef void* chain = NULL
    cdef void* data
    cdef size_t i
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    for i in range(<size_t>_NSLOTS):
        while _cached_bytes > limit and _table[i].head != NULL:
            data = _table[i].head
            _table[i].head = (<void**>data)[0]
            _table[i].count -= 1
            _cached_bytes -= _table[i].size
            _cached_blocks -= 1
            (<void**>data)[0] = chain
            chain = data
    if _cached_blocks == 0:
        memset(_table, 0, sizeof(_table))
        _used = 0
    PyThread_release_lock(_lock)
    _free_chain(chain)


def release():
    """Return every cached block to the C allocator (arrays still alive are not touched)."""
    with nogil:
        _trim(0)


def set_cap(nbytes):
    """Cache at most `nbytes` bytes of freed blocks (default 512 MiB; 0: cache nothing). Trims the
    cache to the new cap at once; returns the previous cap."""
    global _cap
    cdef size_t new_cap, old
    if nbytes < 0:
        raise ValueError(f"set_cap: nbytes must be >= 0, got {nbytes!r}")
    new_cap = nbytes
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    old = _cap
    _cap = new_cap
    PyThread_release_lock(_lock)
    with nogil:
        _trim(new_cap)
    return old


def stats():
    """The pool's counters: cached_bytes, cached_blocks, hits and misses (allocations of at least
    `threshold` bytes served from the cache or not), cap, threshold, foreign_frees."""
    # Only C copies under the lock: making Python objects can run the GC, whose frees take the lock.
    cdef size_t nbytes, nblocks, cap
    cdef unsigned long long hits, misses, foreign
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    nbytes, nblocks, cap, hits, misses, foreign = _cached_bytes, _cached_blocks, _cap, _hits, _misses, _foreign
    PyThread_release_lock(_lock)
    return {"cached_bytes": nbytes, "cached_blocks": nblocks, "hits": hits, "misses": misses,
            "cap": cap, "threshold": _THRESHOLD, "foreign_frees": foreign}


def _after_fork_in_child():
    # A fork while another thread held the lock would leave the child's lock taken forever and maybe
    # the table half-updated: the child starts with a fresh lock and an empty cache (the parent's cached
    # blocks stay mapped, copy-on-write, unused).
    global _lock, _used, _cached_bytes, _cached_blocks
    _lock = PyThread_allocate_lock()
    memset(_table, 0, sizeof(_table))
    _used = _cached_bytes = _cached_blocks = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

