"""The tools that build the book, apart from the library a reader imports: the chapter-to-package
mirror (`mirror`), the reference notebooks and notebook export (`notebooks`), and the book's Sphinx
extensions: the student edition (`student_edition`), exercises numbered by chapter
(`exercise_numbers`) and MathJax served offline (`offline_math`). They import jupytext and Sphinx,
which nothing else in the package needs.
"""
