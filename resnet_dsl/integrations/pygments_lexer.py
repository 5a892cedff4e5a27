"""A Pygments lexer for `.arch` specs, registered as the `pygments.lexers` entry point `arch`.

Pygments loads every plugin lexer whenever anyone asks it for a lexer by name, so this module
stays light: it imports nothing of the package but the grammar's location. Its keywords are the
words the grammar spells out (read from `grammars/arch.lark`, so a new keyword highlights once it
is in the grammar) and a block's conventional path names (`pre`, `main`, `shortcut`); every
other name is told apart by where it stands (`block NAME`, `NAME(`, `NAME=`, `NAME:`).
"""

from __future__ import annotations

import re
from functools import cache

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from resnet_dsl.language.resources import resource_dir

WORD_OPERATORS = frozenset({"and", "or", "not"})
CONSTANTS = frozenset({"true", "false"})
PATH_NAMES = frozenset({"pre", "main", "shortcut"})
"""A block's conventional paths: keywords once, names with default sources as blocks become
small graphs; shown as keywords either way, since they structure a block as keywords do."""

_LITERAL = re.compile(r'"([a-z_][a-z0-9_]*)"')


@cache
def grammar_keywords() -> frozenset[str]:
    """Every word the grammar spells out as a literal: `block`, `stage`, `true`, ..."""
    text = (resource_dir("grammars") / "arch.lark").read_text(encoding="utf-8")
    code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    return frozenset(_LITERAL.findall(code))


def keywords() -> frozenset[str]:
    """What the lexer shows as keywords (word operators and constants apart)."""
    return (grammar_keywords() | PATH_NAMES) - WORD_OPERATORS - CONSTANTS


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class ArchLexer(RegexLexer):
    """The `.arch` language of resnet-dsl."""

    name = "Arch (resnet-dsl)"
    aliases = ["arch", "resnet-dsl"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-arch"]
    url = "https://pypi.org/project/resnet-dsl/"

    tokens = {
        "root": [
            (r"[ \t\r\n\f]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (rf"\b(block|network)(\s+)({_NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (rf"\b(stage)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Label)),
            (r"[0-9]+(?:x[0-9]+)+\b", Number.Other),
            (r"[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (words(sorted(CONSTANTS), suffix=r"\b"), Keyword.Constant),
            (words(sorted(WORD_OPERATORS), suffix=r"\b"), Operator.Word),
            (words(sorted(keywords()), suffix=r"\b"), Keyword),
            (rf"({_NAME})(\s*)(\()", bygroups(Name.Function, Whitespace, Punctuation)),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (rf"({_NAME})(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (_NAME, Name),
            (r"->|==|!=|<=|>=|//|[-+*/<>=]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ]
    }
