"""The tools that build the book, apart from the library a reader imports: the chapter-to-package
mirror (`mirror`), the reference notebooks and notebook export (`notebooks`) and the student
edition's Sphinx extension (`student_edition`). They import jupytext and Sphinx, which nothing else
in the package needs.
"""
