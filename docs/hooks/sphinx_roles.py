"""A Griffe extension for the API reference: the docstrings' Sphinx roles as links.

dlzero's docstrings name other objects the Sphinx way (``:class:`History```,
``:func:`~dlzero.gradient.numerical_gradient```), which Markdown would show as the text
":class:" before the name. Each role becomes the name in code, linked to its entry in the API
reference when it has one (an *optional* cross-reference of mkdocs-autorefs: an object on no
page, such as a private helper, stays plain code). Names are resolved where the docstring is,
as Python would: ``History`` in ``dlzero.training.trainer`` is
``dlzero.training.history.History``. A name that is no object of dlzero's (a typo, a name not
imported where the docstring is) is a warning, so ``mkdocs build --strict`` fails on it; a
dotted name outside dlzero (``~http.server.ThreadingHTTPServer``) is plain code. RST's
``Example::`` before a literal block loses one colon.
"""

from __future__ import annotations

import html
import logging
import re

from griffe import Extension, Module, NameResolutionError, Object

# Under "mkdocs", where MkDocs counts the warnings that --strict turns into a failure.
log = logging.getLogger("mkdocs.hooks.dlzero.sphinx_roles")

ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj|const):`(~?)([\w.]+)(\(\))?`")
LITERAL_MARK = re.compile(r"(?m)(\S)::$|^[ \t]*::[ \t]*$")


def _exists(obj: Object, path: str) -> bool:
    try:
        obj.modules_collection.get_member(path)
    except (KeyError, ValueError):
        return False
    return True


def _resolve(obj: Object, target: str) -> str | None:
    """The full path of a dlzero object, None for a name outside dlzero; warns for a name that
    should be dlzero's and is not."""
    first, _, rest = target.partition(".")
    if first == "dlzero":
        path = target
    else:
        try:
            path = obj.resolve(first)
        except (NameResolutionError, ValueError):
            path = None
        if path is None and rest:
            return None  # a dotted name of another package, not imported here
        if path is not None and not path.startswith("dlzero"):
            return None  # numpy.ndarray and the like
        if path is not None and rest:
            path = f"{path}.{rest}"
    if path is None or not _exists(obj, path):
        where = getattr(obj, "relative_filepath", obj.path)
        log.warning("%s (%s): no dlzero object %r named by a docstring", where, obj.path, target)
        return None
    return path


def convert(text: str, obj: Object) -> str:
    """``text`` with its roles as Markdown (optional cross-references) and ``::`` as ``:``."""

    def replace(match: re.Match) -> str:
        short, target, call = match.groups()
        shown = (target.rsplit(".", 1)[-1] if short else target) + (call or "")
        code = f"<code>{html.escape(shown)}</code>"
        path = _resolve(obj, target)
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    text = ROLE.sub(replace, text)
    return LITERAL_MARK.sub(lambda m: f"{m.group(1)}:" if m.group(1) else "", text)


class SphinxRoles(Extension):
    """Rewrite every docstring of a package once it is loaded (all its names resolvable)."""

    def on_package(self, *, pkg: Module, **kwargs) -> None:
        seen: set[int] = set()

        def visit(obj: Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj)
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)

        visit(pkg)
