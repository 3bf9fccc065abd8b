"""Join: a student joins the teacher's class with its code (or the QR code's link) and follows the
teacher's steps on their own screen, answering each question before the reveal (issue 22)."""

from __future__ import annotations

import opening
from classroom import screens

opening.page_header(":material/groups: Join a class",
                    "Follow your teacher's lesson on your own screen, and answer its questions.")
screens.join_page()
