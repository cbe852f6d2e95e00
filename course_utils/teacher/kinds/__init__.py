"""Built-in request kinds of the offline teacher: one small module per kind.

Importing this package registers every kind with `course_utils.teacher.core`. To add a kind,
write a module with a `detect(req) -> bool` and a `respond(req) -> str` joined by
`@register(...)`, and import it here.
"""

from . import chat, cot, evol, judge, json_list, magpie, self_instruct  # noqa: F401
from . import japanese  # noqa: F401  (Japanese requests: task lists, Magpie turns, answers)
