"""Reading a user's sequences and writing data files (the layout: :mod:`jaxbridge.cli._data`).

Accepted inputs: CSV in long form (``sequence,time,value``; each sequence starts at its first
time and ends at its last; empty fields and NaN are missing observations; other columns are
ignored; lines starting with ``#`` are comments, and a first line ``# jaxbridge-truth: {json}``,
written by ``jaxbridge simulate``, carries the true parameters), NetCDF with an ``emissions``
variable (optional ``lengths``), ``.npy`` (one sequence ``[T]`` or ``[N, T]``; every NaN is a
missing observation) and ``.npz`` (an array ``emissions``, or a single array; optional
``lengths [N]``, without which every NaN is a missing observation, ``states`` and true
parameters), all loaded without pickle. Values past a sequence's length are ignored.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from jaxbridge.cli._data import TRUTH_VARS, lengths_of, make_dataset, padding_mask, truth_of
from jaxbridge.cli._dates import Calendar, form_of, to_steps
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._params import Truth, check_truth

COLUMNS = ("sequence", "time", "value")
#: Prefix of the CSV comment line carrying the true parameters (JSON of :class:`Truth`).
TRUTH_LINE = "# jaxbridge-truth: "
SUFFIXES = (".csv", ".nc", ".npy", ".npz")
#: A long-form CSV may leave at most this many array cells per row empty (gaps, ragged ends).
MAX_PADDING = 100


def read_data(
    path: Path,
    covariates: tuple[str, ...] = (),
    columns: tuple[str, ...] = (),
    regressors: tuple[str, ...] = (),
    time: str = "time",
) -> xr.Dataset:
    """Read and validate a data file; any problem raises a one-line :class:`CLIError`.

    ``covariates`` names CSV columns (or NetCDF variables ``(sequence, time)``) read into
    ``covariates (sequence, time, covariate)``: a number at every step of every sequence.
    ``columns`` names the CSV value columns of vector observations (instead of ``value``),
    read into ``emissions (sequence, time, component)``. ``regressors`` names CSV columns
    read into ``regressors (sequence, time, regressor)`` (empty where missing: a regression
    needs them where the value is present, which its model checks). ``time`` names the CSV
    column of steps or dates.
    """
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    named = (("--columns", columns), ("--regressors", regressors), ("--time", time != "time"))
    for option, given in named:
        if given and suffix != ".csv":
            kind = "value columns" if option == "--columns" else "columns"
            raise CLIError(f"{path}: {option} names CSV {kind}; {suffix} files have none")
    if any(given for _, given in named):
        reader = partial(_read_csv, columns=columns, regressors=regressors, time=time)
    if reader is None:
        raise CLIError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; expected {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    try:
        data = reader(path, covariates)
    except CLIError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CLIError(f"{path}: cannot read {suffix[1:]} file: {first_line}") from None
    _check_data(data, str(path))
    return data


def _read_csv(
    path: Path,
    covariates: tuple[str, ...],
    columns: tuple[str, ...] = (),
    regressors: tuple[str, ...] = (),
    time: str = "time",
) -> xr.Dataset:
    with path.open(newline="", encoding="utf-8-sig") as file:  # -sig: tolerate a BOM
        lines = list(file)
    truth = None
    if lines and lines[0].startswith(TRUTH_LINE):
        try:
            fields = json.loads(lines[0][len(TRUTH_LINE) :])
            truth = check_truth(Truth(**{k: fields[k] for k in TRUTH_VARS}), f"{path} truth: ")
        except (ValueError, KeyError, TypeError) as err:
            raise CLIError(f"{path} line 1: unreadable jaxbridge-truth line ({err})") from None
    blanked = [line if not line.startswith("#") else "\n" for line in lines]
    return _read_long(path, blanked, truth, covariates, columns, regressors, time)


def _read_long(
    path: Path,
    lines: list[str],
    truth: Truth | None,
    covariates: tuple[str, ...],
    columns: tuple[str, ...] = (),
    regressors: tuple[str, ...] = (),
    time: str = "time",
) -> xr.Dataset:
    """The long-form table (comment lines blanked, so line numbers stay the file's); the
    values in column ``value``, or in ``columns`` (vectors); ``covariates`` and ``regressors``
    from their columns; the steps or dates in column ``time``."""
    rows = csv.reader(lines)
    header = next((row for row in rows if any(field.strip() for field in row)), None)
    if not header:
        raise CLIError(f"{path}: empty file; expected a header line 'sequence,time,value'")
    names = [name.strip().lower() for name in header]
    required = ["sequence", time.lower(), *([] if columns else ["value"])]
    missing = [name for name in required if name not in names]
    if missing:
        raise CLIError(
            f"{path}: missing column(s) {', '.join(missing)}; expected long form "
            f"'sequence,{time},value' (header: {','.join(header)!r})"
        )
    for option, wanted in (
        ("--columns", columns),
        ("--covariates", covariates),
        ("--regressors", regressors),
    ):
        absent = [name for name in wanted if name.lower() not in names]
        if absent:
            raise CLIError(
                f"{path}: no column {', '.join(map(repr, absent))} for {option} "
                f"(header: {','.join(header)!r})"
            )
    i_seq, i_time = names.index("sequence"), names.index(time.lower())
    i_values = [names.index(name.lower()) for name in columns or ("value",)]
    i_covariates = [names.index(name.lower()) for name in covariates]
    i_regressors = [names.index(name.lower()) for name in regressors]
    values: dict[str, dict[int, tuple[float, ...]]] = {}
    for row in rows:
        if not any(field.strip() for field in row):
            continue
        where = f"{path} line {rows.line_num}"
        if len(row) != len(header):
            raise CLIError(f"{where}: expected {len(header)} fields, found {len(row)}")
        label = row[i_seq].strip()
        if not label:
            raise CLIError(f"{where}: empty 'sequence' field")
        time = _parse_time(row[i_time], where)
        times = values.setdefault(label, {})
        if time in times:
            raise CLIError(f"{where}: sequence {label!r} has time {time} twice")
        times[time] = (
            *(_parse_value(row[i], where) for i in i_values),
            *(
                _covariate(row[i], name, where)
                for i, name in zip(i_covariates, covariates, strict=True)
            ),
            *(
                _parse_value(row[i], where, f"regressor {name!r}")
                for i, name in zip(i_regressors, regressors, strict=True)
            ),
        )
    if not values:
        raise CLIError(f"{path}: no data rows after the header")
    steps, calendar = _steps_of_dates(values, path)
    data = _from_long(steps, path, truth, covariates, columns, regressors)
    return data if calendar is None else _with_dates(data, steps, calendar)


def _parse_time(field: str, where: str) -> int | str:
    """An integer step, or a date as written (:mod:`jaxbridge.cli._dates`)."""
    text = field.strip()
    if form_of(text):
        return text
    try:
        time = float(text)
    except ValueError:
        time = np.nan
    if not (np.isfinite(time) and time == int(time)):
        raise CLIError(
            f"{where}: time {text!r} is neither an integer step nor a date (YYYY-MM-DD, "
            "YYYY-MM or YYYYQn)"
        )
    return int(time)


def _steps_of_dates(
    values: dict[str, dict], path: Path
) -> tuple[dict[str, dict[int, tuple[float, ...]]], Calendar | None]:
    """``values`` keyed by integer steps: dates become their periods' numbers (gaps stay
    gaps); the dates' calendar, or None for integer steps."""
    keys = [time for times in values.values() for time in times]
    dated = [time for time in keys if isinstance(time, str)]
    if not dated:
        return values, None
    if len(dated) != len(keys):
        raise CLIError(f"{path}: 'time' mixes integer steps and dates; use one or the other")
    steps, calendar = to_steps(dated, str(path))
    converted: dict[str, dict[int, tuple[float, ...]]] = {}
    for label, times in values.items():
        seen: dict[int, str] = {}
        for text in sorted(times):
            step = steps[text]
            if step in seen:
                raise CLIError(
                    f"{path}: sequence {label!r} has dates {seen[step]} and {text} in one "
                    f"{calendar.name} period"
                )
            seen[step] = text
        converted[label] = {steps[text]: row for text, row in times.items()}
    return converted, calendar


def _parse_value(field: str, where: str, what: str = "value") -> float:
    """A number, or NaN for an empty field; ``what`` names the field in errors."""
    field = field.strip()
    if not field:
        return np.nan
    try:
        value = float(field)
    except ValueError:
        raise CLIError(f"{where}: {what} {field!r} is not a number") from None
    if np.isinf(value):
        raise CLIError(f"{where}: {what} {field!r} is not finite")
    return value


def _covariate(field: str, name: str, where: str) -> float:
    value = _parse_value(field, where)
    if np.isnan(value):
        raise CLIError(f"{where}: covariate {name!r} is missing (--covariates needs every step)")
    return value


def _from_long(
    values: dict[str, dict[int, tuple[float, ...]]],
    path: Path,
    truth: Truth | None,
    covariates: tuple[str, ...],
    columns: tuple[str, ...] = (),
    regressors: tuple[str, ...] = (),
) -> xr.Dataset:
    """``{sequence: {time: (*values, *covariates, *regressors)}}`` -> ``emissions [N, T]``
    (``[N, T, D]`` with ``D`` value ``columns``; and ``covariates [N, T, P]``, ``regressors
    [N, T, R]``), each sequence from its first time."""
    starts = {label: min(times) for label, times in values.items()}
    n_steps = max(max(times) - starts[label] + 1 for label, times in values.items())
    n_rows = sum(map(len, values.values()))
    if len(values) * n_steps > MAX_PADDING * n_rows:
        raise CLIError(
            f"{path}: {n_rows} rows span {n_steps} time steps; 'time' must count steps "
            "(0, 1, 2, ...), not e.g. timestamps"
        )
    num_values = max(len(columns), 1)
    table = np.full((len(values), n_steps, num_values + len(covariates) + len(regressors)), np.nan)
    for i, (label, times) in enumerate(values.items()):
        for time, row in times.items():
            table[i, time - starts[label]] = row
    lengths = [max(times) - starts[label] + 1 for label, times in values.items()]
    emissions = table[..., :num_values] if columns else table[..., 0]
    data = make_dataset(
        emissions, truth=truth, sequence=list(values), lengths=lengths, components=columns
    )
    after = num_values + len(covariates)
    data = _with_covariates(data, table[..., num_values:after], covariates, str(path))
    if regressors:
        data = data.assign(regressors=(("sequence", "time", "regressor"), table[..., after:]))
        data = data.assign_coords(regressor=list(regressors))
    return data


def _with_dates(
    data: xr.Dataset, steps: dict[str, dict[int, tuple[float, ...]]], calendar: Calendar
) -> xr.Dataset:
    """``data`` with ``date (sequence, time)``, each step's period (empty past a sequence's
    end), the frequency in ``attrs["frequency"]`` and the steps no row gave in
    ``attrs["gap_steps"]`` (missing steps)."""
    n_steps = data.sizes["time"]
    labels = np.full((len(steps), n_steps), "", dtype=object)
    gaps = 0
    for i, times in enumerate(steps.values()):
        first, last = min(times), max(times)
        labels[i, : last - first + 1] = calendar.labels(np.arange(first, last + 1))
        gaps += last - first + 1 - len(times)
    data = data.assign(date=(("sequence", "time"), labels.astype(str)))
    data.attrs |= {"frequency": calendar.name, "gap_steps": gaps}
    return data


def _read_netcdf(path: Path, covariates: tuple[str, ...]) -> xr.Dataset:
    data = xr.load_dataset(path)
    if "emissions" not in data:
        raise CLIError(
            f"{path}: no variable 'emissions' (found: {', '.join(map(str, data.data_vars)) or 'none'})"
        )
    emissions = data["emissions"]
    if emissions.ndim != 2:
        raise CLIError(
            f"{path}: 'emissions' must have 2 dimensions (sequence, time), got {emissions.dims}"
        )
    if set(emissions.dims) == {"sequence", "time"}:
        data = data.transpose("sequence", "time", ...)
        emissions = data["emissions"]
    arrays = {
        name: data[name].values for name in ("states", "lengths", *TRUTH_VARS) if name in data
    }
    sequence = data["sequence"].values if "sequence" in data.coords else None
    absent = [name for name in covariates if name not in data]
    if absent:
        raise CLIError(f"{path}: no variable {', '.join(map(repr, absent))} for --covariates")
    columns = [data[name].transpose("sequence", "time").values for name in covariates]
    read = _from_arrays(emissions.values, arrays, path, sequence)
    table = np.stack(columns, axis=-1) if columns else None
    return _with_covariates(read, table, covariates, str(path))


def _read_npy(path: Path, covariates: tuple[str, ...]) -> xr.Dataset:
    _no_named_columns(path, covariates)
    return _from_arrays(np.load(path, allow_pickle=False), {}, path)


def _no_named_columns(path: Path, covariates: tuple[str, ...]) -> None:
    if covariates:
        raise CLIError(
            f"{path}: --covariates reads named CSV columns or NetCDF variables; "
            f"{path.suffix} files have none"
        )


def _with_covariates(
    data: xr.Dataset, table: np.ndarray | None, names: tuple[str, ...], where: str
) -> xr.Dataset:
    """``data`` with ``covariates (sequence, time, covariate)`` from ``table [N, T, P]``:
    finite within each sequence (an error names the first gap), zero past its end."""
    if not names:
        return data
    table = np.array(table, dtype=np.float64)
    padding = padding_mask(data["lengths"].values, data.sizes["time"])
    gaps = np.argwhere(~np.isfinite(table) & ~padding[..., None])
    if gaps.size:
        seq, step, col = gaps[0]
        label = str(data["sequence"].values[seq])
        raise CLIError(
            f"{where}: covariate {names[col]!r} is missing at sequence {label!r}, step {step} "
            "(--covariates needs a value at every step)"
        )
    table[padding] = 0.0  # past a sequence's end: moves that no observation depends on
    covariates = (("sequence", "time", "covariate"), table)
    return data.assign(covariates=covariates).assign_coords(covariate=list(names))


def _read_npz(path: Path, covariates: tuple[str, ...]) -> xr.Dataset:
    _no_named_columns(path, covariates)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    if "emissions" in arrays:
        emissions = arrays.pop("emissions")
    elif len(arrays) == 1:
        (emissions,) = arrays.values()
        arrays = {}
    else:
        found = ", ".join(arrays) or "no arrays"
        raise CLIError(f"{path}: expected an array named 'emissions' (found: {found})")
    return _from_arrays(emissions, arrays, path)


def _from_arrays(
    emissions: np.ndarray,
    arrays: dict[str, np.ndarray],
    path: Path,
    sequence: np.ndarray | None = None,
) -> xr.Dataset:
    """Data set from an ``emissions`` array ``[T]`` or ``[N, T]`` plus optional named extras."""
    if not (
        np.issubdtype(emissions.dtype, np.integer) or np.issubdtype(emissions.dtype, np.floating)
    ):
        raise CLIError(f"{path}: emissions must be numbers, got dtype {emissions.dtype}")
    if emissions.ndim not in (1, 2):
        raise CLIError(f"{path}: emissions must have shape [T] or [N, T], got {emissions.shape}")
    if emissions.ndim == 1:
        emissions = emissions[None]
    states = arrays.get("states")
    if states is not None:
        if not np.issubdtype(states.dtype, np.integer):
            raise CLIError(f"{path}: states must be integers, got dtype {states.dtype}")
        if states.shape[-1:] != emissions.shape[-1:]:
            raise CLIError(
                f"{path}: states shape {states.shape} differs from emissions {emissions.shape}"
            )
        states = states.reshape(emissions.shape)
    lengths = arrays.get("lengths")
    if lengths is not None:
        lengths = np.atleast_1d(lengths)
        if not np.issubdtype(lengths.dtype, np.integer) or lengths.shape != emissions.shape[:1]:
            raise CLIError(
                f"{path}: lengths must be {emissions.shape[0]} integers (one per sequence), "
                f"got dtype {lengths.dtype}, shape {lengths.shape}"
            )
        if lengths.min() < 1 or lengths.max() > emissions.shape[1]:
            raise CLIError(
                f"{path}: lengths must lie in 1..{emissions.shape[1]} (the time axis), "
                f"got {lengths.min()}..{lengths.max()}"
            )
    truth = None
    if all(name in arrays for name in TRUTH_VARS):
        values = [arrays[name] for name in TRUTH_VARS]
        truth = check_truth(
            Truth(values[0], values[1], float(values[2]), float(values[3])), f"{path}: "
        )
    return make_dataset(emissions, states, truth, sequence, lengths)


_READERS: dict[str, Callable[[Path, tuple[str, ...]], xr.Dataset]] = {
    ".csv": _read_csv,
    ".nc": _read_netcdf,
    ".npy": _read_npy,
    ".npz": _read_npz,
}


def _check_data(data: xr.Dataset, where: str) -> None:
    """The checks every input passes, whatever its format."""
    emissions = data["emissions"].values
    n, t = emissions.shape[:2]
    if n < 1:
        raise CLIError(f"{where}: no sequences")
    if t < 2:
        raise CLIError(f"{where}: sequences need at least 2 steps, found {t}")
    if np.isinf(emissions).any():
        raise CLIError(f"{where}: emissions contain infinite values")
    if np.isnan(emissions).all():
        raise CLIError(f"{where}: every observation is missing")
    if "states" in data:
        states = data["states"].values[~padding_mask(lengths_of(data), t)]
        k = data.sizes.get("state")
        if states.min() < 0 or (k is not None and states.max() >= k):
            raise CLIError(f"{where}: states must lie in 0..{'K-1' if k is None else k - 1}")


# --------------------------------------------------------------------------- writing


def write_data(data: xr.Dataset, path: Path) -> None:
    """Write ``data`` as NetCDF, long-form CSV, ``.npz`` or ``.npy`` (emissions only), by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".nc":
        data.to_netcdf(path, engine="h5netcdf")
    elif suffix == ".csv":
        _write_csv(data, path)
    elif suffix == ".npz":
        np.savez(path, **{name: data[name].values for name in data.data_vars})
    elif suffix == ".npy":
        np.save(path, data["emissions"].values)
    else:
        raise CLIError(f"{path}: unsupported file type {suffix!r}; expected {', '.join(SUFFIXES)}")


def _write_csv(data: xr.Dataset, path: Path) -> None:
    has_states = "states" in data
    truth = truth_of(data)
    with path.open("w", newline="", encoding="utf-8") as file:
        if truth is not None:
            fields = {k: np.asarray(v).tolist() for k, v in truth._asdict().items()}
            file.write(TRUTH_LINE + json.dumps(fields) + "\n")
        writer = csv.writer(file)
        writer.writerow([*COLUMNS, "state"] if has_states else COLUMNS)
        for i, (label, length) in enumerate(
            zip(data["sequence"].values, lengths_of(data), strict=True)
        ):
            for t, value in enumerate(data["emissions"].values[i, :length]):
                row = [label, t, "" if np.isnan(value) else repr(float(value))]
                writer.writerow([*row, int(data["states"].values[i, t])] if has_states else row)
