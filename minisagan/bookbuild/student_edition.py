"""A Sphinx extension for the student edition of the book: every exercise solution left out.

sphinx-exercise's own switch, ``hide_solutions``, crashes the build on gated solutions
(``{solution-start}`` ... ``{solution-end}``, which the book needs for code-cell solutions):
executablebooks/sphinx-exercise issue 89. This transform runs after sphinx-exercise has merged each
gated solution into one node, and removes those nodes when ``minisagan_student`` is true.
"""

from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node


class RemoveSolutions(SphinxTransform):
    default_priority = 20  # after sphinx-exercise's MergeGatedSolutions (priority 10)

    def apply(self):
        if not self.config.minisagan_student:
            return
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)


def setup(app):
    app.add_config_value("minisagan_student", False, "env")
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
