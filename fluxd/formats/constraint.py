# -*- test-case-name: tests.unit.formats.test_constraint -*-
"""RFC 35 constraint query syntax to RFC 31 constraint objects.

``flux submit --requires=QUERY`` writes ``attributes.system.constraints``
from a short query such as ``-host:foo[1-2] (ib || opa) rank:0``.  A query
is a list of terms ``[operator:]operand`` joined by ``&``/``&&``/``and``
(or plain juxtaposition), ``|``/``||``/``or``, ``not`` and parentheses;
``-term`` negates one term.  A term without an operator is a property
(values split on ``,``), ``host:``/``hosts:`` mean ``hostlist:`` and
``rank:`` means ``ranks:``; consecutive property terms joined by AND are
merged into one list.  Quotes (``'...'`` or ``"..."``) make one operand of
text with spaces or operators in it.

The result is the one flux-core's ``flux.cli.base.MiniConstraintParser``
(a PLY LALR parser) builds, including its precedences: OR binds loosest,
then AND and juxtaposition, then ``not``, then ``-``; a term placed after
an OR's right operand without an operator ends the OR (``a|b c`` is
``(a|b) c``) while ``&&`` extends it (``a|b&&c`` is ``a|(b&&c)``).
Errors carry flux-core's messages.
"""

import re

from fluxd.errors import InvalidArgument

__all__ = ["ConstraintSyntaxError", "parse_constraint"]


class ConstraintSyntaxError(InvalidArgument):
    """Invalid constraint"""


# The lexer's token rules, tried in this order at each position (PLY
# builds one alternation from its rule functions in definition order).
_RULES = re.compile(r"""
    (?P<NEGATE>-)
  | (?P<NOT>not\b)
  | (?P<AND>&{1,2}|and\b)
  | (?P<OR>\|{1,2}|or\b)
  | (?P<LPAREN>\()
  | (?P<RPAREN>\))
  | (?P<TOKEN>[^()|&\s"']+)
  | (?P<QUOTE>['"])
""", re.VERBOSE)
_IGNORE = " \t\r\n\f\v"

#: operator names of ``flux submit --requires`` (None: no operator given)
OPERATOR_MAP = {None: "properties", "host": "hostlist", "hosts": "hostlist",
                "rank": "ranks"}
SPLIT_VALUES = {"properties": ","}
COMBINED_TERMS = {"properties"}

# Binding levels (PLY precedence table; terminals not in it have level 0).
_LEVEL = {"OR": 1, "AND": 2, "NOT": 3, "NEGATE": 4}
_STARTS_EXPR = ("TOKEN", "LPAREN", "NOT", "NEGATE")


class _Token:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind, value, pos):
        self.kind, self.value, self.pos = kind, value, pos


class _Lexer:
    """Tokens on demand, so that errors come in the order PLY finds them."""

    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.parens_level = 0
        self.last_lparens = 0
        self.last_rparens = 0
        self.pending = None
        self._peeked = None

    def _quoted(self, quote):
        start = self.pos
        end = self.text.find(quote, start)
        if end < 0:
            other = '"' if quote == "'" else "'"
            raise ConstraintSyntaxError(
                f"Unclosed quote {other}{quote}{other} at position {start}")
        self.pos = end + 1
        if end == start:
            return None
        return _Token("TOKEN", self.text[start:end], start)

    def _combine(self, token):
        # A token ending in ':' waits for the next token (op:"quoted")
        if self.pending is not None:
            token.value = self.pending.value + token.value
            self.pending = None
        elif token.value.endswith(":"):
            self.pending = token
            return None
        return token

    def _lex(self):
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] in _IGNORE:
                self.pos += 1
            if self.pos >= len(text):
                if self.pending is not None:
                    raise ConstraintSyntaxError(
                        "Missing argument to token"
                        f" '{self.pending.value}'")
                return None
            match = _RULES.match(text, self.pos)
            kind, value, start = match.lastgroup, match.group(), self.pos
            self.pos = match.end()
            if kind == "QUOTE":
                token = self._quoted(value)
                if token is not None and self._combine(token) is not None:
                    return token
                continue
            if kind == "TOKEN":
                token = self._combine(_Token(kind, value, start))
                if token is None:
                    continue
                return token
            if kind == "LPAREN":
                self.parens_level += 1
                self.last_lparens = start
            elif kind == "RPAREN":
                self.parens_level -= 1
                self.last_rparens = start
            return _Token(kind, value, start)

    def peek(self):
        if self._peeked is None:
            self._peeked = self._lex() or _Token("EOF", None, len(self.text))
        return self._peeked

    def next(self):
        token = self.peek()
        self._peeked = None
        return token


class _Parser:
    def __init__(self, text, operator_map, split_values, combined_terms):
        self.text = text
        self.lexer = _Lexer(text)
        self.operator_map = operator_map
        self.split_values = split_values
        self.combined_terms = combined_terms

    def error(self, token):
        lexer = self.lexer
        if token.kind == "EOF":
            if lexer.parens_level > 0:
                raise ConstraintSyntaxError(
                    f"Unclosed parenthesis in position {lexer.last_lparens}")
            raise ConstraintSyntaxError(
                f"Unexpected end of input in '{self.text}'")
        if lexer.parens_level < 0:
            raise ConstraintSyntaxError(
                "Mismatched parentheses starting at position"
                f" {lexer.last_rparens}.")
        raise ConstraintSyntaxError(
            f"Invalid token '{token.value}' at position {token.pos}")

    def term(self, text):
        op, colon, value = text.partition(":")
        if not colon:
            if None not in self.operator_map:
                raise ConstraintSyntaxError(
                    f'Missing required operator in "{text}"')
            op, value = self.operator_map[None], text
        else:
            op = self.operator_map.get(op, op)
            bad = re.search(r"[^\w.+@-]", op)
            if bad:
                raise ConstraintSyntaxError(
                    f"invalid character '{bad[0]}' in operator '{op}:'")
        if op in self.split_values:
            return {op: value.split(self.split_values[op])}
        return {op: [value]}

    def primary(self):
        token = self.lexer.next()
        if token.kind == "TOKEN":
            return self.term(token.value)
        if token.kind == "LPAREN":
            inner = self.expression(None)
            close = self.lexer.next()
            if close.kind != "RPAREN":
                self.error(close)
            return inner
        if token.kind == "NOT":
            return {"not": [self.expression((_LEVEL["NOT"], "right"))]}
        if token.kind == "NEGATE":
            operand = self.lexer.next()
            if operand.kind != "TOKEN":
                self.error(operand)
            return {"not": [self.term(operand.value)]}
        return self.error(token)

    def expression(self, rule):
        """Parse operands and operators while the LALR parser would shift.

        :param rule: ``(level, assoc)`` of the innermost rule waiting for
            this operand, or None at the top or inside parentheses.
        """
        left = self.primary()
        while True:
            token = self.lexer.peek()
            if token.kind in ("AND", "OR"):
                level, op = _LEVEL[token.kind], token.kind
            elif token.kind in _STARTS_EXPR:
                level, op = _LEVEL.get(token.kind, 0), "AND"
            else:
                return left
            if rule is not None and not (
                    level > rule[0] or (level == rule[0]
                                        and rule[1] == "right")):
                return left
            if token.kind in ("AND", "OR"):
                self.lexer.next()
            right = self.expression((_LEVEL[op], "left"))
            left = (_combine_or(left, right) if op == "OR"
                    else _combine_and(left, right, self.combined_terms))

    def parse(self):
        result = self.expression(None)
        token = self.lexer.next()
        if token.kind != "EOF":
            self.error(token)
        return result


def _combine_and(first, second, combined_terms):
    # flux-core's combine_like_terms(), mutations included
    terms, merged = [], {}
    entries = [first, second]
    if "and" in first:
        first["and"].append(second)
        entries = [first]
    for entry in entries:
        key = next(iter(entry))
        if key not in combined_terms:
            terms.append(entry)
        elif key not in merged:
            merged[key] = entry[key]
            terms.append(entry)
        else:
            merged[key].extend(entry[key])
    return terms[0] if len(terms) == 1 else {"and": terms}


def _combine_or(first, second):
    if "or" in first:
        first["or"].append(second)
        return first
    return {"or": [first, second]}


def parse_constraint(query, operator_map=None, split_values=None,
                     combined_terms=None):
    """Parse an RFC 35 query as ``flux submit --requires`` does.

    :param query: e.g. ``"ib -host:foo1"``.
    :param operator_map: operator aliases; the key None names the operator
        of a bare term (none: every term needs one).  Default
        :data:`OPERATOR_MAP`.
    :param split_values: operator -> separator splitting its operand
        (default :data:`SPLIT_VALUES`).
    :param combined_terms: operators whose AND-ed terms are merged
        (default :data:`COMBINED_TERMS`).
    :returns: the RFC 31 constraint object (a dict).
    :raises ConstraintSyntaxError: with flux-core's message, e.g.
        ``Unexpected end of input in 'a |'``.
    """
    return _Parser(
        query,
        OPERATOR_MAP if operator_map is None else operator_map,
        SPLIT_VALUES if split_values is None else split_values,
        COMBINED_TERMS if combined_terms is None else combined_terms,
    ).parse()
