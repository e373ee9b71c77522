"""The command line checked before Hydra composes anything: a typo is refused, naming the nearest valid choice.

Hydra refuses an unknown group option itself, listing the valid ones and its search path on ten lines;
here that refusal becomes one `error:` line that names the nearest (difflib). Open nodes (optimizer, trainer,
data) pass any key on to their `_target_`, which refuses it only when built, after the data scan, and
`+lr=0.01` (Hydra's own advice for `lr=0.01`) adds a key nothing reads: every key is looked up in the composed
config or in its target's signature. A sweep is composed at each of its group options, before any run folder."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig

from tl_lightning.conf import CONF_DIR
from tl_lightning.errors import UserError

# Keys Hydra's instantiate reads itself; they are no keyword of the target.
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


class OverrideError(UserError, ValueError):
    """A command-line override names no group option or setting that exists."""


def check_command_line(argv: list[str]) -> None:
    """Refuse unknown group options and unknown keys among the overrides in `argv` (Hydra's own command line)."""
    try:
        args = get_args_parser().parse_args(argv)
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except (SystemExit, HydraException):
        return  # Hydra reports a command line it cannot parse in its own words
    if args.config_path or args.config_dir or args.config_name:
        return  # another config tree: its groups and keys are not this package's
    if nulls := [o.key_or_group for o in parsed if _is_group(o) and o.value() is None]:
        # Hydra raises a bare ValueError (a traceback) for group=null.
        raise OverrideError(
            "; ".join(f"{g}=null names no option of {g}: to leave the group out, write ~{g}" for g in nulls)
        )
    try:
        configs = {" ".join(groups): _compose(groups) for groups in _group_choices(parsed)}
    except MissingConfigException as err:
        group, _, value = (err.missing_cfg_file or "").rpartition("/")
        # Hydra lists a group's options, but not where a list of them names one (callbacks=[default,early_stop]).
        options = list(err.options or (sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")) if group else []))
        if not options:
            return  # not a group option the command line names: Hydra says what is missing
        nearest = _nearest(value, options, f"{group}=")
        raise OverrideError(f"{group}={value} is unknown{nearest} (options: {', '.join(options)})") from None
    except HydraException:
        return  # the groups do not compose: Hydra says why
    if problems := [p for o in parsed if (p := key_problem(o, configs)) is not None]:
        raise OverrideError("\n".join(dict.fromkeys(problems)))


def _is_group(override: Override) -> bool:
    group = override.key_or_group
    return not group.startswith("hydra") and (CONF_DIR / group).is_dir() and not override.is_delete()


def key_problem(override: Override, configs: dict[str, DictConfig]) -> str | None:
    """Why `key=value` or `+key=value` sets nothing this package reads in some composed config (a sweep's
    group choices, by their overrides); None if every one takes it."""
    key = override.key_or_group
    if _is_group(override) or key.startswith("hydra") or override.is_delete() or "/" in key:
        return None
    adds = override.is_add() or override.is_force_add()
    for choice, cfg in configs.items():
        if (reason := _missing(key, cfg, adds)) is not None:
            return f"{reason} (in the job with {choice})" if len(configs) > 1 else reason
    return None


def _missing(key: str, cfg: DictConfig, adds: bool) -> str | None:
    parts, node, depth = key.split("."), cfg, 0
    while depth < len(parts):
        if isinstance(node, ListConfig) or not isinstance(node, DictConfig):
            return None  # list entries and keys below a value: Hydra's own checks apply
        child = node._get_node(parts[depth], validate_access=False, throw_on_missing_key=False)
        if child is None:
            break
        node, depth = child, depth + 1
    else:
        return None  # the key exists
    name, parent_key = parts[depth], ".".join(parts[:depth])
    target = node.get("_target_") if "_target_" in node else None
    if isinstance(target, str):
        accepted = _keywords(target)
        if accepted is None or name in accepted:
            return None
        return f"{key}: {parent_key} ({target}) has no setting {name!r}{_nearest_keyword(name, target, parent_key)}"
    if adds and depth >= 1:
        return None  # a new entry under an existing node, e.g. +callbacks.early_stopping._target_=...
    keys = list(_leaf_keys(cfg))
    same_name = [k for k in keys if k.rsplit(".", 1)[-1] == parts[-1]]
    hint = f": did you mean {same_name[0]}?" if same_name else _nearest(key, keys, "")
    return f"{key} is not a setting{hint}"


def _keywords(target: str) -> set[str] | None:
    """The keyword arguments `target` accepts; None when it takes any (**kwargs) or cannot be inspected."""
    try:
        params = inspect.signature(get_object(target)).parameters.values()
    except (ImportError, ValueError, TypeError, AttributeError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind is not p.VAR_POSITIONAL} | _HYDRA_KEYS


def _nearest_keyword(name: str, target: str, parent_key: str) -> str:
    """The closest keyword of `target`, else the ones it takes with a default (those a config sets)."""
    params = [p for p in inspect.signature(get_object(target)).parameters.values() if p.kind is not p.VAR_POSITIONAL]
    if nearest := _nearest(name, [p.name for p in params], f"{parent_key}."):
        return nearest
    settable = [p.name for p in params if p.default is not p.empty]
    return f"; it takes {', '.join(settable[:8])}{', ...' if len(settable) > 8 else ''}"


def _leaf_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    for k in node:
        child = node._get_node(k)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            yield from _leaf_keys(child, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def _nearest(word: str, choices: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f": did you mean {prefix}{close[0]}?" if close else ""


def _values(override: Override) -> list:
    if override.is_sweep_override():
        try:
            return list(override.sweep_string_iterator())
        except HydraException:
            return []
    value = override.value()
    return value if isinstance(value, list) else [value]


def _group_choices(parsed: list[Override]) -> list[list[str]]:
    """Group overrides to compose: each swept group at its first option, then at each other option in turn."""
    fixed = [o.input_line for o in parsed if _is_group(o) and not o.is_sweep_override()]
    swept = {o.get_key_element(): _values(o) for o in parsed if _is_group(o) and o.is_sweep_override()}
    base = {key: values[0] for key, values in swept.items() if values}
    combos = [base] + [{**base, key: v} for key, values in swept.items() for v in values[1:]]
    return [fixed + [f"{key}={value}" for key, value in combo.items()] for combo in combos]


def _compose(group_overrides: list[str]) -> DictConfig:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=group_overrides)
