"""Redis's partial quicksort (pqsort.c: Bentley & McIlroy's quicksort that skips the
partitions outside a range). GEOSEARCH/GEORADIUS with COUNT and SORT with BY and LIMIT use it,
so that elements comparing equal end up in the same order as in Redis."""
from __future__ import annotations


def _med3(a, i, j, k, cmp):
    if cmp(a[i], a[j]) < 0:
        if cmp(a[j], a[k]) < 0:
            return j
        return k if cmp(a[i], a[k]) < 0 else i
    if cmp(a[j], a[k]) > 0:
        return j
    return i if cmp(a[i], a[k]) < 0 else k


def _vecswap(a, i, j, n):
    for t in range(n):
        a[i + t], a[j + t] = a[j + t], a[i + t]


def pqsort(a: list, cmp, lrange: int, rrange: int) -> None:
    """Sort ``a`` in place enough that positions lrange..rrange hold what a full sort would
    put there: Bentley & McIlroy's quicksort that skips partitions outside the range (Redis's
    pqsort.c), so that elements that compare equal end up in the same order as in Redis."""
    _pqsort(a, 0, len(a), cmp, lrange, rrange)


def _pqsort(a, base, n, cmp, lr, rr):
    while True:
        if n < 7:
            for pm in range(base + 1, base + n):
                pl = pm
                while pl > base and cmp(a[pl - 1], a[pl]) > 0:
                    a[pl], a[pl - 1] = a[pl - 1], a[pl]
                    pl -= 1
            return
        pm = base + n // 2
        if n > 7:
            pl = base
            pn = base + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[base], a[pm] = a[pm], a[base]
        pa = pb = base + 1
        pc = pd = base + n - 1
        while True:
            while pb <= pc:
                r = cmp(a[pb], a[base])
                if r > 0:
                    break
                if r == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(a[pc], a[base])
                if r < 0:
                    break
                if r == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        pn = base + n
        r = min(pa - base, pb - pa)
        _vecswap(a, base, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _vecswap(a, pb, pn - r, r)
        r = pb - pa
        if r > 1:
            lo, hi = base, base + r - 1
            if not ((lr < lo and rr < lo) or (lr > hi and rr > hi)):
                _pqsort(a, base, r, cmp, lr, rr)
        r = pd - pc
        if r > 1:
            base = pn - r
            n = r
            lo, hi = base, base + r - 1
            if not ((lr < lo and rr < lo) or (lr > hi and rr > hi)):
                continue
        return
