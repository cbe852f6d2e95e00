"""IFEval's 12 checks about form: placeholders, lists, sections, JSON, titles, start and end.

Same contract as `checks_words`: a check takes the response and the instruction's keyword
arguments under IFEval's own names and returns True when the response follows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

__all__ = ["FORMAT_CHECKS"]

# The three answers "detectable_format:constrained_response" accepts (case-sensitive).
CONSTRAINED_ANSWERS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least `num_placeholders` square-bracket placeholders such as [address]."""
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


def content_postscript(response: str, *, postscript_marker: str) -> bool:
    """A postscript starting with the marker, "P.S." or "P.P.S", anywhere (any case)."""
    marker = postscript_marker.strip()
    # The two usual markers tolerate a space after each dot ("P. S."); any other marker is
    # looked for literally. Not anchored to a line start, as in IFEval.
    if marker == "P.P.S":
        pattern = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pattern = r"p\.\s?s\."
    else:
        pattern = re.escape(marker.lower())
    return re.search(pattern, response.lower()) is not None


def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly `num_bullets` markdown bullet lines, starting with "* " or "-"."""
    # "**bold**" at a line start is not a bullet; any line starting with "-" is ("---" too).
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


def format_constrained_response(response: str) -> bool:
    """The response contains one of "My answer is yes." / "... no." / "... maybe."."""
    return any(answer in response.strip() for answer in CONSTRAINED_ANSWERS)


def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least `num_highlights` markdown highlights, *text* or **text**, each within a line."""
    # "**bold**" is one highlight: the single-star pattern only finds its two empty "**".
    single = re.findall(r"\*[^\n\*]*\*", response)
    double = re.findall(r"\*\*[^\n\*]*\*\*", response)
    found = sum(bool(h.strip("*").strip()) for h in single)
    found += sum(bool(h[2:-2].strip()) for h in double)
    return found >= num_highlights


def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least `num_sections` sections headed by the splitter word and a number ("SECTION 2")."""
    # Case-sensitive; the text before the first header is not a section.
    splitter = r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?"
    return len(re.split(splitter, response)) - 1 >= num_sections


def format_json_format(response: str) -> bool:
    """The whole response parses as JSON, optionally inside a ``` or ```json fence."""
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        if text.startswith(fence):
            text = text[len(fence):]
            break
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def format_title(response: str) -> bool:
    """A title in double angle brackets, <<like this>>, on one line and not blank."""
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


def combination_two_responses(response: str) -> bool:
    """Two different responses separated by six asterisks "******"."""
    pieces = response.split("******")
    if any(not p.strip() for p in pieces[1:-1]):  # only the ends may be empty
        return False
    answers = [p.strip() for p in pieces if p.strip()]
    return len(answers) == 2 and answers[0] != answers[1]


def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """The response starts by repeating the request word for word (case-insensitive)."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    """The response ends with the phrase (case-insensitive; closing quotes ignored)."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def startend_quotation(response: str) -> bool:
    """The whole response is wrapped in double quotation marks."""
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


FORMAT_CHECKS: dict[str, Callable[..., bool]] = {
    "detectable_content:number_placeholders": content_number_placeholders,
    "detectable_content:postscript": content_postscript,
    "detectable_format:number_bullet_lists": format_number_bullet_lists,
    "detectable_format:constrained_response": format_constrained_response,
    "detectable_format:number_highlighted_sections": format_number_highlighted_sections,
    "detectable_format:multiple_sections": format_multiple_sections,
    "detectable_format:json_format": format_json_format,
    "detectable_format:title": format_title,
    "combination:two_responses": combination_two_responses,
    "combination:repeat_prompt": combination_repeat_prompt,
    "startend:end_checker": startend_end_checker,
    "startend:quotation": startend_quotation,
}
