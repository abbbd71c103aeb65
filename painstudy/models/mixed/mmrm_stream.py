"""MMRM on data larger than memory: the per-pattern statistics built from a Parquet file in two passes.

Pass 1 reads the model's columns except the subject: the levels of every factor and of the visits, the
means of the numeric covariates, and the rules of the in-memory fit (numeric outcome, finite values,
positive weights).  Pass 2 reads them with the subject, in file order: per chunk, the design of the rows
kept, every subject's rows padded to all visits, and per pattern (covariance group, visits seen) the sums
``G = sum_i W_i[a] W_i[b]'`` the likelihood engine works from (:meth:`.Engine.from_pattern_stats`).
Nothing the size of the data is kept: memory is one chunk plus the statistics (patterns x T^2 x (p+1)^2),
one 8-byte hash per subject for the grouping check, and the counts.

The fit then runs exactly as in memory (same levels, design, start values and optimiser), so the results
agree with :func:`~painstudy.models.mixed.mmrm.mmrm` on the same rows as a DataFrame to rounding.  The
file must hold each subject's rows next to each other (sorted or grouped by subject); this is checked.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.chunked import DEFAULT_CHUNK_ROWS, ParquetSource, as_float, missing
from painstudy.models.mixed.data import MAX_ABS, check_gram_rank, plain
from painstudy.models.mixed.formula import ParsedFormula, build_design, factor_levels, make_design_info, visit_levels
from painstudy.models.mixed.mmrm_engine import Engine, pattern_gram

__all__ = ["stream_statistics", "StreamedData"]

#: A run of rows of one subject longer than this many times the number of visits (plus a margin) is not a
#: subject's data but a file whose subject column barely varies.
MAX_RUN_FACTOR = 4


class StreamedData:
    """What the two passes found: the design, levels, pattern statistics and counts."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _plain_list(values) -> list:
    return [plain(v) for v in values]


def _column_series(arrays: list, dictionaries: list | None, ordered: bool) -> pd.Series:
    """The distinct values seen (arrow arrays) as a pandas Series of the column's kind (Categorical for a
    dictionary column, with every category of the file's dictionaries in their order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if dictionaries is None:
        return (pc.unique(pa.concat_arrays(arrays)) if arrays else pa.array([])).to_pandas()
    cats = list(dict.fromkeys(v for d in dictionaries for v in d.to_pylist() if v is not None))
    return pd.Series(pd.Categorical(cats, categories=cats, ordered=ordered))


class _Pass1:
    """Levels of the factors and the visits (over the rows kept, as in memory)."""

    def __init__(self, src: ParquetSource, parsed: ParsedFormula, weights: str | None):
        cov, fx = parsed.covariance, parsed.fixed
        self.src, self.fx, self.cov, self.weights = src, fx, cov, weights
        terms = list(dict.fromkeys(c for t in fx.terms for c in t))
        self.used = list(dict.fromkeys([fx.outcome, cov.visit] + ([cov.group] if cov.group else []) + terms))
        self.keep_cols = self.used + ([weights] if weights else [])

        def categorical(c):
            var = fx.variables.get(c)
            return var.categorical if var is not None and var.categorical is not None else not src.is_numeric(c)

        self.factors = list(dict.fromkeys([c for c in terms if categorical(c)] + ([cov.group] if cov.group else [])))
        self.numerics = [c for c in terms if not categorical(c)]
        self.uniques = {c: [] for c in self.factors}
        self.dicts = {c: [] for c in self.factors + [cov.visit] if src.is_dictionary(c)}
        self.visits: list = []
        # levels of a dictionary column are its dictionary (a Categorical's categories, as in memory); other
        # factors take the values of the rows kept, which needs every column of the keep rule
        plain_factors = [c for c in self.factors if c not in self.dicts]
        self.columns = self.keep_cols if plain_factors else list(dict.fromkeys(self.factors + [cov.visit]))
        self.plain_factors = plain_factors

    def keep(self, table) -> np.ndarray:
        miss = np.zeros(table.num_rows, bool)
        for c in self.keep_cols:
            miss |= missing(table.column(c))
        return ~miss

    def add(self, table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        vcol = table.column(self.cov.visit)
        if self.cov.visit not in self.dicts:
            self.visits.append(pc.unique(vcol.filter(pa.array(~missing(vcol)))))
        for c in self.dicts:
            self.dicts[c] += [ch.dictionary for ch in table.column(c).chunks]
        if self.plain_factors:
            kt = table.filter(pa.array(self.keep(table)))
            for c in self.plain_factors:
                self.uniques[c].append(pc.unique(kt.column(c)))

    def series(self, c: str, arrays: list) -> pd.Series:
        t = self.src.schema.field(c).type
        return _column_series(arrays, self.dicts.get(c), bool(getattr(t, "ordered", False)))


def _decoded(column):
    """A dictionary column as its values (other columns unchanged)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    return column


def _codes(column, levels: tuple, what: str) -> np.ndarray:
    """Positions of an arrow column's values among ``levels`` (int64)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def positions(values):
        out = pc.index_in(values, value_set=value_set).to_numpy(zero_copy_only=False)
        return np.where(np.isnan(out), -1, out).astype(np.int64) if out.dtype.kind == "f" else out.astype(np.int64)

    if pa.types.is_dictionary(column.type):  # look the (few) dictionary values up, then index by the codes
        value_set = pa.array(_plain_list(levels), type=column.type.value_type)
        parts = []
        for chunk in column.chunks:
            lut = positions(chunk.dictionary)
            parts.append(lut[np.asarray(chunk.indices.to_numpy(zero_copy_only=False), np.int64)])
        codes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    else:
        value_set = pa.array(_plain_list(levels), type=column.type)
        codes = positions(column)
    if np.any(codes < 0):
        raise ModelError(f"{what}: a value appeared that the first pass did not see; was the file changed meanwhile?")
    return codes


def _runs(subject) -> np.ndarray:
    """Start positions of the runs of equal subject ids (an arrow array without nulls)."""
    import pyarrow.compute as pc

    n = len(subject)
    if n == 0:
        return np.zeros(0, np.int64)
    s = _decoded(subject)
    change = np.asarray(pc.not_equal(s.slice(1), s.slice(0, n - 1)).to_numpy(zero_copy_only=False), bool)
    return np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)


class _Pass2:
    """Per-pattern statistics, counts and the grouping check, chunk by chunk."""

    def __init__(self, p1: _Pass1, info, vlev, glev):
        self.p1, self.info, self.vlev, self.glev = p1, info, vlev, glev
        self.T = len(vlev)
        self.stats: dict[int, list] = {}
        self.hashes: list = []
        self.run_rows: list = []
        self.n_runs = 0
        self.n_subjects = 0
        self.n_obs = 0
        self.log_w_sum = 0.0
        self.varies = dict.fromkeys(dict.fromkeys(c for t in info.terms for c in t), False)
        self.sums = dict.fromkeys(p1.numerics, 0.0)
        self.local = threading.local()

    def chunk(self, start: int, table, starts: np.ndarray) -> dict:
        """The statistics of one chunk of complete subjects (``starts``: each subject's first row in ``table``);
        a pure function of its arguments, so chunks can be worked on in parallel and merged in file order."""
        import pyarrow as pa

        part = {"stats": {}, "n_runs": len(starts), "n_subjects": 0, "n_obs": 0, "log_w_sum": 0.0}
        part["varies"] = dict.fromkeys(self.varies, False)
        part["sums"] = dict.fromkeys(self.sums, 0.0)

        p1, info, T, src = self.p1, self.info, self.T, self.p1.src
        cov, fx = p1.cov, p1.fx
        n = table.num_rows
        if len(starts) == 0:
            return part
        subj = table.column(cov.subject)
        part["hashes"] = pd.util.hash_array(
            np.asarray(_decoded(subj).take(pa.array(starts)).to_numpy(zero_copy_only=False))
        )
        part["run_rows"] = starts + start
        run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
        keep = p1.keep(table)
        rows = np.flatnonzero(keep)
        if len(rows) == 0:
            return part
        kt = table.filter(pa.array(keep))
        krun = run[rows]
        first = np.concatenate([[True], krun[1:] != krun[:-1]])
        sub = np.cumsum(first) - 1  # subject number among this chunk's subjects with rows kept
        nk = int(sub[-1]) + 1
        vcode = _codes(kt.column(cov.visit), self.vlev, f"{src.name}: column {cov.visit!r}")
        pair = sub * T + vcode
        dup = np.bincount(pair, minlength=nk * T) > 1
        if dup.any():
            j = int(np.flatnonzero(dup)[0])
            r = int(rows[np.flatnonzero(sub == j // T)[0]])
            raise ModelError(
                f"{src.name}: subject {subj[r].as_py()!r} has more than one row at visit {plain(self.vlev[j % T])!r} "
                f"(column {cov.visit!r}, rows from {start + r + 1}); each subject may have one outcome per visit"
            )
        if cov.group:
            gcode = _codes(kt.column(cov.group), self.glev, f"{src.name}: column {cov.group!r}")
            gfirst = gcode[np.flatnonzero(first)]
            bad = gcode != gfirst[sub]
            if bad.any():
                r = int(rows[np.flatnonzero(bad)[0]])
                raise ModelError(
                    f"{src.name}: subject {subj[r].as_py()!r} (row {start + r + 1}) belongs to more than one level "
                    f"of the covariance group {cov.group!r}; the group must be constant within a subject"
                )
        else:
            gcode = np.zeros(len(rows), np.int64)
        frame, values = {}, {}
        for c in self.varies:
            if c in info.factors:
                k = _codes(kt.column(c), info.factors[c], f"{src.name}: column {c!r}")
                frame[c] = pd.Categorical.from_codes(k, categories=list(info.factors[c]))
                values[c] = k
            else:
                values[c] = frame[c] = self.checked(kt.column(c), c, start, rows)
                part["sums"][c] += float(frame[c].sum())
        for c, x in values.items():
            if not part["varies"][c]:
                part["varies"][c] = bool(np.any(x != x[np.flatnonzero(first)][sub]))
        y = (
            values[fx.outcome]
            if fx.outcome in part["sums"]
            else self.checked(kt.column(fx.outcome), fx.outcome, start, rows)
        )
        # subjects numbered by pattern (covariance group, visits seen), so that each pattern's subjects are
        # contiguous; the design goes straight into their padded visit slots: W[i, t] = [x, y], zero where
        # subject i has no row at visit t
        mask = np.bincount(sub, weights=np.ldexp(1.0, vcode), minlength=nk).astype(np.int64)
        key = gcode[np.flatnonzero(first)] * (np.int64(1) << T) + mask
        small = key.max() < 1 << 16
        order = np.argsort(key.astype(np.uint16) if small else key, kind="stable")  # radix sort when small
        rank = np.empty(nk, np.int64)
        rank[order] = np.arange(nk)
        key = key[order]
        p = len(info.column_names)
        slot = rank[sub] * T + vcode
        W = self.buffer(nk * T * (p + 1)).reshape(nk * T, p + 1)
        build_design(info, pd.DataFrame(frame, index=pd.RangeIndex(len(rows)), copy=False), out=W, rows=slot)
        W.reshape(-1)[slot * (p + 1) + p] = y
        if p1.weights:
            w = as_float(kt.column(p1.weights))
            bad = ~((w > 0) & (w <= MAX_ABS))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ModelError(
                    f"{src.name}: column {p1.weights!r}, row {start + rows[i] + 1}: value {plain(w[i])!r}: "
                    f"weights must be positive finite numbers"
                )
            W[slot] *= np.sqrt(w)[:, None]
            part["log_w_sum"] = float(np.log(w).sum())
        W = W.reshape(nk, T, p + 1)
        bounds = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1], [True]]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            part["stats"][int(key[a])] = (int(b - a), pattern_gram(W[a:b]))
        part["n_subjects"] = nk
        part["n_obs"] = len(rows)
        return part

    def buffer(self, size: int) -> np.ndarray:
        """Zeros of ``size`` from this thread's reused buffer (fresh memory costs a page fault per 4 KiB)."""
        buf = getattr(self.local, "buf", None)
        if buf is None or buf.size < size:
            buf = self.local.buf = np.empty(int(size * 1.25))
        out = buf[:size]
        out.fill(0.0)
        return out

    def merge(self, part: dict) -> None:
        """Add one chunk's statistics (in file order: the sums are the same whatever the parallelism)."""
        for k, (n, G) in part["stats"].items():
            slot = self.stats.get(k)
            if slot is None:
                self.stats[k] = [n, G]
            else:
                slot[0] += n
                slot[1] += G
        if "hashes" in part:
            self.hashes.append(part["hashes"])
            self.run_rows.append(part["run_rows"])
        self.n_runs += part["n_runs"]
        self.n_subjects += part["n_subjects"]
        self.n_obs += part["n_obs"]
        self.log_w_sum += part["log_w_sum"]
        for c, v in part["varies"].items():
            self.varies[c] |= v
        for c, v in part["sums"].items():
            self.sums[c] += v

    def checked(self, column, c: str, start: int, rows: np.ndarray) -> np.ndarray:
        """A numeric column of the rows kept as float, every value finite with ``|x| <= MAX_ABS``."""
        x = as_float(column)
        bad = ~(np.abs(x) <= MAX_ABS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ModelError(
                f"{self.p1.src.name}: column {c!r}, row {start + rows[i] + 1}: value {plain(x[i])!r} is not a finite "
                f"number with |value| <= {MAX_ABS:g}; correct it, or set it to missing to leave the row out"
            )
        return x

    def check_grouped(self) -> None:
        """Every subject's rows formed one run: no subject id hash appears twice."""
        src, cov = self.p1.src, self.p1.cov
        h = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        order = np.argsort(h, kind="stable")
        same = np.flatnonzero(h[order][1:] == h[order][:-1])
        if len(same):
            starts = np.concatenate(self.run_rows)
            a, b = sorted((int(starts[order[same[0]]]), int(starts[order[same[0] + 1]])))
            sa, sb = src.value_at(cov.subject, a), src.value_at(cov.subject, b)
            if sa == sb:
                raise ModelError(
                    f"{src.name}: the rows of subject {sa!r} are not next to each other (rows {a + 1} and {b + 1}, "
                    f"with other subjects between); a file read in chunks must hold each subject's rows together: "
                    f"sort it by {cov.subject!r} (e.g. pandas: df.sort_values([{cov.subject!r}, visit]).to_parquet(...))"
                )
            # two different ids with one 64-bit hash: astronomically rare; the statistics are still right
            # because runs are compared by value, not by hash, within a chunk


def _subject_chunks(src: ParquetSource, subject: str, columns: list, chunk_rows: int, limit: int, T: int):
    """``(first_row, table, starts)``: chunks of the file holding whole subjects (``starts``: the first row of
    each subject in ``table``); a subject cut by a chunk's end waits for the next chunk."""
    import pyarrow as pa

    carry, start, last = None, 0, 0
    for start, table in src.chunks(columns, chunk_rows):
        if carry is not None:
            start -= carry.num_rows
            table = pa.concat_tables([carry, table]).combine_chunks()
        subj = table.column(subject)
        if subj.null_count:
            r = int(np.flatnonzero(missing(subj))[0])
            raise ModelError(f"{src.name}: column {subject!r}: row {start + r + 1} has no subject id (missing value)")
        starts = _runs(subj)
        last = int(starts[-1])
        if table.num_rows - last > limit:
            raise ModelError(
                f"{src.name}: subject {subj[last].as_py()!r} has more than {limit} rows in a row from row "
                f"{start + last + 1} (there are {T} visits); check the subject column {subject!r}"
            )
        if last:
            yield start, table.slice(0, last), starts[:-1]
        carry = table.slice(last)
    if carry is not None and carry.num_rows:
        yield start + last, carry, np.zeros(1, np.int64)


def _second_pass(src, p2: _Pass2, columns, chunk_rows, limit, T, workers, progress, total) -> None:
    """Chunks cut at subject boundaries (the last subject of a chunk waits for the next one), worked on by a
    pool of threads (numpy and arrow release the GIL) and merged into ``p2`` in file order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()

        def drain(keep: int) -> None:
            while len(pending) > keep:
                future, done = pending.popleft()
                p2.merge(future.result())
                if progress:
                    progress("statistics", done, total)

        try:
            for start, table, starts in _subject_chunks(src, columns[0], columns, chunk_rows, limit, T):
                pending.append((pool.submit(p2.chunk, start, table, starts), start + table.num_rows))
                drain(workers)
            drain(0)
        finally:
            for future, _ in pending:
                future.cancel()
    if progress:
        progress("statistics", total, total)


def stream_statistics(
    parsed: ParsedFormula,
    path,
    weights: str | None = None,
    visit_order=None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 2,
) -> StreamedData:
    """Read a Parquet file (or folder) twice in chunks and return the MMRM's pattern statistics.

    ``progress(stage, rows_done, rows_total)`` is called after every chunk (``stage`` is ``"levels"``, then
    ``"statistics"``).  ``workers`` threads work on chunks of the second pass at once (the result does not
    depend on their number).
    """
    src = ParquetSource(path)
    cov, fx = parsed.covariance, parsed.fixed
    if weights is not None and not isinstance(weights, str):
        raise ModelError("with data read from a file, weights must name a column of the file")
    src.check_columns(
        [fx.outcome, cov.visit, cov.subject]
        + ([cov.group] if cov.group else [])
        + [c for t in fx.terms for c in t]
        + ([weights] if weights else [])
    )
    if not src.is_numeric(fx.outcome):
        raise ModelError(
            f"{src.name}: column {fx.outcome!r}: the outcome must be numeric, found {src.value_type(fx.outcome)}"
        )
    if int(chunk_rows) < 1:
        raise ModelError(f"chunk_rows must be a positive number of rows, got {chunk_rows!r}")
    total = src.n_rows
    p1 = _Pass1(src, parsed, weights)
    for start, table in src.chunks(p1.columns, chunk_rows):
        p1.add(table)
        if progress:
            progress("levels", start + table.num_rows, total)
    vlev, vsource = visit_levels(p1.series(cov.visit, p1.visits), cov.visit, visit_order)
    columns = {c: p1.series(c, arrs) for c, arrs in p1.uniques.items()}
    if any(len(v) == 0 for v in columns.values()):
        raise ModelError(f"{src.name}: no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    columns.update({c: pd.Series([0.0]) for c in p1.numerics})
    # the numeric means (for LS means) are summed in the second pass
    info = make_design_info(fx, columns, orders={cov.visit: vlev}, numeric_means=dict.fromkeys(p1.numerics, 0.0))
    glev = factor_levels(columns[cov.group], None, cov.group) if cov.group else (None,)
    T = len(vlev)
    if T > 52:
        raise ModelError(f"column {cov.visit!r}: {T} visits; at most 52 are supported")
    p2 = _Pass2(p1, info, vlev, glev)
    limit = MAX_RUN_FACTOR * T + 64
    with blas_threads(DEFAULT_BLAS_THREADS):  # threads of BLAS inside worker threads only contend
        _second_pass(src, p2, [cov.subject] + p1.keep_cols, chunk_rows, limit, T, workers, progress, total)

    if p2.n_obs == 0:
        raise ModelError(f"{src.name}: no rows with a non-missing outcome {fx.outcome!r} and complete covariates")
    p2.check_grouped()
    info = replace(info, numeric_means={c: p2.sums[c] / p2.n_obs for c in p1.numerics})
    keys = np.array(sorted(p2.stats), np.int64)
    n_per = np.array([p2.stats[k][0] for k in keys])
    G = np.stack([p2.stats[k][1] for k in keys])
    seen = ((keys[:, None] >> np.arange(T)[None, :]) & 1).astype(bool)
    per_visit = n_per @ seen
    empty = [str(vlev[i]) for i in np.flatnonzero(per_visit == 0)]
    if empty:
        raise ModelError(
            f"{src.name}: column {cov.visit!r}: visit(s) {empty} have no non-missing outcome {fx.outcome!r}; "
            f"remove them before fitting"
        )
    engine = Engine.from_pattern_stats(keys, n_per, G, p2.n_obs, T, len(glev), log_w_sum=p2.log_w_sum)
    p = engine.p
    XtX = check_gram_rank(engine.gram()[:p, :p], info.column_names)
    return StreamedData(
        source=src.name,
        design=info,
        visit_levels=tuple(vlev),
        visit_order_source=vsource,
        group_levels=tuple(glev),
        engine=engine,
        XtX=XtX,
        n_subjects=p2.n_subjects,
        n_rows_dropped=total - p2.n_obs,
        n_subjects_dropped=p2.n_runs - p2.n_subjects,
        within_varies=dict(p2.varies),
    )
