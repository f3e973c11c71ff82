"""The files a grader sends back: a student's feedback, and every student's answers in words.

A student's file (`feedback_markdown`) gives the score, one row per exercise with the checker's
sentence (an example input with the expected and the given output where the answer was wrong),
the notes on the notebook's run and the student's own answers in words, which the instructor reads
and marks by hand. `written_markdown` puts those answers side by side, by exercise, with the
flags: the answers that call the book's own function instead of doing the exercise.
"""

from .catalog import chapter_exercises


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines()) if text else "> *(no answer)*"


def feedback_markdown(row) -> str:
    """The markdown file for one student (``row``: a `classroom.Submission`)."""
    lines = [f"# Feedback for {row.student}", "", f"File: `{row.file}`", ""]
    grade = row.grade
    if grade is None:
        return "\n".join(lines + [f"Not graded: {row.problem}.", ""])
    lines += [f"Chapter {grade.chapter}: **{grade.score:g} / {grade.max_score}**", "",
              "| exercise | score | result |", "|---|---|---|"]
    lines += [f"| {e.number} | {e.score:g} / {e.max_score} | {_cell(e.message)} |" for e in grade.exercises]
    if grade.notes:
        lines += ["", "## Notes on running your notebook", ""] + [f"- {_cell(note)}" for note in grade.notes]
    questions = [e for e in chapter_exercises(grade.chapter) if e.written]
    if questions:
        lines += ["", "## Your answers in words (read by your instructor)", ""]
        for exercise in questions:
            lines += [f"### Exercise {exercise.number}: {exercise.written}", "",
                      _quoted(grade.written.get(exercise.number, "")), ""]
    return "\n".join(lines).rstrip() + "\n"


def written_markdown(rows) -> str:
    """Every student's answers in words, by exercise, and the flags, for the instructor to read."""
    graded = [row for row in rows if row.grade is not None]
    chapters = sorted({row.grade.chapter for row in graded})
    lines = ["# Answers in words and flags", ""]
    flags = [(row.student, e) for row in graded for e in row.grade.exercises if e.flag]
    if flags:
        lines += ["## Flagged answers", ""] + [f"- {student}, Exercise {e.number}: {e.flag}" for student, e in flags]
        lines.append("")
    for exercise in (e for chapter in chapters for e in chapter_exercises(chapter) if e.written):
        lines += [f"## Exercise {exercise.number}: {exercise.written}", ""]
        for row in graded:
            if row.grade.chapter == exercise.chapter:
                lines += [f"**{row.student}**", "", _quoted(row.grade.written.get(exercise.number, "")), ""]
    return "\n".join(lines).rstrip() + "\n"
