# -*- test-case-name: tests.unit.cli.test_pstree -*-
"""A pstree-like text tree, as flux-core's ``flux pstree`` draws it.

Each node has a label and an optional prefix (``-x`` details, printed
in a column before the tree).  A node's children are drawn below it,
each after a connector (``├── `` for all but the last, ``└── `` for the
last), and the connectors of the levels above as ``│   `` (a level that
has more children below) or blanks.  Identical leaf children (same
prefix and label) can be combined as they are added: ``2*[sleep]``.
"""

import shutil

__all__ = ["Tree", "STYLES"]

#: style -> (pipe, tee, elbow, blank)
STYLES = {
    "box": ("│   ", "├── ", "└── ", "    "),
    "ascii": ("|   ", "|-- ", "`-- ", "    "),
    "compact": ("│ ", "├─", "└─", "  "),
}


class Tree:
    """One node and its children.

    :param label: the node's text.
    :param prefix: text shown before the tree part of the line.
    :param combine_children: combine identical leaf children.
    """

    def __init__(self, label, prefix="", combine_children=False):
        self.label = label
        self.prefix = f"{prefix} " if prefix else ""
        self.combine_children = combine_children
        self.children = []
        self.count = 1
        self._seen = {}

    def append(self, label, prefix=""):
        """Add a leaf child (or count one more of an identical one).

        :returns: the child.
        """
        return self.append_tree(Tree(label, prefix, self.combine_children))

    def append_tree(self, tree):
        """Add ``tree`` as a child; a leaf identical to an earlier leaf
        child is counted in that one instead (when combining).

        :returns: the child that holds it.
        """
        if not self.combine_children or tree.children:
            self.children.append(tree)
            return tree
        key = tree.prefix + tree.label
        if key in self._seen:
            self._seen[key].count += tree.count
            return self._seen[key]
        self._seen[key] = tree
        self.children.append(tree)
        return tree

    def lines(self, style="box", skip_root=False, width=None):
        """The rendered lines.

        :param skip_root: draw each child as a tree of its own, without
            this node's line.
        :param width: cut longer lines to this width (ending with ``+``).
        """
        out = []
        if skip_root:
            for child in self.children:
                child._walk(out, [], "", STYLES[style], width)
        else:
            self._walk(out, [], "", STYLES[style], width)
        return out

    def _walk(self, out, stack, connector, style, width):
        label = self.label if self.count == 1 \
            else f"{self.count}*[{self.label}]"
        line = f"{self.prefix}{''.join(stack)}{connector}{label}"
        if width and len(line) > width:
            line = line[:width - 1] + "+"
        out.append(line)
        pipe, tee, elbow, blank = style
        below = stack + [blank if connector == style[2] else pipe] \
            if connector else stack
        for child in self.children:
            last = child is self.children[-1]
            child._walk(out, below, elbow if last else tee, style, width)

    def render(self, out, style="box", skip_root=False, truncate=True):
        """Write the tree to ``out``; ``truncate`` cuts lines at the
        terminal's width (132 columns when there is no terminal)."""
        width = shutil.get_terminal_size((132, 25)).columns \
            if truncate else None
        for line in self.lines(style, skip_root, width):
            out.write(line + "\n")
